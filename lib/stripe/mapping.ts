import type { PlanId } from '@/lib/billing/plans';
import { env } from '@/lib/env';
import type { Stripe } from '@/lib/stripe/client';

// The one place that maps Stripe's objects to ours: ids that may come expanded, the plan of a
// price, the subscription of an invoice, the period an invoice bills. Handlers and lib code use
// these instead of unwrapping Stripe's shapes themselves (a test checks `customer`).

type Ref = string | { id: string } | null | undefined;

/** The id of a field that is an id, or an expanded object, or absent. */
export function idOf(ref: Ref): string | null {
  if (!ref) return null;
  return typeof ref === 'string' ? ref : ref.id;
}

/** The customer id of any Stripe object that has a `customer`. */
export function customerIdOf(object: { customer?: Ref }): string | null {
  return idOf(object.customer);
}

/** The monthly Price of each plan (from env; the local Stripe seeds the same ids). */
export function priceIdOf(planId: PlanId): string {
  const config = env();
  return { starter: config.STRIPE_STARTER_PRICE_ID, pro: config.STRIPE_PRO_PRICE_ID, enterprise: config.STRIPE_ENTERPRISE_PRICE_ID }[
    planId
  ];
}

/** The plan a Price is the monthly price of, or null for any other price. */
export function planIdOfPrice(priceId: Ref): PlanId | null {
  const id = idOf(priceId);
  if (!id) return null;
  for (const planId of ['starter', 'pro', 'enterprise'] as const) if (priceIdOf(planId) === id) return planId;
  return null;
}

/** The plan of a subscription (its first item's price), or null when it is not one of ours. */
export function planIdOfSubscription(subscription: Stripe.Subscription): PlanId | null {
  return planIdOfPrice(subscription.items.data[0]?.price.id);
}

/** The subscription an invoice bills (basil and later: `parent.subscription_details`). */
export function subscriptionIdOfInvoice(invoice: Stripe.Invoice): string | null {
  return idOf(invoice.parent?.subscription_details?.subscription);
}

/** The period the invoice bills for its subscription item (not a proration line), in seconds. */
export function billedPeriod(invoice: Stripe.Invoice): { start: number; end: number } | null {
  const line = invoice.lines.data.find(
    (entry) => entry.parent?.subscription_item_details && !entry.parent.subscription_item_details.proration,
  );
  return line?.period ?? null;
}

/** The PaymentIntents that paid an invoice (when `payments` is present, e.g. expanded). */
export function paymentIntentIdsOfInvoice(invoice: Stripe.Invoice): string[] {
  return (invoice.payments?.data ?? [])
    .filter((payment) => payment.status === 'paid')
    .map((payment) => idOf(payment.payment.payment_intent))
    .filter((id): id is string => id !== null);
}

/** The subscription a schedule manages, or released (null when it has none). */
export function subscriptionIdOfSchedule(schedule: Stripe.SubscriptionSchedule): string | null {
  return idOf(schedule.subscription) ?? schedule.released_subscription;
}

/** Stripe's seconds as a Date (null stays null). */
export const dateOf = (seconds: number | null | undefined): Date | null => (seconds ? new Date(seconds * 1000) : null);

const OPEN_SCHEDULE_STATUSES: ReadonlySet<string> = new Set(['active', 'not_started']);

/**
 * The plan change a subscription's schedule will make at the end of its running phase (our
 * downgrades at period end), when the schedule is expanded, open, and its next phase is another
 * plan. `undefined` when the schedule is named but not expanded (unknown here).
 */
export function scheduledPlanChange(subscription: Stripe.Subscription): { planId: PlanId; at: Date } | null | undefined {
  const schedule = subscription.schedule;
  if (!schedule) return null;
  if (typeof schedule === 'string') return undefined;
  if (!OPEN_SCHEDULE_STATUSES.has(schedule.status) || !schedule.current_phase) return null;
  const next = schedule.phases.find((phase) => phase.start_date === schedule.current_phase?.end_date);
  const planId = planIdOfPrice(next?.items[0]?.price);
  if (!next || !planId || planId === planIdOfSubscription(subscription)) return null;
  return { planId, at: new Date(next.start_date * 1000) };
}
