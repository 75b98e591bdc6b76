// Paying invoices: the PaymentIntent behind an invoice, and what its outcome
// does to the invoice and its subscription (Stripe's invoice.paid /
// invoice.payment_failed and the incomplete -> active, active -> past_due moves).
import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { newId } from '../core/ids.js';
import { confirmIntent, createIntent, type ConfirmResult } from '../resources/payment-intents.js';

/** Days between automatic retries of a failed renewal, and how many attempts in all. */
export const RETRY_INTERVAL_DAYS = 3;
export const MAX_ATTEMPTS = 4;

const DESCRIPTIONS: Record<string, string> = {
  subscription_create: 'Subscription creation',
  subscription_update: 'Subscription update',
  subscription_cycle: 'Subscription cycle',
};

export function invoiceOf(engine: Engine, pi: Stripe.PaymentIntent): Stripe.Invoice | undefined {
  const id = engine.state.links.invoiceOfIntent[pi.id];
  return id ? engine.state.invoices[id] : undefined;
}

export function intentOf(engine: Engine, invoice: Stripe.Invoice): Stripe.PaymentIntent | undefined {
  const payment = invoice.payments?.data.find((p) => p.is_default);
  const id = payment?.payment.payment_intent;
  return typeof id === 'string' ? engine.state.paymentIntents[id] : undefined;
}

export function subscriptionOf(engine: Engine, invoice: Stripe.Invoice): Stripe.Subscription | undefined {
  const id = invoice.parent?.subscription_details?.subscription;
  return typeof id === 'string' ? engine.state.subscriptions[id] : undefined;
}

/** The invoice's PaymentIntent (created on first need), exposed as `confirmation_secret`. */
export function ensureInvoiceIntent(engine: Engine, invoice: Stripe.Invoice, saveCard: boolean): Stripe.PaymentIntent {
  const existing = intentOf(engine, invoice);
  if (existing) return existing;
  const customer = typeof invoice.customer === 'string' ? invoice.customer : null;
  const pi = createIntent(engine, {
    amount: invoice.amount_due,
    currency: invoice.currency,
    customer,
    description: DESCRIPTIONS[invoice.billing_reason ?? ''] ?? null,
    setupFutureUsage: saveCard ? 'off_session' : null,
  });
  engine.state.links.invoiceOfIntent[pi.id] = invoice.id;
  invoice.confirmation_secret = { client_secret: pi.client_secret ?? '', type: 'payment_intent' };
  const payment: Stripe.InvoicePayment = {
    id: newId('inpay'),
    object: 'invoice_payment',
    amount_paid: null,
    amount_requested: invoice.amount_due,
    created: engine.now(customer),
    currency: invoice.currency,
    invoice: invoice.id,
    is_default: true,
    livemode: false,
    payment: { type: 'payment_intent', payment_intent: pi.id },
    status: 'open',
    status_transitions: { canceled_at: null, paid_at: null },
  };
  invoice.payments?.data.push(payment);
  engine.store.touch();
  return pi;
}

/** An invoice with nothing to pay is paid on finalization. */
export function markInvoicePaid(engine: Engine, invoice: Stripe.Invoice, pm: Stripe.PaymentMethod | null): void {
  const now = engine.now(typeof invoice.customer === 'string' ? invoice.customer : null);
  invoice.status = 'paid';
  invoice.amount_paid = invoice.amount_due;
  invoice.amount_remaining = 0;
  invoice.attempted = true;
  invoice.attempt_count += invoice.amount_due > 0 ? 1 : 0;
  invoice.next_payment_attempt = null;
  invoice.status_transitions.paid_at = now;
  const payment = invoice.payments?.data.find((p) => p.is_default);
  if (payment) {
    payment.status = 'paid';
    payment.amount_paid = invoice.amount_due;
    payment.status_transitions.paid_at = now;
  }
  engine.store.touch();
  engine.emit('invoice.paid', invoice);
  engine.emit('invoice.payment_succeeded', invoice);
  if (payment) engine.emit('invoice_payment.paid', payment);
  engine.fire('invoicePaid', invoice, pm);
}

