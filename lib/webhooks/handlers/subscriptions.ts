import type { Queryable } from '@/lib/db';
import { syncSubscription, type SubscriptionSnapshot } from '@/lib/payments/subscriptions';
import type { HandlerResult } from '@/lib/webhooks/types';

// customer.subscription.created / updated / deleted. The dispatcher hands over the subscription
// as Stripe has it now (re-read), not the event's snapshot, so events in any order, late or
// repeated, leave the same state; an ended subscription is never revived (syncSubscription).
export async function onSubscriptionChanged(tx: Queryable, current: SubscriptionSnapshot): Promise<HandlerResult> {
  const row = await syncSubscription(tx, current, 'stripe-webhook');
  return row ? { outcome: 'processed', userId: row.user_id } : { outcome: 'ignored', userId: null };
}
