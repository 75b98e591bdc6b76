import type { Database, Queryable } from '@/lib/db';
import { adoptCardThatPaid } from '@/lib/payments/recovery';
import { fetchSubscription } from '@/lib/payments/subscriptions';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { stripeCall } from '@/lib/stripe/errors';
import { subscriptionIdOfInvoice, subscriptionIdOfSchedule } from '@/lib/stripe/mapping';
import { onChargeRefunded, onDispute } from '@/lib/webhooks/handlers/charges';
import { onInvoicePaid, onInvoicePaymentFailed, onInvoiceUpdated } from '@/lib/webhooks/handlers/invoices';
import { onPaymentIntentCanceled, onPaymentIntentFailed, onPaymentIntentSucceeded } from '@/lib/webhooks/handlers/payment-intents';
import { endIfDuplicate, onSubscriptionChanged, type CurrentSubscription } from '@/lib/webhooks/handlers/subscriptions';
import type { HandlerResult } from '@/lib/webhooks/types';

// Event type -> handler. Handlers run inside the event's one database transaction. Subscription
// state is re-read from Stripe before the transaction (never inside it, so no transaction waits
// on the network): the event says *that* something changed, Stripe says what it is now.

export type Prefetched = {
  subscription: CurrentSubscription | null;
  /** A dispute's charge: Stripe's dispute names it by id only, and the customer is on the charge. */
  disputedCharge?: Stripe.Charge | null;
  /** A recovered renewal's card, made the default at Stripe (lib/payments/recovery.ts). */
  adoptedCard?: { paymentMethodId: string; previousId: string | null } | null;
};

const DISPUTE_EVENTS = new Set(['charge.dispute.created', 'charge.dispute.closed']);

const SUBSCRIPTION_EVENTS = new Set(['customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted']);
const INVOICE_EVENTS = new Set(['invoice.paid', 'invoice.payment_succeeded', 'invoice.payment_failed', 'invoice.finalized']);
const INVOICE_PAID_EVENTS = new Set(['invoice.paid', 'invoice.payment_succeeded']);
// A schedule's events re-read the subscription it manages (with the schedule expanded).
const SCHEDULE_EVENTS = new Set([
  'subscription_schedule.created',
  'subscription_schedule.updated',
  'subscription_schedule.released',
  'subscription_schedule.canceled',
  'subscription_schedule.completed',
]);

export const HANDLED_EVENT_TYPES = [
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'charge.refunded',
  'charge.dispute.created',
  'charge.dispute.closed',
  ...SUBSCRIPTION_EVENTS,
  ...INVOICE_EVENTS,
  ...SCHEDULE_EVENTS,
];

/**
 * What an event's handler needs from Stripe beyond the event itself (network, outside the
 * transaction): the subscription as it is now; a second subscription of the user that has
 * become active is ended and refunded here (endIfDuplicate), before anything is recorded; the
 * card that paid a renewal which had failed becomes the default (adoptCardThatPaid).
 */
export async function prefetch(db: Database, event: Stripe.Event): Promise<Prefetched> {
  if (DISPUTE_EVENTS.has(event.type)) {
    const dispute = event.data.object as Stripe.Dispute;
    const charge =
      typeof dispute.charge === 'string' ? await stripeCall(() => stripe().charges.retrieve(dispute.charge as string)) : dispute.charge;
    return { subscription: null, disputedCharge: charge };
  }
  let subscriptionId: string | null = null;
  if (SUBSCRIPTION_EVENTS.has(event.type)) subscriptionId = (event.data.object as Stripe.Subscription).id;
  if (INVOICE_EVENTS.has(event.type)) subscriptionId = subscriptionIdOfInvoice(event.data.object as Stripe.Invoice);
  if (SCHEDULE_EVENTS.has(event.type)) subscriptionId = subscriptionIdOfSchedule(event.data.object as Stripe.SubscriptionSchedule);
  if (!subscriptionId) return { subscription: null };
  const subscription = await endIfDuplicate(db, await fetchSubscription(subscriptionId));
  if (!INVOICE_PAID_EVENTS.has(event.type)) return { subscription };
  return { subscription, adoptedCard: await adoptCardThatPaid(db, event.data.object as Stripe.Invoice, subscription.subscription) };
}

export function needsPrefetch(event: Stripe.Event): boolean {
  return (
    SUBSCRIPTION_EVENTS.has(event.type) ||
    INVOICE_EVENTS.has(event.type) ||
    SCHEDULE_EVENTS.has(event.type) ||
    DISPUTE_EVENTS.has(event.type)
  );
}

export async function dispatch(tx: Queryable, event: Stripe.Event, fetched: Prefetched): Promise<HandlerResult> {
  const created = new Date(event.created * 1000);
  switch (event.type) {
    case 'payment_intent.succeeded':
      return onPaymentIntentSucceeded(tx, event.data.object, created);
    case 'payment_intent.payment_failed':
      return onPaymentIntentFailed(tx, event.data.object, event.id);
    case 'payment_intent.canceled':
      return onPaymentIntentCanceled(tx, event.data.object);
    case 'charge.refunded':
      return onChargeRefunded(tx, event.data.object, event.id);
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
      return onDispute(tx, event.data.object, fetched.disputedCharge ?? null, event.id, created);
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted':
      return onSubscriptionChanged(tx, fetched.subscription ?? { subscription: event.data.object, fetchedAt: created });
    case 'subscription_schedule.created':
    case 'subscription_schedule.updated':
    case 'subscription_schedule.released':
    case 'subscription_schedule.canceled':
    case 'subscription_schedule.completed':
      return fetched.subscription ? onSubscriptionChanged(tx, fetched.subscription) : { outcome: 'ignored', userId: null };
    case 'invoice.paid':
    case 'invoice.payment_succeeded':
      return onInvoicePaid(tx, event.data.object, fetched.subscription, fetched.adoptedCard ?? null);
    case 'invoice.payment_failed':
      return onInvoicePaymentFailed(tx, event.data.object, fetched.subscription);
    case 'invoice.finalized':
      return onInvoiceUpdated(tx, event.data.object, fetched.subscription);
    default:
      return { outcome: 'ignored', userId: null };
  }
}

/**
 * An event for the current state of a Stripe object that no webhook brought (reconcile heals
 * drift through `dispatch` with it, the same entry as the webhooks). Never stored in the inbox.
 */
export function currentStateEvent<T extends Stripe.Event['type']>(
  type: T,
  object: Extract<Stripe.Event, { type: T }>['data']['object'] & { id: string },
  created: number,
): Stripe.Event {
  const event = {
    id: `reconcile_${object.id}`,
    object: 'event',
    type,
    created,
    data: { object },
    livemode: false,
    api_version: null,
    pending_webhooks: 0,
    request: { id: null, idempotency_key: null },
  };
  // The union member for `type` is picked by `type`; TypeScript cannot follow that through the generic.
  return event as unknown as Stripe.Event;
}
