import type { Queryable } from '@/lib/db';
import { fetchSubscription, type SubscriptionSnapshot } from '@/lib/payments/subscriptions';
import type { Stripe } from '@/lib/stripe/client';
import { onInvoicePaid, onInvoicePaymentFailed, onInvoiceUpdated, subscriptionIdOf } from '@/lib/webhooks/handlers/invoices';
import { onChargeRefunded, onDispute } from '@/lib/webhooks/handlers/charges';
import { onPaymentIntentCanceled, onPaymentIntentFailed } from '@/lib/webhooks/handlers/payment-intents';
import { onSubscriptionChanged } from '@/lib/webhooks/handlers/subscriptions';
import type { HandlerResult } from '@/lib/webhooks/types';

// Event type -> handler. Handlers run inside the event's one database transaction. Subscription
// state is re-read from Stripe before the transaction (never inside it, so no transaction waits
// on the network): the event says *that* something changed, Stripe says what it is now.

export type Prefetched = { subscription: SubscriptionSnapshot | null };

const SUBSCRIPTION_EVENTS = new Set(['customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted']);
const INVOICE_EVENTS = new Set(['invoice.paid', 'invoice.payment_succeeded', 'invoice.payment_failed', 'invoice.finalized']);

export const HANDLED_EVENT_TYPES = [
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'charge.refunded',
  'charge.dispute.created',
  'charge.dispute.closed',
  ...SUBSCRIPTION_EVENTS,
  ...INVOICE_EVENTS,
];

/** What an event's handler needs from Stripe beyond the event itself (network, outside the transaction). */
export async function prefetch(event: Stripe.Event): Promise<Prefetched> {
  let subscriptionId: string | null = null;
  if (SUBSCRIPTION_EVENTS.has(event.type)) subscriptionId = (event.data.object as Stripe.Subscription).id;
  if (INVOICE_EVENTS.has(event.type)) subscriptionId = subscriptionIdOf(event.data.object as Stripe.Invoice);
  if (!subscriptionId) return { subscription: null };
  return { subscription: await fetchSubscription(subscriptionId) };
}

export function needsPrefetch(event: Stripe.Event): boolean {
  return SUBSCRIPTION_EVENTS.has(event.type) || INVOICE_EVENTS.has(event.type);
}

export async function dispatch(tx: Queryable, event: Stripe.Event, fetched: Prefetched): Promise<HandlerResult> {
  const created = new Date(event.created * 1000);
  switch (event.type) {
    // payment_intent.succeeded never gets here: processEvent (inbox.ts) handles it in one
    // statement, claim included (app_private.process_top_up_succeeded).
    case 'payment_intent.payment_failed':
      return onPaymentIntentFailed(tx, event.data.object, event.id);
    case 'payment_intent.canceled':
      return onPaymentIntentCanceled(tx, event.data.object);
    case 'charge.refunded':
      return onChargeRefunded(tx, event.data.object, event.id);
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
      return onDispute(tx, event.data.object, event.id, created);
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted':
      return onSubscriptionChanged(tx, fetched.subscription ?? { subscription: event.data.object, fetchedAt: created });
    case 'invoice.paid':
    case 'invoice.payment_succeeded':
      return onInvoicePaid(tx, event.data.object, fetched.subscription);
    case 'invoice.payment_failed':
      return onInvoicePaymentFailed(tx, event.data.object, fetched.subscription);
    case 'invoice.finalized':
      return onInvoiceUpdated(tx, event.data.object, fetched.subscription);
    default:
      return { outcome: 'ignored', userId: null };
  }
}

