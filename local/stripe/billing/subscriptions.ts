import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { StripeApiError, invalidRequest, missingParam, resourceMissing } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata, type Params } from '../core/params.js';
import { addIntervals, type Interval } from '../core/time.js';
import { declineFor } from '../cards.js';
import { planOf, productName, requirePrice } from '../resources/catalog.js';
import { diff, requireCustomer } from '../resources/customers.js';
import { cardBehaviour, cardError } from '../resources/payment-methods.js';
import type { ConfirmResult } from '../resources/payment-intents.js';
import {
  buildInvoice,
  createPendingItem,
  finalizeInvoice,
  itemLine,
  pendingItemLines,
  periodLineDescription,
  prorationDescription,
  type LineInput,
} from './invoices.js';
import { MAX_ATTEMPTS, attemptInvoicePayment, ensureInvoiceIntent, markInvoicePaid, voidInvoice } from './invoice-payments.js';
import { currentPeriod, planItemChange, type PlannedItem } from './proration.js';
import { assertCancellationAllowed, endScheduleOf } from './schedules.js';
import {
  applyPauseCollection,
  collectionPause,
  endTrial,
  requestedTrialEnd,
  sendTrialWillEnd,
  startTrial,
  trialSettings,
  trialWillEndAt,
} from './trials.js';

export function requireSubscription(engine: Engine, id: string, param = 'id'): Stripe.Subscription {
  const sub = engine.state.subscriptions[id];
  if (!sub) throw resourceMissing('subscription', id, param);
  return sub;
}

function customerId(sub: Stripe.Subscription): string {
  return typeof sub.customer === 'string' ? sub.customer : sub.customer.id;
}

function intervalOf(price: Stripe.Price): { interval: Interval; count: number } {
  const r = price.recurring;
  return { interval: (r?.interval ?? 'month') as Interval, count: r?.interval_count ?? 1 };
}

function buildItem(engine: Engine, subId: string, p: PlannedItem, period: { start: number; end: number }): Stripe.SubscriptionItem {
  return {
    id: p.id,
    object: 'subscription_item',
    billing_thresholds: null,
    created: period.start,
    current_period_end: period.end,
    current_period_start: period.start,
    current_trial: null,
    discounts: [],
    metadata: p.metadata,
    plan: planOf(p.price),
    price: engine.render(p.price),
    quantity: p.quantity,
    subscription: subId,
    tax_rates: [],
  };
}

/** A full period of each item, as billed on creation and on each renewal. */
function periodLines(engine: Engine, sub: Stripe.Subscription, period: { start: number; end: number }): LineInput[] {
  return sub.items.data.map((item) => ({
    amount: (item.price.unit_amount ?? 0) * (item.quantity ?? 1),
    description: periodLineDescription(engine, item.price, item.quantity ?? 1),
    period,
    price: item.price,
    quantity: item.quantity ?? 1,
    proration: false,
    subscription: sub.id,
    subscriptionItem: item.id,
    invoiceItem: null,
  }));
}

/** `add_invoice_items[n][price|quantity]`: invoice items of one-time prices for the subscription's next invoice. */
function addInvoiceItems(engine: Engine, p: Params, customer: Stripe.Customer, sub: Stripe.Subscription): Stripe.InvoiceItem[] {
  return (p.list('add_invoice_items') ?? []).map((ip, n) => {
    ip.only(['price', 'quantity', 'metadata']);
    const price = requirePrice(engine, ip.reqStr('price'), `add_invoice_items[${n}][price]`);
    if (price.recurring) {
      throw invalidRequest('add_invoice_items accepts only prices with type=one_time.', { param: `add_invoice_items[${n}][price]` });
    }
    const quantity = ip.int('quantity') ?? 1;
    const now = engine.now(customer.id);
    return createPendingItem(engine, customer, {
      amount: (price.unit_amount ?? 0) * quantity,
      description: `${quantity} × ${productName(engine, price)}`,
      period: { start: now, end: now },
      price,
      quantity,
      proration: false,
      subscription: sub.id,
      subscriptionItem: null,
      invoiceItem: null,
    });
  });
}

function trialLines(engine: Engine, sub: Stripe.Subscription): LineInput[] {
  return periodLines(engine, sub, currentPeriod(sub)).map((l) => ({
    ...l,
    amount: 0,
    description: `Trial period for ${l.price ? productName(engine, l.price) : 'subscription'}`,
  }));
}

