import type { Actor } from '@/lib/auth/actor';
import type { Database } from '@/lib/db';
import { checkUsageLimit, commitUsage, type CommittedUsage, type UsageLimitCheck } from '@/lib/billing/usage';
import { recordUsageEvents, type UsageEventResult } from '@/lib/billing/usage-events';
import type { CommitUsageBody } from '@/lib/billing/schemas';
import { isAppError } from '@/lib/http/errors';
import { chargeDueRecharges, startDueRecharges } from '@/lib/payments/auto-recharge';
import { createTopUpIntent } from '@/lib/payments/payment-intents';
import { MIN_CHARGE_CENTS, type PaymentIntentAnswer } from '@/lib/payments/schemas';

// Where usage meets payments: the limit check that asks for a payment when short, and the task
// runner's commits, which start and charge auto-recharges (lib/payments/auto-recharge.ts).

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
 *
 * While an auto-recharge is being charged or credited, nobody is asked to pay: the answer is not
 * allowed, requiresPayment false and rechargePending true, and the runner asks again shortly. A
 * recharge the bank held back (requires_action) needs the user, so the shortfall payment is asked
 * for as usual; the recharge's own intent is handed back when it covers the shortfall.
 */
export async function checkUsageLimitOrRequestPayment(db: Database, actor: Actor, estimatedCostMicros: number): Promise<UsageLimitAnswer> {
  let check = await checkUsageLimit(db, actor, estimatedCostMicros);
  if (!check.allowed && check.rechargeStatus === 'pending') {
    // A recharge started but not charged (Stripe failed, or the server stopped, after the commit
    // that started it): no commit may come while the user is short, so the check charges it, once
    // its lease has run out (start_auto_recharge hands it back only then), and looks again.
    const due = await startDueRecharges(db, [actor.userId]);
    if (due.length > 0) {
      await chargeDueRecharges(db, due);
      check = await checkUsageLimit(db, actor, estimatedCostMicros);
    }
  }
  if (check.allowed) return { ...check, requiresPayment: false, paymentIntent: null };
  if (check.rechargeStatus === 'pending' || check.rechargeStatus === 'processing') {
    return { ...check, requiresPayment: false, paymentIntent: null };
  }
  try {
    const paymentIntent = await createTopUpIntent(db, actor.userId, Math.max(check.shortfallCents, MIN_CHARGE_CENTS), true);
    return { ...check, requiresPayment: true, paymentIntent };
  } catch (error) {
    // Too many intents made lately: the limit check itself still answers (not allowed), without one.
    if (isAppError(error) && error.code === 'rate_limited') return { ...check, requiresPayment: true, paymentIntent: null };
    throw error;
  }
}

/** POST /api/usage/commit: records the task, then charges the auto-recharge it started, if any. */
export async function commitUsageAndRecharge(
  db: Database,
  actor: Actor,
  body: CommitUsageBody,
  maxCostMicros: number | null,
): Promise<Omit<CommittedUsage, 'dueRechargeId'>> {
  const { dueRechargeId, ...committed } = await commitUsage(db, actor, body, maxCostMicros);
  if (!dueRechargeId) return committed;
  await chargeDueRecharges(db, [dueRechargeId]);
  const { rows } = await db.query<{ status: string | null }>('select app_private.open_recharge_status($1) as status', [actor.userId]);
  return { ...committed, rechargePending: rows[0]?.status != null };
}

/** POST /api/usage/events: records the batch, then starts and charges the recharges it made due. */
export async function recordUsageEventsAndRecharge(
  db: Database,
  events: readonly unknown[],
  maxCostMicros: number | null,
): Promise<UsageEventResult[]> {
  const results = await recordUsageEvents(db, events, maxCostMicros);
  const users = results.flatMap((result, i) => (result.status === 'recorded' ? [(events[i] as { userId: string }).userId] : []));
  await chargeDueRecharges(db, await startDueRecharges(db, users));
  return results;
}
