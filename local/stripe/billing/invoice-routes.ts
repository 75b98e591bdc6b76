import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { invalidParam, invalidRequest, resourceMissing, unexpectedState } from '../core/errors.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata, type Params } from '../core/params.js';
import { addIntervals, type Interval } from '../core/time.js';
import { requirePrice } from '../resources/catalog.js';
import { diff, requireCustomer } from '../resources/customers.js';
import { resolvePaymentMethod } from '../resources/payment-methods.js';
import { buildInvoice, finalizeInvoice, itemLine, pendingItemLines, periodLineDescription, type LineInput } from './invoices.js';
import { attemptInvoicePayment, markInvoicePaid, voidInvoice } from './invoice-payments.js';
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
  details?.only([
    'items',
    'proration_behavior',
    'proration_date',
    'cancel_at_period_end',
    'cancel_at',
    'cancel_now',
    'billing_cycle_anchor',
    'default_tax_rates',
    'trial_end',
    'resume_at',
    'start_date',
  ]);
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
    throw invalidRequest('Missing required param: subscription_details[items].', {
      code: 'parameter_missing',
      param: 'subscription_details[items]',
    });
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
  return buildInvoice(engine, {
    customer,
    subscription: null,
    billingReason: 'subscription_create',
    lines,
    periodStart: now,
    periodEnd: now,
    preview: true,
  });
}

const INVOICE_PARAMS = [
  'customer',
  'auto_advance',
  'collection_method',
  'days_until_due',
  'due_date',
  'default_payment_method',
  'description',
  'footer',
  'metadata',
  'statement_descriptor',
  'custom_fields',
  'currency',
  'pending_invoice_items_behavior',
  'subscription',
  'account_tax_ids',
  'default_tax_rates',
  'automatic_tax',
  'payment_settings',
  'rendering',
  'shipping_details',
  'number',
  'expand',
] as const;

/** Fields a draft takes from create/update params (shared by both). */
function applyDraftParams(engine: Engine, invoice: Stripe.Invoice, p: Params): void {
  if (p.has('description')) invoice.description = p.str('description') ?? null;
  if (p.has('footer')) invoice.footer = p.str('footer') ?? null;
  if (p.has('statement_descriptor')) invoice.statement_descriptor = p.str('statement_descriptor') ?? null;
  if (p.has('auto_advance')) invoice.auto_advance = p.bool('auto_advance') ?? false;
  if (p.has('number')) invoice.number = p.str('number') ?? null;
  invoice.metadata = mergeMetadata(invoice.metadata, p.metadata());
  const method = p.oneOf('collection_method', ['charge_automatically', 'send_invoice'] as const);
  if (method) invoice.collection_method = method;
  const now = engine.now(typeof invoice.customer === 'string' ? invoice.customer : null);
  const days = p.int('days_until_due');
  if (days !== undefined) invoice.due_date = now + days * 86_400;
  if (p.has('due_date')) invoice.due_date = p.int('due_date') ?? null;
  if (invoice.collection_method === 'send_invoice' && invoice.due_date === null) {
    throw invalidRequest('Missing required param: days_until_due or due_date (required with collection_method=send_invoice).', {
      code: 'parameter_missing',
      param: 'days_until_due',
    });
  }
  if (invoice.collection_method === 'charge_automatically' && (days !== undefined || p.has('due_date'))) {
    throw invalidParam('days_until_due', 'days_until_due and due_date apply only to invoices with collection_method=send_invoice.');
  }
  if (p.has('default_payment_method')) {
    const pmId = p.str('default_payment_method');
    if (pmId === undefined) invoice.default_payment_method = null;
    else {
      const pm = engine.state.paymentMethods[pmId];
      if (!pm || pm.customer !== invoice.customer) throw resourceMissing('payment_method', pmId, 'default_payment_method');
      invoice.default_payment_method = pm.id;
    }
  }
}

/**
 * `POST /v1/invoices`: a one-off draft for a customer. Pending invoice items
 * are pulled in with `pending_invoice_items_behavior=include` (Stripe's
 * default is `exclude`); more can be added with `invoiceitems.create({ invoice })`.
 */
function createInvoice(engine: Engine, p: Params): Stripe.Invoice {
  p.only(INVOICE_PARAMS);
  const customer = requireCustomer(engine, p.reqStr('customer'), 'customer');
  if (p.has('subscription'))
    throw invalidParam(
      'subscription',
      'The local Stripe creates subscription invoices itself; create a one-off invoice without subscription.',
    );
  const behaviour = p.oneOf('pending_invoice_items_behavior', ['include', 'exclude'] as const) ?? 'exclude';
  const pending =
    behaviour === 'include'
      ? Object.values(engine.state.invoiceItems)
          .filter((i) => i.customer === customer.id && i.invoice === null)
          .sort((a, b) => a.date - b.date)
      : [];
  const currency = p.str('currency')?.toLowerCase() ?? pending[0]?.currency ?? 'usd';
  const items = pending.filter((i) => i.currency === currency);
  const now = engine.now(customer.id);
  const invoice = buildInvoice(engine, {
    customer,
    subscription: null,
    billingReason: 'manual',
    lines: items.map((i) => itemLine(engine, i)),
    periodStart: now,
    periodEnd: now,
    currency,
    beforeCreated: (draft) => {
      draft.auto_advance = false;
      applyDraftParams(engine, draft, p);
    },
  });
  for (const item of items) item.invoice = invoice.id;
  engine.store.touch();
  return invoice;
}