/** The default card must belong to the customer. */
function attachedPaymentMethod(engine: Engine, customer: string, id: string, param: string): string {
  const pm = engine.state.paymentMethods[id];
  if (!pm || pm.customer !== customer) {
    throw invalidRequest(
      `The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`,
      { code: 'resource_missing', param },
    );
  }
  return pm.id;
}

function emitUpdated(engine: Engine, sub: Stripe.Subscription, before: Stripe.Subscription): void {
  const prev = diff(before, sub);
  if (Object.keys(prev).length > 0) engine.emit('customer.subscription.updated', sub, prev);
}

const CREATE_PARAMS = [
  'customer',
  'items',
  'payment_behavior',
  'payment_settings',
  'default_payment_method',
  'metadata',
  'description',
  'expand',
  'collection_method',
  'cancel_at_period_end',
  'off_session',
  'proration_behavior',
  'currency',
  'trial_period_days',
  'trial_end',
  'trial_settings',
  'trial_from_plan',
  'cancel_at',
  'default_tax_rates',
  'pending_invoice_item_interval',
  'automatic_tax',
  'billing_cycle_anchor_config',
  'add_invoice_items',
] as const;

function createSubscription(engine: Engine, p: Params): Stripe.Subscription {
  p.only(CREATE_PARAMS);
  const customer = requireCustomer(engine, p.reqStr('customer'), 'customer');
  const itemParams = p.list('items');
  if (!itemParams || itemParams.length === 0) throw missingParam('items');
  const planned: PlannedItem[] = itemParams.map((ip, n) => {
    ip.only(['price', 'quantity', 'metadata']);
    const price = requirePrice(engine, ip.reqStr('price'), `items[${n}][price]`);
    if (!price.recurring) {
      throw invalidRequest('The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.', {
        param: `items[${n}][price]`,
      });
    }
    const md = ip.metadata();
    return { id: newId('si'), isNew: true, price, quantity: ip.int('quantity') ?? 1, metadata: md === 'unset' || !md ? {} : md };
  });
  const first = planned[0];
  if (!first) throw missingParam('items');
  const collection = p.oneOf('collection_method', ['charge_automatically', 'send_invoice'] as const);
  if (collection === 'send_invoice')
    throw invalidRequest('The local Stripe supports only collection_method=charge_automatically.', { param: 'collection_method' });
  const behaviour =
    p.oneOf('payment_behavior', ['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete'] as const) ??
    'allow_incomplete';
  const dpmParam = p.str('default_payment_method');
  const dpm = dpmParam === undefined ? undefined : attachedPaymentMethod(engine, customer.id, dpmParam, 'default_payment_method');
  const fallback = customer.invoice_settings.default_payment_method;
  const chargeWith = dpm ?? (typeof fallback === 'string' ? fallback : undefined);
  const startedAt = engine.now(customer.id);
  const trialEnd = requestedTrialEnd(p, startedAt);
  const trial = trialEnd !== undefined && trialEnd > startedAt;
  // A trial needs no card until it ends.
  if (!trial && behaviour !== 'default_incomplete' && chargeWith === undefined) {
    throw invalidRequest(
      'This customer has no attached payment source or default payment method. Please consider adding a default payment method. For more information, visit https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority.',
      { code: 'resource_missing' },
    );
  }
  // error_if_incomplete: a card that will decline fails the call before anything exists.
  const pm = chargeWith ? engine.state.paymentMethods[chargeWith] : undefined;
  const decline = pm ? declineFor(cardBehaviour(pm)) : null;
  if (!trial && behaviour === 'error_if_incomplete' && decline) {
    throw cardError(decline.code, decline.message, { decline_code: decline.decline_code });
  }
  const settings = p.obj('payment_settings');
  settings?.only(['save_default_payment_method', 'payment_method_types', 'payment_method_options']);
  const now = engine.now(customer.id);
  const { interval, count } = intervalOf(first.price);
  const period = { start: now, end: addIntervals(now, interval, count, 1) };
  const id = newId('sub');
  const md = p.metadata();
  const sub: Stripe.Subscription = {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: now,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: { proration_discounts: 'included' }, type: 'flexible', updated_at: now },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: p.bool('cancel_at_period_end') ? period.end : null,
    cancel_at_period_end: p.bool('cancel_at_period_end') ?? false,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
    collection_method: 'charge_automatically',
    created: now,
    currency: first.price.currency,
    customer: customer.id,
    customer_account: null,
    days_until_due: null,
    default_payment_method: dpm ?? null,
    default_source: null,
    default_tax_rates: [],
    description: p.str('description') ?? null,
    discounts: [],
    ended_at: null,
    invoice_settings: { account_tax_ids: null, custom_fields: null, description: null, footer: null, issuer: { type: 'self' } },
    items: { object: 'list', data: [], has_more: false, url: `/v1/subscription_items?subscription=${id}` },
    latest_invoice: null,
    livemode: false,
    managed_payments: null,
    metadata: md === 'unset' || !md ? {} : md,
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: settings?.oneOf('save_default_payment_method', ['off', 'on_subscription'] as const) ?? 'off',
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status: 'incomplete',
    test_clock: customer.test_clock ?? null,
    transfer_data: null,
    trial_end: null,
    trial_settings: { end_behavior: { billing_cycle_anchor: null, missing_payment_method: 'create_invoice' } },
    trial_start: null,
  };
  sub.items.data = planned.map((pl) => buildItem(engine, id, pl, period));
  const missing = trialSettings(p);
  if (missing && sub.trial_settings) sub.trial_settings.end_behavior.missing_payment_method = missing;
  if (p.has('cancel_at') && !p.has('cancel_at_period_end')) applyCancellation(sub, p, now);
  if (trial) startTrial(sub, now, trialEnd);
  engine.state.subscriptions[id] = sub;
  engine.store.touch();
  engine.emit('customer.subscription.created', sub);
  // `add_invoice_items`: one-time prices billed once, on the first invoice.
  const extras = addInvoiceItems(engine, p, customer, sub);

  const invoice = buildInvoice(engine, {
    customer,
    subscription: sub,
    billingReason: 'subscription_create',
    // A trial's first invoice is $0 (one line per item, "Trial period for ...").
    lines: [...(trial ? trialLines(engine, sub) : periodLines(engine, sub, period)), ...extras.map((e) => itemLine(engine, e))],
    periodStart: now,
    periodEnd: now,
  });
  for (const e of extras) e.invoice = invoice.id;
  sub.latest_invoice = invoice.id;
  finalizeInvoice(engine, invoice);
  if (invoice.amount_due === 0) {
    markInvoicePaid(engine, invoice, null);
    // Less than three days of trial: the notice goes out at once.
    const notice = trialWillEndAt(engine, sub);
    if (notice !== null && notice <= now) sendTrialWillEnd(engine, sub);
    return sub;
  }
  const saveCard = sub.payment_settings?.save_default_payment_method === 'on_subscription';
  ensureInvoiceIntent(engine, invoice, saveCard);
  if (behaviour !== 'default_incomplete') {
    attemptInvoicePayment(engine, invoice, { paymentMethod: chargeWith ?? null, offSession: p.bool('off_session') ?? false, saveCard });
  }
  return sub;
}

