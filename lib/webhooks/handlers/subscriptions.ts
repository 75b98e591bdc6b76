import type { Database, Queryable } from '@/lib/db';
import { writeAudit } from '@/lib/billing/audit';
import {
  IN_FORCE_STATUSES,
  isInForce,
  endDuplicateSubscription,
  fetchSubscription,
  syncSubscription,
  userOfSubscription,
  type SubscriptionRow,
  type SubscriptionSnapshot,
} from '@/lib/payments/subscriptions';
import type { HandlerResult } from '@/lib/webhooks/types';

// customer.subscription.created / updated / deleted (and the schedule and invoice events, which
// re-read the subscription too). The dispatcher hands over the subscription as Stripe has it
// now (re-read), not the event's snapshot, so events in any order, late or repeated, leave the
// same state; an ended subscription is never revived (syncSubscription).

/** The subscription as Stripe has it now, and whether it was just ended as a second one. */
export type CurrentSubscription = SubscriptionSnapshot & { duplicateOf?: { subscriptionId: string; refundedCents: number } };

/**
 * One subscription per user, whatever got past creation (an old unpaid invoice paid late, a
 * race): when a subscription is in force at Stripe while another one of the same user is in
 * force here (and still at Stripe), the newcomer is canceled at once and its payments refunded.
 * Network only, before the event's transaction; the transaction records it (recordSubscription).
 */
export async function endIfDuplicate(db: Database, current: SubscriptionSnapshot): Promise<CurrentSubscription> {
  const { subscription } = current;
  if (!isInForce(subscription.status)) return current;
  const userId = await userOfSubscription(db, subscription);
  if (!userId) return current;
  const { rows } = await db.query<Pick<SubscriptionRow, 'id' | 'status'>>(
    `select id, status from public.subscriptions where user_id = $1 and status = any($2::text[]) order by created_at`,
    [userId, IN_FORCE_STATUSES],
  );
  // Already the user's subscription in force here: it is the incumbent, not the newcomer.
  if (rows.some((row) => row.id === subscription.id)) return current;
  for (const other of rows) {
    const incumbent = await fetchSubscription(other.id);
    if (!isInForce(incumbent.subscription.status)) {
      // Our row was stale (it ended at Stripe): record that; the newcomer may stay.
      await db.systemTransaction((tx) => syncSubscription(tx, incumbent, 'stripe-webhook'));
      continue;
    }
    const { snapshot, refundedCents } = await endDuplicateSubscription(subscription.id);
    return { ...snapshot, duplicateOf: { subscriptionId: other.id, refundedCents } };
  }
  return current;
}

/** Brings the row in step with Stripe; audits (once) a second subscription that was ended. */
export async function recordSubscription(tx: Queryable, current: CurrentSubscription, actor: string): Promise<SubscriptionRow | null> {
  const row = await syncSubscription(tx, current, actor);
  if (row && current.duplicateOf) {
    const { rowCount } = await tx.query("select 1 from public.audit_log where action = 'subscription.duplicate_ended' and entity_id = $1", [
      row.id,
    ]);
    if (!rowCount) {
      console.warn('second subscription ended and refunded', { subscription: row.id, user: row.user_id, ...current.duplicateOf });
      await writeAudit(tx, {
        userId: row.user_id,
        actor,
        action: 'subscription.duplicate_ended',
        entityType: 'subscription',
        entityId: row.id,
        amountMicros: current.duplicateOf.refundedCents * 10_000,
        details: {
          reason: 'second_subscription',
          kept: current.duplicateOf.subscriptionId,
          refundedCents: current.duplicateOf.refundedCents,
        },
      });
    }
  }
  return row;
}

export async function onSubscriptionChanged(tx: Queryable, current: CurrentSubscription): Promise<HandlerResult> {
  const row = await recordSubscription(tx, current, 'stripe-webhook');
  return row ? { outcome: 'processed', userId: row.user_id } : { outcome: 'ignored', userId: null };
}
