import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { invalidRequest, resourceMissing, unexpectedState } from '../core/errors.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import type { Params } from '../core/params.js';
import { addIntervals, type Interval } from '../core/time.js';
import { requirePrice } from '../resources/catalog.js';
import { requireCustomer } from '../resources/customers.js';
import { resolvePaymentMethod } from '../resources/payment-methods.js';
import { buildInvoice, pendingItemLines, periodLineDescription, type LineInput } from './invoices.js';
import { attemptInvoicePayment, voidInvoice } from './invoice-payments.js';
import { currentPeriod, planItemChange } from './proration.js';
import { requireSubscription } from './subscriptions.js';

export function requireInvoice(engine: Engine, id: string, param = 'invoice'): Stripe.Invoice {
  const invoice = engine.state.invoices[id];
  if (!invoice) throw resourceMissing('invoice', id, param);
  return invoice;
}

function nextPeriodLines(
  engine: Engine,
  sub: Stripe.Subscription,
  items: Array<{ id: string; price: Stripe.Price; quantity: number }>,
  period: { start: number; end: number },
): LineInput[] {
  return items.map((i) => ({
    amount: (i.price.unit_amount ?? 0) * i.quantity,
    description: periodLineDescription(engine, i.price, i.quantity),
    period,
    price: i.price,
    quantity: i.quantity,
    proration: false,
    subscription: sub.id,
    subscriptionItem: i.id,
    invoiceItem: null,
  }));
}

/**
 * `POST /v1/invoices/create_preview`: for a subscription (optionally with
 * `subscription_details` changes), the invoice the change bills now
 * (`always_invoice`) or the next renewal invoice with pending and new
 * prorations; for a customer without a subscription, a new subscription's first invoice.
 */
function createPreview(engine: Engine, p: Params): Stripe.Invoice {
  p.only(['customer', 'subscription', 'subscription_details', 'expand', 'preview_mode', 'automatic_tax', 'currency']);
  const subId = p.str('subscription');
  const sub = subId === undefined ? undefined : requireSubscription(engine, subId, 'subscription');
  const customerId = p.str('customer') ?? (sub ? (typeof sub.customer === 'string' ? sub.customer : sub.customer.id) : undefined);
  if (customerId === undefined) throw invalidRequest('Missing required param: customer.', { code: 'parameter_missing', param: 'customer' });
  const customer = requireCustomer(engine, customerId, 'customer');
  const details = p.obj('subscription_details');
  details?.only(['items', 'proration_behavior', 'proration_date', 'cancel_at_period_end', 'cancel_at', 'cancel_now', 'billing_cycle_anchor', 'default_tax_rates', 'trial_end', 'resume_at', 'start_date']);
  const now = engine.now(customer.id);
  if (!sub) return previewNewSubscription(engine, customer, details, now);
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired') {
    throw invalidRequest(`No upcoming invoices for customer: ${customer.id}`, { code: 'invoice_upcoming_none' });
  }
  const changes = details?.list('items');
  const behaviour = details?.oneOf('proration_behavior', ['create_prorations', 'always_invoice', 'none'] as const) ?? 'create_prorations';
  const prorationDate = details?.int('proration_date') ?? now;
  const plan = changes ? planItemChange(engine, sub, changes, prorationDate) : null;
  const prorations = plan && behaviour !== 'none' ? plan.prorations : [];
  const pending = pendingItemLines(engine, sub.id);
  const common = { customer, subscription: sub, preview: true, ...(plan ? { prorationDate } : {}) };
  if (behaviour === 'always_invoice' && plan) {
    return buildInvoice(engine, {
      ...common,
      billingReason: 'subscription_update',
      lines: [...pending, ...prorations],
      periodStart: prorationDate,
      periodEnd: prorationDate,
    });
  }
  const willCancel = details?.bool('cancel_at_period_end') ?? sub.cancel_at_period_end;
  if (willCancel) throw invalidRequest(`No upcoming invoices for customer: ${customer.id}`, { code: 'invoice_upcoming_none' });
  const period = currentPeriod(sub);
  const first = (plan?.items[0]?.price ?? sub.items.data[0]?.price)?.recurring;
  const interval = (first?.interval ?? 'month') as Interval;
  let n = 1;
  while (addIntervals(sub.billing_cycle_anchor, interval, first?.interval_count ?? 1, n) <= period.end) n++;
  const next = { start: period.end, end: addIntervals(sub.billing_cycle_anchor, interval, first?.interval_count ?? 1, n) };
  const items = plan?.items ?? sub.items.data.map((i) => ({ id: i.id, price: i.price, quantity: i.quantity ?? 1 }));
  return buildInvoice(engine, {
    ...common,
    billingReason: 'upcoming',
    lines: [...pending, ...prorations, ...nextPeriodLines(engine, sub, items, next)],
    periodStart: period.start,
    periodEnd: period.end,
  });
}