/** Replaces the subscription's items by the planned ones, keeping the current period. */
function applyItems(engine: Engine, sub: Stripe.Subscription, items: PlannedItem[]): void {
  const period = currentPeriod(sub);
  sub.items.data = items.map((pl) => {
    const existing = sub.items.data.find((i) => i.id === pl.id);
    if (!existing) return buildItem(engine, sub.id, pl, period);
    return { ...existing, price: engine.render(pl.price), plan: planOf(pl.price), quantity: pl.quantity, metadata: pl.metadata };
  });
}

/** Bills prorations now (`always_invoice`): pending items plus these lines on one invoice, charged at once. */
function invoiceNow(engine: Engine, sub: Stripe.Subscription, lines: LineInput[], prorationDate: number): Stripe.Invoice {
  const customer = requireCustomer(engine, customerId(sub), 'customer');
  const pending = pendingItemLines(engine, sub.id);
  const invoice = buildInvoice(engine, {
    customer,
    subscription: sub,
    billingReason: 'subscription_update',
    lines: [...pending, ...lines],
    periodStart: prorationDate,
    periodEnd: prorationDate,
    prorationDate,
  });
  for (const { item } of pending) item.invoice = invoice.id;
  sub.latest_invoice = invoice.id;
  finalizeInvoice(engine, invoice);
  return invoice;
}

