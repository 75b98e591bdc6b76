import { z } from 'zod';
import { dollarAmountToCents } from '@/lib/billing/money';
import { PLAN_IDS } from '@/lib/billing/plans';
import { cleanText } from '@/lib/http/clean-text';

// Request and answer schemas of the payments API, shared by route handlers, server actions and
// tests. Requests reject unknown fields; answers are parsed on the way out so no column leaks.

/** Stripe's smallest card charge in USD, and our upper bound on a single top-up. */
export const MIN_CHARGE_CENTS = 50;
export const MAX_TOP_UP_DOLLARS = 10_000;

export const planIdSchema = z.enum(PLAN_IDS, { error: 'planId must be one of starter, pro, enterprise' });

export const createCustomerBodySchema = z.strictObject({
  email: cleanText('email', 'email must be an email address').pipe(
    z.email({ error: 'email must be an email address' }).max(254, { error: 'email must be at most 254 characters' }),
  ),
  name: cleanText('name', 'name must be text')
    .trim()
    .min(1, { error: 'name must not be empty' })
    .max(200, { error: 'name must be at most 200 characters' })
    .optional(),
});

export const createPaymentIntentBodySchema = z.strictObject({
  amount: dollarAmountToCents({ min: MIN_CHARGE_CENTS / 100, max: MAX_TOP_UP_DOLLARS, name: 'amount' }),
});

export const createSubscriptionBodySchema = z.strictObject({ planId: planIdSchema });

export const updateSubscriptionBodySchema = z
  .strictObject({
    planId: planIdSchema.optional(),
    cancelAtPeriodEnd: z.boolean({ error: 'cancelAtPeriodEnd must be true or false' }).optional(),
  })
  .refine((body) => body.planId !== undefined || body.cancelAtPeriodEnd !== undefined, {
    error: 'Give planId to change plan, or cancelAtPeriodEnd',
  });

const booleanParam = (name: string) =>
  z.enum(['true', 'false'], { error: `${name} must be true or false` }).transform((value) => value === 'true');

export const cancelSubscriptionQuerySchema = z.strictObject({ immediately: booleanParam('immediately').default(false) });

export const upgradePlanBodySchema = z.strictObject({
  planId: planIdSchema,
  /** Only compute what the change would cost now; change nothing. */
  previewOnly: z.boolean({ error: 'previewOnly must be true or false' }).default(false),
});

export const getHistoryQuerySchema = z.strictObject({
  limit: z.coerce
    .number({ error: 'limit must be a whole number between 1 and 100' })
    .int({ error: 'limit must be a whole number between 1 and 100' })
    .min(1, { error: 'limit must be a whole number between 1 and 100' })
    .max(100, { error: 'limit must be a whole number between 1 and 100' })
    .default(10),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/, { error: 'cursor is not valid' })
    .optional(),
});

export const subscriptionParamsSchema = z.strictObject({
  subscriptionId: z.string().regex(/^sub_[A-Za-z0-9_]{1,250}$/, { error: 'subscriptionId is not valid' }),
});

export type CreateCustomerBody = z.infer<typeof createCustomerBodySchema>;
export type UpdateSubscriptionBody = z.infer<typeof updateSubscriptionBodySchema>;
export type UpgradePlanBody = z.infer<typeof upgradePlanBodySchema>;
export type GetHistoryQuery = z.infer<typeof getHistoryQuerySchema>;

// ---- answers ------------------------------------------------------------------------------

export const paymentIntentAnswerSchema = z.object({
  id: z.string(),
  clientSecret: z.string(),
  amountCents: z.int(),
  amount: z.number(),
  status: z.string(),
  reused: z.boolean(),
});
export type PaymentIntentAnswer = z.infer<typeof paymentIntentAnswerSchema>;

export const subscriptionAnswerSchema = z.object({
  subscriptionId: z.string(),
  planId: planIdSchema,
  status: z.string(),
  clientSecret: z.string().nullable(),
  currentPeriodStart: z.string(),
  currentPeriodEnd: z.string(),
  cancelAtPeriodEnd: z.boolean(),
  /** A downgrade waiting for the end of the period (undo: PUT the current planId). */
  scheduledChange: z.object({ planId: planIdSchema, effectiveAt: z.string() }).nullable(),
});
export type SubscriptionAnswer = z.infer<typeof subscriptionAnswerSchema>;

export const prorationPreviewSchema = z.object({
  fromPlanId: planIdSchema,
  toPlanId: planIdSchema,
  /** What the change charges now (negative: a credit towards the next invoice). */
  amountDueNowCents: z.int(),
  prorationDate: z.string(),
  /** When the change takes effect: null for at once (upgrades), the period end for a downgrade. */
  effectiveAt: z.string().nullable(),
  lines: z.array(z.object({ description: z.string(), amountCents: z.int() })),
});
export type ProrationPreview = z.infer<typeof prorationPreviewSchema>;