export function onInvoiceIntentSucceeded(engine: Engine, pi: Stripe.PaymentIntent, pm: Stripe.PaymentMethod): void {
  const invoice = invoiceOf(engine, pi);
  if (invoice && invoice.status === 'open') markInvoicePaid(engine, invoice, pm);
}

function recordFailure(engine: Engine, invoice: Stripe.Invoice): void {
  const now = engine.now(typeof invoice.customer === 'string' ? invoice.customer : null);
  invoice.attempted = true;
  invoice.attempt_count += 1;
  // Renewals are retried automatically; a first invoice waits for the customer.
  const retries = invoice.billing_reason !== 'subscription_create' && invoice.attempt_count < MAX_ATTEMPTS;
  invoice.next_payment_attempt = retries ? now + RETRY_INTERVAL_DAYS * 86_400 : null;
  engine.store.touch();
  engine.emit('invoice.payment_failed', invoice);
  engine.fire('invoicePaymentFailed', invoice);
}

export function onInvoiceIntentFailed(engine: Engine, pi: Stripe.PaymentIntent): void {
  const invoice = invoiceOf(engine, pi);
  if (invoice && invoice.status === 'open') recordFailure(engine, invoice);
}

export function onInvoiceIntentRequiresAction(engine: Engine, pi: Stripe.PaymentIntent): void {
  const invoice = invoiceOf(engine, pi);
  if (invoice && invoice.status === 'open') engine.emit('invoice.payment_action_required', invoice);
}

/** The card an automatic charge uses: the subscription's default, else the customer's. */
export function defaultPaymentMethodFor(engine: Engine, invoice: Stripe.Invoice): string | null {
  const sub = subscriptionOf(engine, invoice);
  if (typeof sub?.default_payment_method === 'string') return sub.default_payment_method;
  const customer = typeof invoice.customer === 'string' ? engine.state.customers[invoice.customer] : undefined;
  const pm = customer?.invoice_settings.default_payment_method;
  return typeof pm === 'string' ? pm : null;
}

/**
 * Charges an open invoice (renewals, retries, `invoices.pay`). Without a card
 * the attempt fails like a decline. Returns the confirmation result, if any.
 */
export function attemptInvoicePayment(
  engine: Engine,
  invoice: Stripe.Invoice,
  opts: { paymentMethod?: string | null; offSession: boolean; saveCard?: boolean },
): ConfirmResult | null {
  if (invoice.status !== 'open') return null;
  if (invoice.amount_due === 0) {
    markInvoicePaid(engine, invoice, null);
    return null;
  }
  const pi = ensureInvoiceIntent(engine, invoice, opts.saveCard ?? false);
  const pm = opts.paymentMethod === undefined ? defaultPaymentMethodFor(engine, invoice) : opts.paymentMethod;
  if (pm === null) {
    recordFailure(engine, invoice);
    return null;
  }
  if (pi.status === 'requires_action') pi.status = 'requires_payment_method';
  return confirmIntent(engine, pi, { paymentMethod: pm, offSession: opts.offSession });
}

export function voidInvoice(engine: Engine, invoice: Stripe.Invoice): void {
  invoice.status = 'void';
  invoice.status_transitions.voided_at = engine.now(typeof invoice.customer === 'string' ? invoice.customer : null);
  invoice.next_payment_attempt = null;
  invoice.amount_remaining = 0;
  const pi = intentOf(engine, invoice);
  if (pi && pi.status !== 'succeeded' && pi.status !== 'canceled') {
    pi.status = 'canceled';
    pi.cancellation_reason = 'void_invoice';
    pi.canceled_at = invoice.status_transitions.voided_at;
    engine.emit('payment_intent.canceled', pi);
  }
  engine.store.touch();
  engine.emit('invoice.voided', invoice);
}