const UPDATE_PARAMS = [
  'items',
  'proration_behavior',
  'proration_date',
  'cancel_at_period_end',
  'cancel_at',
  'cancellation_details',
  'metadata',
  'description',
  'default_payment_method',
  'payment_behavior',
  'payment_settings',
  'off_session',
  'trial_end',
  'trial_settings',
  'trial_from_plan',
  'pause_collection',
  'default_tax_rates',
  'pending_invoice_item_interval',
  'automatic_tax',
  'add_invoice_items',
  'expand',
] as const;

/** `trial_end` on update: `now` ends a trial at once (billing the first period), a timestamp moves its end. */
function changeTrial(engine: Engine, sub: Stripe.Subscription, p: Params, now: number): (() => ConfirmResult | null) | null {
  if (!p.has('trial_end')) return null;
  if (sub.status !== 'trialing') {
    throw invalidRequest('The local Stripe changes trial_end only on trialing subscriptions.', { param: 'trial_end' });
  }
  const end = requestedTrialEnd(p, now);
  if (end === undefined) return null;
  sub.trial_end = end;
  sub.billing_cycle_anchor = end;
  for (const item of sub.items.data) item.current_period_end = end;
  // Ending now runs the trial end after the update's own event.
  return end <= now ? () => renewSubscription(engine, sub) : null;
}

/** error_if_incomplete: a failed charge refuses the update as a whole (a fresh error, so nothing of it is kept). */
function refuseIfIncomplete(p: Params, result: ConfirmResult | null | undefined): void {
  if (result && !result.ok && p.str('payment_behavior') === 'error_if_incomplete') {
    throw new StripeApiError(result.error.status, result.error.body, result.error.headers);
  }
}

function updateSubscription(engine: Engine, sub: Stripe.Subscription, p: Params): Stripe.Subscription {
  p.only(UPDATE_PARAMS);
  const ended = sub.status === 'canceled' || sub.status === 'incomplete_expired';
  if (ended && Object.keys(p.raw).some((k) => !['metadata', 'cancellation_details', 'expand'].includes(k))) {
    throw invalidRequest('A canceled subscription can only update its cancellation_details and metadata.');
  }
  const customer = customerId(sub);
  const now = engine.now(customer);
  assertCancellationAllowed(sub, p);
  const before = structuredClone(sub);
  sub.metadata = mergeMetadata(sub.metadata, p.metadata());
  if (p.has('description')) sub.description = p.str('description') ?? null;
  if (p.has('default_payment_method')) {
    const id = p.str('default_payment_method');
    sub.default_payment_method = id === undefined ? null : attachedPaymentMethod(engine, customer, id, 'default_payment_method');
  }
  const settings = p.obj('payment_settings');
  const save = settings?.oneOf('save_default_payment_method', ['off', 'on_subscription'] as const);
  if (save && sub.payment_settings) sub.payment_settings.save_default_payment_method = save;
  applyCancellation(sub, p, now);
  const missing = trialSettings(p);
  if (missing && sub.trial_settings) sub.trial_settings.end_behavior.missing_payment_method = missing;
  applyPauseCollection(sub, p, now);
  // Added items wait for the subscription's next invoice.
  addInvoiceItems(engine, p, requireCustomer(engine, customer, 'customer'), sub);
  const trialEndsNow = changeTrial(engine, sub, p, now);

  const changes = p.list('items');
  const behaviour = p.oneOf('proration_behavior', ['create_prorations', 'always_invoice', 'none'] as const) ?? 'create_prorations';
  const prorationDate = p.int('proration_date') ?? now;
  const plan = changes ? planItemChange(engine, sub, changes, prorationDate) : null;
  if (plan) applyItems(engine, sub, plan.items);
  engine.store.touch();
  emitUpdated(engine, sub, before);
  refuseIfIncomplete(p, trialEndsNow?.());

  if (!plan || behaviour === 'none' || plan.prorations.length === 0) return sub;
  if (behaviour === 'create_prorations') {
    const cust = requireCustomer(engine, customer, 'customer');
    for (const line of plan.prorations) createPendingItem(engine, cust, line);
    return sub;
  }
  const invoice = invoiceNow(engine, sub, plan.prorations, prorationDate);
  if (invoice.amount_due === 0) {
    markInvoicePaid(engine, invoice, null);
    return sub;
  }
  const result = attemptInvoicePayment(engine, invoice, { offSession: p.bool('off_session') ?? true });
  refuseIfIncomplete(p, result);
  return sub;
}

