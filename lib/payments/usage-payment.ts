import type { Actor } from '@/lib/auth/actor';
import type { Database } from '@/lib/db';
import { checkUsageLimit, type UsageLimitCheck } from '@/lib/billing/usage';
import { isAppError } from '@/lib/http/errors';
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
 * intent, or any open one that covers the new shortfall (createTopUpIntent reuses it), so polling
 * never piles up intents. The intent is capped at the largest top-up; more can be paid after.
 */
export async function checkUsageLimitOrRequestPayment(db: Database, actor: Actor, estimatedCostMicros: number): Promise<UsageLimitAnswer> {
  const check = await checkUsageLimit(db, actor, estimatedCostMicros);
  if (check.allowed) return { ...check, requiresPayment: false, paymentIntent: null };
  try {
    const paymentIntent = await createTopUpIntent(db, actor.userId, Math.max(check.shortfallCents, MIN_CHARGE_CENTS), true);
    return { ...check, requiresPayment: true, paymentIntent };
  } catch (error) {
    // Too many intents made lately: the limit check itself still answers (not allowed), without one.
    if (isAppError(error) && error.code === 'rate_limited') return { ...check, requiresPayment: true, paymentIntent: null };
    throw error;
  }
}
