import type { Actor } from '@/lib/auth/actor';
import type { Database } from '@/lib/db';
import { checkUsageLimit, type UsageLimitCheck } from '@/lib/billing/usage';
import { createTopUpIntent } from '@/lib/payments/payment-intents';
import { MIN_CHARGE_CENTS, type PaymentIntentAnswer } from '@/lib/payments/schemas';

export interface UsageLimitAnswer extends UsageLimitCheck {
  requiresPayment: boolean;
  /** A PaymentIntent for the shortfall (at least Stripe's minimum charge) when short. */
  paymentIntent: PaymentIntentAnswer | null;
}

/**
 * POST /api/payments/check-usage-limit: whether a task fits, and when it does not, a payment for
 * the shortfall to show the user. Asking again while that payment is open hands back the same
 * intent (createTopUpIntent reuses it), so polling never piles up intents.
 */
export async function checkUsageLimitOrRequestPayment(db: Database, actor: Actor, estimatedCostMicros: number): Promise<UsageLimitAnswer> {
  const check = await checkUsageLimit(db, actor, estimatedCostMicros);
  if (check.allowed) return { ...check, requiresPayment: false, paymentIntent: null };
  const paymentIntent = await createTopUpIntent(db, actor.userId, Math.max(check.shortfallCents, MIN_CHARGE_CENTS));
  return { ...check, requiresPayment: true, paymentIntent };
}