function applyCancellation(sub: Stripe.Subscription, p: Params, now: number): void {
  const details = p.obj('cancellation_details');
  if (details) {
    details.only(['comment', 'feedback']);
    if (sub.cancellation_details) {
      if (details.has('comment')) sub.cancellation_details.comment = details.str('comment') ?? null;
      if (details.has('feedback')) {
        sub.cancellation_details.feedback = details.str('feedback') ?? null;
      }
    }
  }
  const periodEnd = currentPeriod(sub).end;
  const atPeriodEnd = p.bool('cancel_at_period_end');
  if (atPeriodEnd !== undefined) {
    sub.cancel_at_period_end = atPeriodEnd;
    sub.cancel_at = atPeriodEnd ? periodEnd : null;
    sub.canceled_at = atPeriodEnd ? now : null;
    if (sub.cancellation_details) sub.cancellation_details.reason = atPeriodEnd ? 'cancellation_requested' : null;
  }
  if (p.has('cancel_at')) {
    const at = p.int('cancel_at');
    sub.cancel_at = at ?? null;
    sub.cancel_at_period_end = at !== undefined && at === periodEnd;
    sub.canceled_at = at === undefined ? null : now;
    if (sub.cancellation_details) sub.cancellation_details.reason = at === undefined ? null : 'cancellation_requested';
  }
}

export type CancelReason = Stripe.Subscription.CancellationDetails.Reason;

/** Ends the subscription now (cancel API, cancel_at reached, dunning exhausted, customer deleted). */
export function cancelSubscription(
  engine: Engine,
  sub: Stripe.Subscription,
  reason: CancelReason,
  opts: { invoiceNow?: boolean; prorate?: boolean } = {},
): Stripe.Subscription {
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired') {
    throw invalidRequest(`This subscription has already been ${sub.status === 'canceled' ? 'canceled' : 'expired'}.`, {
      code: 'resource_missing',
    });
  }
  const customer = customerId(sub);
  const now = engine.now(customer);
  if (sub.status === 'incomplete') {
    const invoice = typeof sub.latest_invoice === 'string' ? engine.state.invoices[sub.latest_invoice] : undefined;
    if (invoice?.status === 'open') voidInvoice(engine, invoice);
  }
  if (opts.invoiceNow) {
    const credit = opts.prorate ? unusedTimeCredit(engine, sub, now) : [];
    if (credit.length + pendingItemLines(engine, sub.id).length > 0) {
      const invoice = invoiceNow(engine, sub, credit, now);
      attemptInvoicePayment(engine, invoice, { offSession: true });
    }
  } else {
    // Pending prorations die with the subscription unless invoiced now.
    for (const { item } of pendingItemLines(engine, sub.id)) delete engine.state.invoiceItems[item.id];
  }
  sub.status = 'canceled';
  sub.canceled_at = sub.canceled_at ?? now;
  sub.ended_at = now;
  if (sub.cancellation_details) sub.cancellation_details.reason = reason;
  engine.store.touch();
  engine.emit('customer.subscription.deleted', sub);
  endScheduleOf(engine, sub, now);
  return sub;
}

/** `prorate=true` on cancel: credit for the unused rest of the period. */
function unusedTimeCredit(engine: Engine, sub: Stripe.Subscription, now: number): LineInput[] {
  const period = currentPeriod(sub);
  const length = period.end - period.start;
  return sub.items.data
    .map((item): LineInput => {
      const full = (item.price.unit_amount ?? 0) * (item.quantity ?? 1);
      const amount = length > 0 ? Math.round((full * Math.max(period.end - now, 0)) / length) : 0;
      return {
        amount: -amount,
        description: prorationDescription(engine, item.price, item.quantity ?? 1, true, now),
        period: { start: now, end: period.end },
        price: item.price,
        quantity: item.quantity ?? 1,
        proration: true,
        subscription: sub.id,
        subscriptionItem: item.id,
        invoiceItem: null,
      };
    })
    .filter((l) => l.amount !== 0);
}