function updateInvoice(engine: Engine, invoice: Stripe.Invoice, p: Params): Stripe.Invoice {
  p.only(
    INVOICE_PARAMS.filter((k) => k !== 'customer' && k !== 'pending_invoice_items_behavior' && k !== 'subscription' && k !== 'currency'),
  );
  if (invoice.status !== 'draft') {
    // After finalization Stripe lets only these change.
    const allowed = ['metadata', 'description', 'footer', 'auto_advance', 'expand', 'custom_fields', 'rendering'];
    const blocked = Object.keys(p.raw).find((k) => !allowed.includes(k));
    if (blocked)
      throw invalidRequest(`You can only update ${blocked} on a draft invoice; this invoice is ${invoice.status}.`, {
        code: 'invoice_not_editable',
        param: blocked,
      });
  }
  const before = structuredClone(invoice);
  applyDraftParams(engine, invoice, p);
  engine.store.touch();
  const prev = diff(before, invoice);
  if (Object.keys(prev).length > 0) engine.emit('invoice.updated', invoice, prev);
  return invoice;
}

/** Drafts are finalized first when paid; a zero total is paid at once. */
function finalize(engine: Engine, invoice: Stripe.Invoice): void {
  if (invoice.status !== 'draft') {
    throw unexpectedState(`This invoice is already finalized, you can't re-finalize a non-draft invoice.`, 'invoice_not_editable');
  }
  finalizeInvoice(engine, invoice);
  if (invoice.amount_due === 0) markInvoicePaid(engine, invoice, null);
}

function payInvoice(engine: Engine, invoice: Stripe.Invoice, params: Params): void {
  if (invoice.status === 'paid') throw unexpectedState('Invoice is already paid', 'invoice_already_paid');
  if (invoice.status === 'void') throw unexpectedState('You cannot pay a void invoice.', 'invoice_not_editable');
  if (invoice.status === 'draft') finalize(engine, invoice);
  if (invoice.status === 'paid') return;
  if (params.bool('paid_out_of_band')) {
    markInvoicePaid(engine, invoice, null);
    return;
  }
  const pmId = params.str('payment_method');
  const pm = pmId === undefined ? undefined : resolvePaymentMethod(engine, pmId).id;
  invoice.next_payment_attempt = null;
  // An uncollectible invoice can still be paid; it is charged as an open one.
  if (invoice.status === 'uncollectible') invoice.status = 'open';
  const fallback = typeof invoice.default_payment_method === 'string' ? invoice.default_payment_method : undefined;
  const chosen = pm ?? fallback;
  const result = attemptInvoicePayment(engine, invoice, {
    ...(chosen !== undefined ? { paymentMethod: chosen } : {}),
    offSession: params.bool('off_session') ?? true,
  });
  if (result && !result.ok) throw result.error;
}

function markUncollectible(engine: Engine, invoice: Stripe.Invoice): void {
  if (invoice.status !== 'open') {
    throw unexpectedState(`You can only mark an open invoice as uncollectible. This invoice is ${invoice.status}.`, 'invoice_not_editable');
  }
  const before = structuredClone(invoice);
  invoice.status = 'uncollectible';
  invoice.status_transitions.marked_uncollectible_at = engine.now(typeof invoice.customer === 'string' ? invoice.customer : null);
  invoice.next_payment_attempt = null;
  engine.store.touch();
  engine.emit('invoice.marked_uncollectible', invoice);
  engine.emit('invoice.updated', invoice, diff(before, invoice));
}

function deleteDraft(engine: Engine, invoice: Stripe.Invoice): Stripe.DeletedInvoice {
  if (invoice.status !== 'draft') {
    throw unexpectedState(
      `You can only delete draft invoices. This invoice is ${invoice.status}; void it instead.`,
      'invoice_not_editable',
    );
  }
  // Its invoice items go back to pending, as Stripe does.
  for (const item of Object.values(engine.state.invoiceItems)) if (item.invoice === invoice.id) item.invoice = null;
  delete engine.state.invoices[invoice.id];
  engine.store.touch();
  engine.emit('invoice.deleted', invoice);
  return { id: invoice.id, object: 'invoice', deleted: true };
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
    path: '/v1/invoices',
    handler: ({ engine, params, expand }) => engine.render(createInvoice(engine, params), expand),
  },
  {
    method: 'POST',
    path: '/v1/invoices/:id',
    handler: ({ engine, path, params, expand }) =>
      engine.render(updateInvoice(engine, requireInvoice(engine, path.id ?? '', 'id'), params), expand),
  },
  {
    method: 'DELETE',
    path: '/v1/invoices/:id',
    handler: ({ engine, path }) => deleteDraft(engine, requireInvoice(engine, path.id ?? '', 'id')),
  },
  {
    method: 'POST',
    path: '/v1/invoices/:id/finalize',
    handler: ({ engine, path, params, expand }) => {
      params.only(['auto_advance', 'expand']);
      const invoice = requireInvoice(engine, path.id ?? '', 'id');
      if (params.has('auto_advance')) invoice.auto_advance = params.bool('auto_advance') ?? false;
      finalize(engine, invoice);
      return engine.render(invoice, expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/invoices/:id/mark_uncollectible',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      const invoice = requireInvoice(engine, path.id ?? '', 'id');
      markUncollectible(engine, invoice);
      return engine.render(invoice, expand);
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
      payInvoice(engine, invoice, params);
      return engine.render(invoice, expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/invoices/:id/void',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      const invoice = requireInvoice(engine, path.id ?? '', 'id');
      if (invoice.status !== 'open' && invoice.status !== 'uncollectible') {
        throw unexpectedState(
          `You can only void an open or uncollectible invoice. This invoice is ${invoice.status}.`,
          'invoice_not_editable',
        );
      }
      voidInvoice(engine, invoice);
      return engine.render(invoice, expand);
    },
  },
];
