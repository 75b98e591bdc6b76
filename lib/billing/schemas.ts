import { z } from 'zod';
import { dollarAmountToMicros } from '@/lib/billing/money';
import { cleanText } from '@/lib/http/clean-text';

// Request schemas of the usage API, shared by route handlers and tests. Unknown fields are
// rejected so a typo (`estimated_cost`) is an error rather than a silently ignored value.

const idempotencyKeySchema = cleanText('idempotencyKey', 'idempotencyKey is required')
  .min(1, { error: 'idempotencyKey is required' })
  .max(255, { error: 'idempotencyKey must be at most 255 characters' });

// AI tasks cost fractions of a cent, so estimates take up to six decimals (micro-dollars).
const estimatedCostSchema = dollarAmountToMicros({ maxDecimals: 6, min: 0, max: 10_000, name: 'estimatedCost' });

export const checkUsageLimitBodySchema = z.strictObject({ estimatedCost: estimatedCostSchema });

export const reserveUsageBodySchema = z.strictObject({
  estimatedCost: dollarAmountToMicros({ maxDecimals: 6, min: 0.000001, max: 10_000, name: 'estimatedCost' }),
  idempotencyKey: idempotencyKeySchema,
});

export const commitUsageBodySchema = z.strictObject({
  reservationId: z.uuid({ error: 'reservationId must be a UUID' }).optional(),
  agent: cleanText('agent', 'agent is required')
    .trim()
    .min(1, { error: 'agent is required' })
    .max(100, { error: 'agent must be at most 100 characters' }),
  tokens: z
    .int({ error: 'tokens must be a whole number' })
    .min(0, { error: 'tokens must be between 0 and 1000000000' })
    .max(1_000_000_000, { error: 'tokens must be between 0 and 1000000000' }),
  // At most a day of execution per task.
  executionMs: z
    .int({ error: 'executionMs must be a whole number' })
    .min(0, { error: 'executionMs must be between 0 and 86400000' })
    .max(86_400_000, { error: 'executionMs must be between 0 and 86400000' }),
  idempotencyKey: idempotencyKeySchema,
});

export const releaseUsageBodySchema = z.strictObject({
  reservationId: z.uuid({ error: 'reservationId must be a UUID' }),
});

export type CheckUsageLimitBody = z.infer<typeof checkUsageLimitBodySchema>;
export type ReserveUsageBody = z.infer<typeof reserveUsageBodySchema>;
export type CommitUsageBody = z.infer<typeof commitUsageBodySchema>;
export type ReleaseUsageBody = z.infer<typeof releaseUsageBodySchema>;