/** Invoice paid: an incomplete or past-due subscription becomes active; `on_subscription` saves the card. */
export function onSubscriptionInvoicePaid(
  engine: Engine,
  sub: Stripe.Subscription,
  invoice: Stripe.Invoice,
  pm: Stripe.PaymentMethod | null,
): void {
  const before = structuredClone(sub);
  const otherOpen = Object.values(engine.state.invoices).some(
    (i) => i.id !== invoice.id && i.status === 'open' && i.parent?.subscription_details?.subscription === sub.id,
  );
  if (sub.status === 'incomplete' || ((sub.status === 'past_due' || sub.status === 'unpaid') && !otherOpen)) {
    sub.status = 'active';
  }
  if (pm && sub.payment_settings?.save_default_payment_method === 'on_subscription') {
    sub.default_payment_method = pm.id;
    if (pm.customer === null) {
      pm.customer = customerId(sub);
      engine.emit('payment_method.attached', pm);
    }
  }
  engine.store.touch();
  emitUpdated(engine, sub, before);
}

/** Renewal failed: active -> past_due; after the last retry the subscription is canceled. */
export function onSubscriptionInvoiceFailed(engine: Engine, sub: Stripe.Subscription, invoice: Stripe.Invoice): void {
  if (invoice.billing_reason === 'subscription_create') return;
  if (sub.status === 'active') {
    const before = structuredClone(sub);
    sub.status = 'past_due';
    engine.store.touch();
    emitUpdated(engine, sub, before);
  }
  if (invoice.next_payment_attempt === null && invoice.attempt_count >= MAX_ATTEMPTS && sub.status === 'past_due') {
    cancelSubscription(engine, sub, 'payment_failed');
  }
}

/** The subscription's next period: invoice pending items and the new period, charge the saved card. */
export function renewSubscription(engine: Engine, sub: Stripe.Subscription): ConfirmResult | null {
  const customer = engine.state.customers[customerId(sub)];
  const first = sub.items.data[0];
  if (!customer || !first) return null;
  const old = currentPeriod(sub);
  const before = structuredClone(sub);
  if (sub.status === 'trialing') {
    const outcome = endTrial(engine, sub);
    if (outcome === 'paused') {
      emitUpdated(engine, sub, before);
      engine.emit('customer.subscription.paused', sub);
      return null;
    }
    if (outcome === 'cancel') {
      cancelSubscription(engine, sub, 'cancellation_requested');
      return null;
    }
  }
  const { interval, count } = intervalOf(first.price);
  let n = 1;
  while (addIntervals(sub.billing_cycle_anchor, interval, count, n) <= old.end) n++;
  const next = { start: old.end, end: addIntervals(sub.billing_cycle_anchor, interval, count, n) };
  for (const item of sub.items.data) {
    item.current_period_start = next.start;
    item.current_period_end = next.end;
  }
  const pending = pendingItemLines(engine, sub.id);
  const invoice = buildInvoice(engine, {
    customer,
    subscription: sub,
    billingReason: 'subscription_cycle',
    lines: [...pending, ...periodLines(engine, sub, next)],
    periodStart: old.start,
    periodEnd: old.end,
  });
  for (const { item } of pending) item.invoice = invoice.id;
  sub.latest_invoice = invoice.id;
  engine.store.touch();
  emitUpdated(engine, sub, before);
  return collect(engine, sub, invoice, old.end);
}

/** Finalizes and charges a renewal invoice, unless `pause_collection` says otherwise. */
function collect(engine: Engine, sub: Stripe.Subscription, invoice: Stripe.Invoice, at: number): ConfirmResult | null {
  const pause = collectionPause(sub, at);
  if (pause === 'keep_as_draft') return null;
  finalizeInvoice(engine, invoice);
  if (pause === 'void') {
    voidInvoice(engine, invoice);
    return null;
  }
  if (pause === 'mark_uncollectible') {
    invoice.status = 'uncollectible';
    invoice.status_transitions.marked_uncollectible_at = at;
    engine.store.touch();
    engine.emit('invoice.marked_uncollectible', invoice);
    return null;
  }
  return attemptInvoicePayment(engine, invoice, { offSession: true });
}

