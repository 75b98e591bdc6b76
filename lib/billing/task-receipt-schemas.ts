import { z } from 'zod';
import { cleanText } from '@/lib/http/clean-text';

// Query of the task receipts (GET /api/payments/tasks, its CSV export, the /billing/tasks page):
// which tasks (a usage period, or the payment behind them), narrowed by agent and by date.

const day = (name: string) =>
  z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, { error: `${name} must be a date as YYYY-MM-DD` })
    .refine(
      (value) => {
        const date = new Date(`${value}T00:00:00Z`);
        return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
      },
      { error: `${name} must be a real calendar date` },
    );

const emptyAsMissing = (value: unknown) => (value === '' ? undefined : value);

export const taskScopeFields = {
  /** A usage period, by its start (the dashboard's "This period"). */
  period: z.preprocess(emptyAsMissing, z.iso.datetime({ offset: true, error: 'period must be the start of a usage period' }).optional()),
  /** A payment: a top-up's PaymentIntent (pi_…) or a subscription invoice (in_…). */
  payment: z.preprocess(
    emptyAsMissing,
    z
      .string()
      .regex(/^(pi|in)_[A-Za-z0-9_]{1,250}$/, { error: 'payment must be a payment (pi_…) or an invoice (in_…) id' })
      .optional(),
  ),
  agent: z.preprocess(
    emptyAsMissing,
    cleanText('agent')
      .trim()
      .min(1, { error: 'agent must not be empty' })
      .max(100, { error: 'agent must be at most 100 characters' })
      .optional(),
  ),
  from: z.preprocess(emptyAsMissing, day('from').optional()),
  to: z.preprocess(emptyAsMissing, day('to').optional()),
};

function scopeRules<T extends { period?: string; payment?: string; from?: string; to?: string }>(query: T, ctx: z.RefinementCtx) {
  if (query.period && query.payment) ctx.addIssue({ code: 'custom', path: ['payment'], message: 'Give a period or a payment, not both' });
  if (query.from && query.to && query.from > query.to)
    ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must not be before from' });
}

export const getTaskReceiptsQuerySchema = z
  .strictObject({
    ...taskScopeFields,
    limit: z.coerce
      .number({ error: 'limit must be a whole number between 1 and 100' })
      .int({ error: 'limit must be a whole number between 1 and 100' })
      .min(1, { error: 'limit must be a whole number between 1 and 100' })
      .max(100, { error: 'limit must be a whole number between 1 and 100' })
      .default(25),
    cursor: z.preprocess(
      emptyAsMissing,
      z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,200}$/, { error: 'cursor is not valid' })
        .optional(),
    ),
  })
  .superRefine(scopeRules);

export const exportTaskReceiptsQuerySchema = z.strictObject(taskScopeFields).superRefine(scopeRules);

export type GetTaskReceiptsQuery = z.infer<typeof getTaskReceiptsQuerySchema>;
export type TaskReceiptsFilter = z.infer<typeof exportTaskReceiptsQuerySchema>;
