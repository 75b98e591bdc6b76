import { z } from 'zod';
import { dollarAmountToCents } from '@/lib/billing/money';
import { MAX_TOP_UP_DOLLARS, MIN_CHARGE_CENTS } from '@/lib/payments/schemas';

// Auto-recharge settings (PUT /api/payments/auto-recharge and the dashboard's form, which parses
// its fields with formDollars first): "when my remaining balance falls below threshold, add
// amount with my default card, at most monthlyCap a month". Dollars with at most two decimals,
// converted exactly to cents; unknown fields are refused.

export const MAX_AUTO_RECHARGE_CAP_DOLLARS = 100_000;

export const setAutoRechargeBodySchema = z
  .strictObject({
    enabled: z.boolean({ error: 'enabled must be true or false' }),
    threshold: dollarAmountToCents({ min: 0, max: MAX_AUTO_RECHARGE_CAP_DOLLARS, name: 'threshold' }),
    amount: dollarAmountToCents({ min: MIN_CHARGE_CENTS / 100, max: MAX_TOP_UP_DOLLARS, name: 'amount' }),
    monthlyCap: dollarAmountToCents({ min: MIN_CHARGE_CENTS / 100, max: MAX_AUTO_RECHARGE_CAP_DOLLARS, name: 'monthlyCap' }),
  })
  .refine((body) => body.monthlyCap >= body.amount, {
    error: 'monthlyCap must be at least the amount of one recharge',
    path: ['monthlyCap'],
  });

/** Cents, after parsing (the fields keep their names). */
export type SetAutoRechargeBody = z.output<typeof setAutoRechargeBodySchema>;

export const autoRechargeStatusSchema = z.enum(['pending', 'processing', 'requires_action', 'succeeded', 'failed', 'canceled']);

export const autoRechargeAnswerSchema = z.object({
  enabled: z.boolean(),
  thresholdCents: z.int(),
  amountCents: z.int(),
  monthlyCapCents: z.int(),
  /** What this calendar month's recharges (open or succeeded) add up to, against the cap. */
  thisMonthCents: z.int(),
  declinesInARow: z.int(),
  /** Why it is off other than by the switch: three declines in a row, no card, a disputed recharge, a cancelled one. */
  disabledReason: z.enum(['declined', 'no_card', 'disputed', 'canceled']).nullable(),
  /** The recharge on its way, if any (requires_action: the user must confirm it). */
  openRecharge: z
    .object({
      id: z.string(),
      status: autoRechargeStatusSchema,
      amountCents: z.int(),
      createdAt: z.string(),
    })
    .nullable(),
});
export type AutoRechargeAnswer = z.infer<typeof autoRechargeAnswerSchema>;

export const autoRechargeIdSchema = z.uuid({ error: 'That recharge id is not valid' });