/** `POST /v1/subscriptions/:id/resume`: a paused subscription starts a new period now and bills it. */
function resumeSubscription(engine: Engine, sub: Stripe.Subscription, p: Params): Stripe.Subscription {
  p.only(['billing_cycle_anchor', 'proration_behavior', 'proration_date', 'payment_behavior', 'expand']);
  if (sub.status !== 'paused') {
    throw invalidRequest(`Only a paused subscription can be resumed; this one is ${sub.status}.`, { code: 'subscription_not_paused' });
  }
  const customer = requireCustomer(engine, customerId(sub), 'customer');
  const first = sub.items.data[0];
  if (!first) throw invalidRequest('This subscription has no items.');
  const now = engine.now(customer.id);
  const before = structuredClone(sub);
  const { interval, count } = intervalOf(first.price);
  const period = { start: now, end: addIntervals(now, interval, count, 1) };
  sub.status = 'active';
  sub.billing_cycle_anchor = now;
  for (const item of sub.items.data) {
    item.current_period_start = period.start;
    item.current_period_end = period.end;
  }
  const pending = pendingItemLines(engine, sub.id);
  const invoice = buildInvoice(engine, {
    customer,
    subscription: sub,
    billingReason: 'subscription_cycle',
    lines: [...pending, ...periodLines(engine, sub, period)],
    periodStart: now,
    periodEnd: now,
  });
  for (const { item } of pending) item.invoice = invoice.id;
  sub.latest_invoice = invoice.id;
  engine.store.touch();
  emitUpdated(engine, sub, before);
  engine.emit('customer.subscription.resumed', sub);
  collect(engine, sub, invoice, now);
  return sub;
}

/** An incomplete subscription whose first invoice was not paid within 23 hours. */
export function expireSubscription(engine: Engine, sub: Stripe.Subscription): void {
  const before = structuredClone(sub);
  const invoice = typeof sub.latest_invoice === 'string' ? engine.state.invoices[sub.latest_invoice] : undefined;
  if (invoice?.status === 'open') voidInvoice(engine, invoice);
  sub.status = 'incomplete_expired';
  sub.ended_at = engine.now(customerId(sub));
  engine.store.touch();
  emitUpdated(engine, sub, before);
}

function listFilter(p: Params): (s: Stripe.Subscription) => boolean {
  const customer = p.str('customer');
  const price = p.str('price');
  const status = p.str('status');
  const clock = p.str('test_clock');
  return (s) =>
    (customer === undefined || s.customer === customer) &&
    (price === undefined || s.items.data.some((i) => i.price.id === price)) &&
    (clock === undefined || s.test_clock === clock) &&
    (status === 'all' ||
      (status === 'ended' ? s.status === 'canceled' || s.status === 'incomplete_expired' : false) ||
      (status === undefined ? s.status !== 'canceled' : s.status === status)) &&
    matchesCreated(p, s.created);
}

export const subscriptionRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/subscriptions',
    handler: ({ engine, params, expand }) => engine.render(createSubscription(engine, params), expand),
  },
  {
    method: 'GET',
    path: '/v1/subscriptions',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'customer', 'price', 'status', 'created', 'test_clock', 'collection_method']);
      return paginate(engine, newestFirst(engine.state.subscriptions).filter(listFilter(params)), params, '/v1/subscriptions');
    },
  },
  {
    method: 'GET',
    path: '/v1/subscriptions/:id',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      return engine.render(requireSubscription(engine, path.id ?? ''), expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/subscriptions/:id',
    handler: ({ engine, path, params, expand }) =>
      engine.render(updateSubscription(engine, requireSubscription(engine, path.id ?? ''), params), expand),
  },
  {
    method: 'POST',
    path: '/v1/subscriptions/:id/resume',
    handler: ({ engine, path, params, expand }) =>
      engine.render(resumeSubscription(engine, requireSubscription(engine, path.id ?? ''), params), expand),
  },
  {
    method: 'DELETE',
    path: '/v1/subscriptions/:id',
    handler: ({ engine, path, params, expand }) => {
      params.only(['invoice_now', 'prorate', 'cancellation_details', 'expand']);
      const sub = requireSubscription(engine, path.id ?? '');
      applyCancellation(sub, params, engine.now(customerId(sub)));
      const opts = { invoiceNow: params.bool('invoice_now') ?? false, prorate: params.bool('prorate') ?? false };
      return engine.render(cancelSubscription(engine, sub, 'cancellation_requested', opts), expand);
    },
  },
];