function previewNewSubscription(engine: Engine, customer: Stripe.Customer, details: Params | undefined, now: number): Stripe.Invoice {
  const items = details?.list('items');
  if (!items || items.length === 0) {
    throw invalidRequest('Missing required param: subscription_details[items].', { code: 'parameter_missing', param: 'subscription_details[items]' });
  }
  const lines: LineInput[] = items.map((ip, n) => {
    const price = requirePrice(engine, ip.reqStr('price'), `subscription_details[items][${n}][price]`);
    const quantity = ip.int('quantity') ?? 1;
    const end = addIntervals(now, (price.recurring?.interval ?? 'month') as Interval, price.recurring?.interval_count ?? 1, 1);
    return {
      amount: (price.unit_amount ?? 0) * quantity,
      description: periodLineDescription(engine, price, quantity),
      period: { start: now, end },
      price,
      quantity,
      proration: false,
      subscription: null,
      subscriptionItem: null,
      invoiceItem: null,
    };
  });
  return buildInvoice(engine, { customer, subscription: null, billingReason: 'subscription_create', lines, periodStart: now, periodEnd: now, preview: true });
}

function listFilter(p: Params): (i: Stripe.Invoice) => boolean {
  const customer = p.str('customer');
  const subscription = p.str('subscription');
  const status = p.str('status');
  return (i) =>
    (customer === undefined || i.customer === customer) &&
    (subscription === undefined || i.parent?.subscription_details?.subscription === subscription) &&
    (status === undefined || i.status === status) &&
    matchesCreated(p, i.created);
}

export const invoiceRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/invoices',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'customer', 'subscription', 'status', 'created', 'collection_method', 'due_date']);
      return paginate(engine, newestFirst(engine.state.invoices).filter(listFilter(params)), params, '/v1/invoices');
    },
  },
  {
    method: 'POST',
    path: '/v1/invoices/create_preview',
    handler: ({ engine, params, expand }) => engine.render(createPreview(engine, params), expand),
  },
  {
    method: 'GET',
    path: '/v1/invoices/:id',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      return engine.render(requireInvoice(engine, path.id ?? '', 'id'), expand);
    },
  },
  {
    method: 'GET',
    path: '/v1/invoices/:id/lines',
    handler: ({ engine, path, params }) => {
      params.only([...LIST_PARAMS]);
      const invoice = requireInvoice(engine, path.id ?? '', 'id');
      return paginate(engine, invoice.lines.data, params, `/v1/invoices/${invoice.id}/lines`);
    },
  },
  {
    method: 'POST',
    path: '/v1/invoices/:id/pay',
    handler: ({ engine, path, params, expand }) => {
      params.only(['payment_method', 'off_session', 'expand', 'paid_out_of_band', 'mandate', 'source', 'forgive']);
      const invoice = requireInvoice(engine, path.id ?? '', 'id');
      if (invoice.status === 'paid') throw unexpectedState('Invoice is already paid', 'invoice_payment_intent_requires_action');
      if (invoice.status !== 'open') throw unexpectedState(`You can only pay an open invoice. This invoice is ${invoice.status}.`, 'invoice_not_editable');
      const pmId = params.str('payment_method');
      const pm = pmId === undefined ? undefined : resolvePaymentMethod(engine, pmId).id;
      invoice.next_payment_attempt = null;
      const result = attemptInvoicePayment(engine, invoice, { ...(pm !== undefined ? { paymentMethod: pm } : {}), offSession: params.bool('off_session') ?? true });
      if (result && !result.ok) throw result.error;
      return engine.render(invoice, expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/invoices/:id/void',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      const invoice = requireInvoice(engine, path.id ?? '', 'id');
      if (invoice.status !== 'open') throw unexpectedState(`You can only void an open invoice. This invoice is ${invoice.status}.`, 'invoice_not_editable');
      voidInvoice(engine, invoice);
      return engine.render(invoice, expand);
    },
  },
];
