import type { Database } from '@/lib/db';
import { chargeStalePendingRecharges } from '@/lib/payments/auto-recharge';
import { TOP_UP_PURPOSE } from '@/lib/payments/payment-intents';
import { userOfSubscription } from '@/lib/payments/subscriptions';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { stripeCall } from '@/lib/stripe/errors';
import { HANDLED_EVENT_TYPES, currentStateEvent, dispatch } from '@/lib/webhooks/dispatcher';
import { endIfDuplicate } from '@/lib/webhooks/handlers/subscriptions';
import { processEvent } from '@/lib/webhooks/inbox';

// `npm run reconcile`: compares local state with Stripe and heals drift, idempotently (a second
// run changes nothing). In order:
//   1. customers with our user id in their metadata are linked to users missing one;
//   2. events Stripe sent since `since` that the inbox never finished are processed now;
//   3. every subscription is brought in step with Stripe;
//   4. top-up PaymentIntents that succeeded or were canceled are applied if still pending;
//   5. auto-recharges started but never charged (the server stopped between a commit and its
//      charge) are charged now, under their own idempotency keys.
// Steps 3 and 4 run the webhooks' own handlers through the dispatcher (`dispatch` with the
// object's current state), so a healed object ends exactly as its webhook would have left it.
// Reports what it changed; objects it cannot match to a user are counted, not touched.

export interface ReconcileReport {
  eventsProcessed: number;
  eventsFailed: number;
  customersLinked: number;
  subscriptionsHealed: number;
  paymentsHealed: number;
  rechargesCharged: number;
  unmatched: number;
}

async function replayMissedEvents(db: Database, since: Date, report: ReconcileReport) {
  const params: Stripe.EventListParams = { created: { gte: Math.floor(since.getTime() / 1000) }, types: HANDLED_EVENT_TYPES, limit: 100 };
  const events: Stripe.Event[] = [];
  await stripeCall(async () => {
    for await (const event of stripe().events.list(params)) events.push(event);
  });
  const { rows } = await db.query<{ id: string }>(
    "select id from public.webhook_events where id = any($1::text[]) and status in ('processed', 'ignored')",
    [events.map((event) => event.id)],
  );
  const done = new Set(rows.map((row) => row.id));
  // Oldest first, as Stripe would have sent them.
  for (const event of events.filter((candidate) => !done.has(candidate.id)).sort((a, b) => a.created - b.created)) {
    try {
      const answer = await processEvent(db, event);
      if (answer.outcome !== 'duplicate') report.eventsProcessed++;
    } catch {
      report.eventsFailed++;
    }
  }
}

async function linkCustomers(db: Database, report: ReconcileReport) {
  await stripeCall(async () => {
    for await (const customer of stripe().customers.list({ limit: 100 })) {
      const userId = customer.metadata?.userId;
      if (!userId || !/^[0-9a-f-]{36}$/i.test(userId)) continue;
      const { rowCount } = await db.query('update public.users set stripe_customer_id = $2 where id = $1 and stripe_customer_id is null', [
        userId,
        customer.id,
      ]);
      report.customersLinked += rowCount ?? 0;
    }
  });
}

const SUBSCRIPTION_FIELDS =
  'plan_id, status, cancel_at_period_end, canceled_at, ended_at, stripe_item_id, scheduled_plan_id, scheduled_change_at';

async function healSubscriptions(db: Database, report: ReconcileReport) {
  const subscriptions: Stripe.Subscription[] = [];
  // Every snapshot is as old as the listing: a webhook handled meanwhile with fresher data wins.
  const fetchedAt = new Date();
  await stripeCall(async () => {
    for await (const subscription of stripe().subscriptions.list({ status: 'all', limit: 100, expand: ['data.schedule'] }))
      subscriptions.push(subscription);
  });
  for (const listed of subscriptions) {
    // A second subscription of a user is ended and refunded here too (as the webhooks do).
    const current = await endIfDuplicate(db, { subscription: listed, fetchedAt });
    const { subscription } = current;
    const changed = await db.systemTransaction(async (tx) => {
      if (!(await userOfSubscription(tx, subscription))) return null;
      const before = await tx.query(`select ${SUBSCRIPTION_FIELDS} from public.subscriptions where id = $1`, [subscription.id]);
      await dispatch(tx, currentStateEvent('customer.subscription.updated', subscription, subscription.created), { subscription: current });
      const after = await tx.query(`select ${SUBSCRIPTION_FIELDS} from public.subscriptions where id = $1`, [subscription.id]);
      return JSON.stringify(before.rows) !== JSON.stringify(after.rows);
    });
    if (changed === null) report.unmatched++;
    else if (changed) report.subscriptionsHealed++;
  }
}

async function healPayments(db: Database, since: Date, report: ReconcileReport) {
  const intents: Stripe.PaymentIntent[] = [];
  await stripeCall(async () => {
    for await (const intent of stripe().paymentIntents.list({ created: { gte: Math.floor(since.getTime() / 1000) }, limit: 100 })) {
      if (intent.metadata?.purpose === TOP_UP_PURPOSE && (intent.status === 'succeeded' || intent.status === 'canceled'))
        intents.push(intent);
    }
  });
  for (const intent of intents) {
    const healed = await db.systemTransaction(async (tx) => {
      const { rows } = await tx.query<{ status: string; credited: boolean }>(
        `select a.status, exists (select 1 from public.credit_grants c where c.source = 'payment_intent' and c.source_id = $1) as credited
         from public.payment_attempts a where a.payment_intent_id = $1`,
        [intent.id],
      );
      const attempt = rows[0];
      if (intent.status === 'succeeded') {
        if (attempt?.status === 'succeeded' && attempt.credited) return false;
        return (
          (await dispatch(tx, currentStateEvent('payment_intent.succeeded', intent, intent.created), { subscription: null })).outcome ===
          'processed'
        );
      }
      if (!attempt || attempt.status === 'canceled' || attempt.status === 'succeeded') return false;
      return (
        (await dispatch(tx, currentStateEvent('payment_intent.canceled', intent, intent.created), { subscription: null })).outcome ===
        'processed'
      );
    });
    if (healed) report.paymentsHealed++;
  }
}

export async function reconcile(db: Database, since: Date): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    eventsProcessed: 0,
    eventsFailed: 0,
    customersLinked: 0,
    subscriptionsHealed: 0,
    paymentsHealed: 0,
    rechargesCharged: 0,
    unmatched: 0,
  };
  await linkCustomers(db, report);
  await replayMissedEvents(db, since, report);
  await healSubscriptions(db, report);
  await healPayments(db, since, report);
  report.rechargesCharged = await chargeStalePendingRecharges(db);
  return report;
}
