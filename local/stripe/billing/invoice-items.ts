// Invoice items: one-off charges for a customer. A pending item (no invoice)
// waits for the customer's next invoice: a subscription's renewal, or a
// one-off invoice created with `pending_invoice_items_behavior=include`.
// Given `invoice`, the item goes straight onto that draft.
import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { invalidParam, invalidRequest, missingParam, resourceMissing, unexpectedState } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata, type Params } from '../core/params.js';
import { wireDecimal } from '../core/decimal.js';
import { requirePrice } from '../resources/catalog.js';
import { requireCustomer } from '../resources/customers.js';
import { appendLines, itemLine, removeItemLine } from './invoices.js';

const CREATE_PARAMS = [
  'customer',
  'amount',
  'currency',
  'description',
  'metadata',
  'invoice',
  'period',
  'price',
  'pricing',
  'price_data',
  'quantity',
  'unit_amount_decimal',
  'discountable',
  'discounts',
  'subscription',
  'tax_behavior',
  'tax_code',
  'tax_rates',
  'expand',
] as const;

export function requireInvoiceItem(engine: Engine, id: string): Stripe.InvoiceItem {
  const item = engine.state.invoiceItems[id];
  if (!item) throw resourceMissing('invoiceitem', id, 'id');
  return item;
}

function draftInvoice(engine: Engine, id: string, customer: string): Stripe.Invoice {
  const invoice = engine.state.invoices[id];
  if (!invoice) throw resourceMissing('invoice', id, 'invoice');
  if (invoice.customer !== customer) throw invalidParam('invoice', `The invoice ${id} belongs to another customer.`);
  if (invoice.status !== 'draft') {
    throw invalidRequest(`You can only add invoice items to draft invoices; ${id} is ${invoice.status}.`, {
      code: 'invoice_not_editable',
      param: 'invoice',
    });
  }
  return invoice;
}

/** The amount and price of an item: `amount`, or a price (`pricing[price]`, `price`) times `quantity`. */
function pricingOf(engine: Engine, p: Params): { amount: number; currency: string; price: Stripe.Price | null; quantity: number } {
  const quantity = p.int('quantity') ?? 1;
  if (quantity < 0) throw invalidParam('quantity', 'This value must be greater than or equal to 0.');
  const priceId = p.obj('pricing')?.str('price') ?? p.str('price');
  if (priceId !== undefined) {
    const price = requirePrice(engine, priceId, p.has('price') ? 'price' : 'pricing[price]');
    if (price.unit_amount === null) throw invalidParam('price', 'This price has no unit_amount.');
    return { amount: price.unit_amount * quantity, currency: price.currency, price, quantity };
  }
  const unit = p.str('unit_amount_decimal');
  const unitAmount = unit !== undefined ? Number(unit) : undefined;
  if (unitAmount !== undefined && !Number.isInteger(unitAmount)) {
    throw invalidParam('unit_amount_decimal', 'The local Stripe bills whole cents only.');
  }
  const amount = p.int('amount') ?? (unitAmount !== undefined ? unitAmount * quantity : undefined);
  if (amount === undefined) throw missingParam('amount');
  const currency = p.str('currency');
  if (currency === undefined) throw missingParam('currency');
  return { amount, currency: currency.toLowerCase(), price: null, quantity };
}

function createItem(engine: Engine, p: Params): Stripe.InvoiceItem {
  p.only(CREATE_PARAMS);
  const customer = requireCustomer(engine, p.reqStr('customer'), 'customer');
  const invoiceId = p.str('invoice');
  const invoice = invoiceId === undefined ? null : draftInvoice(engine, invoiceId, customer.id);
  const { amount, currency, price, quantity } = pricingOf(engine, p);
  if (invoice && invoice.lines.data.length > 0 && invoice.currency !== currency) {
    throw invalidParam('currency', `The invoice is in ${invoice.currency}; the item cannot be in ${currency}.`);
  }
  const subscription = p.str('subscription');
  if (subscription !== undefined && !engine.state.subscriptions[subscription])
    throw resourceMissing('subscription', subscription, 'subscription');
  const now = engine.now(customer.id);
  const period = p.obj('period');
  const md = p.metadata();
  const item: Stripe.InvoiceItem = {
    id: newId('ii'),
    object: 'invoiceitem',
    amount,
    currency,
    customer: customer.id,
    customer_account: null,
    date: now,
    description: p.str('description') ?? null,
    discountable: p.bool('discountable') ?? true,
    discounts: [],
    invoice: invoice?.id ?? null,
    livemode: false,
    metadata: md === 'unset' || md === undefined ? {} : md,
    parent: subscription ? { type: 'subscription_details', subscription_details: { subscription } } : null,
    period: { start: period?.int('start') ?? now, end: period?.int('end') ?? now },
    pricing: price
      ? {
          type: 'price_details',
          price_details: { price: price.id, product: typeof price.product === 'string' ? price.product : price.product.id },
          unit_amount_decimal: price.unit_amount_decimal,
        }
      : null,
    proration: false,
    proration_details: { credited_items: null, discount_amounts: [] },
    quantity,
    quantity_decimal: wireDecimal(quantity),
    tax_rates: [],
    test_clock: customer.test_clock ?? null,
  };
  engine.state.invoiceItems[item.id] = item;
  if (invoice) {
    if (invoice.lines.data.length === 0) invoice.currency = currency;
    appendLines(engine, invoice, [itemLine(engine, item)]);
  }
  engine.store.touch();
  engine.emit('invoiceitem.created', item);
  return item;
}

/** An item on a finalized invoice can no longer change. */
function requireEditable(engine: Engine, item: Stripe.InvoiceItem): Stripe.Invoice | null {
  const invoice = typeof item.invoice === 'string' ? engine.state.invoices[item.invoice] : null;
  if (invoice && invoice.status !== 'draft') {
    throw unexpectedState(`The invoice item ${item.id} is on invoice ${invoice.id}, which is no longer a draft.`, 'invoice_not_editable');
  }
  return invoice ?? null;
}

function updateItem(engine: Engine, item: Stripe.InvoiceItem, p: Params): Stripe.InvoiceItem {
  p.only([
    'amount',
    'description',
    'metadata',
    'period',
    'price',
    'pricing',
    'quantity',
    'unit_amount_decimal',
    'discountable',
    'discounts',
    'tax_behavior',
    'tax_code',
    'tax_rates',
    'expand',
  ]);
  const invoice = requireEditable(engine, item);
  if (p.has('description')) item.description = p.str('description') ?? null;
  if (p.has('discountable')) item.discountable = p.bool('discountable') ?? true;
  item.metadata = mergeMetadata(item.metadata, p.metadata());
  if (p.has('amount') || p.has('price') || p.has('pricing') || p.has('quantity') || p.has('unit_amount_decimal')) {
    const priceId = item.pricing?.price_details?.price;
    const hasNewPrice = p.has('price') || p.has('pricing');
    if (!hasNewPrice && !p.has('amount') && typeof priceId === 'string') {
      const quantity = p.int('quantity') ?? item.quantity;
      const price = requirePrice(engine, priceId);
      item.quantity = quantity;
      item.quantity_decimal = wireDecimal(quantity);
      item.amount = (price.unit_amount ?? 0) * quantity;
    } else {
      const next = pricingOfUpdate(engine, p, item);
      item.amount = next.amount;
      item.quantity = next.quantity;
      item.quantity_decimal = wireDecimal(next.quantity);
    }
  }
  const period = p.obj('period');
  if (period) item.period = { start: period.int('start') ?? item.period.start, end: period.int('end') ?? item.period.end };
  if (invoice) {
    removeItemLine(engine, invoice, item.id);
    appendLines(engine, invoice, [itemLine(engine, item)]);
  }
  engine.store.touch();
  // This API version has no `invoiceitem.updated` event.
  return item;
}

function pricingOfUpdate(engine: Engine, p: Params, item: Stripe.InvoiceItem): { amount: number; quantity: number } {
  const priceId = p.obj('pricing')?.str('price') ?? p.str('price');
  const quantity = p.int('quantity') ?? item.quantity;
  if (priceId !== undefined) {
    const price = requirePrice(engine, priceId, p.has('price') ? 'price' : 'pricing[price]');
    if (price.currency !== item.currency)
      throw invalidParam('price', `The price is in ${price.currency}; the item is in ${item.currency}.`);
    item.pricing = {
      type: 'price_details',
      price_details: { price: price.id, product: typeof price.product === 'string' ? price.product : price.product.id },
      unit_amount_decimal: price.unit_amount_decimal,
    };
    return { amount: (price.unit_amount ?? 0) * quantity, quantity };
  }
  const amount = p.int('amount') ?? item.amount;
  item.pricing = null;
  return { amount, quantity };
}

function deleteItem(engine: Engine, item: Stripe.InvoiceItem): Stripe.DeletedInvoiceItem {
  const invoice = requireEditable(engine, item);
  if (invoice) removeItemLine(engine, invoice, item.id);
  delete engine.state.invoiceItems[item.id];
  engine.store.touch();
  engine.emit('invoiceitem.deleted', item);
  return { id: item.id, object: 'invoiceitem', deleted: true };
}

export const invoiceItemRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/invoiceitems',
    handler: ({ engine, params, expand }) => engine.render(createItem(engine, params), expand),
  },
  {
    method: 'GET',
    path: '/v1/invoiceitems',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'customer', 'invoice', 'pending', 'created']);
      const customer = params.str('customer');
      const invoice = params.str('invoice');
      const pending = params.bool('pending');
      const items = newestFirst(engine.state.invoiceItems).filter(
        (i) =>
          (customer === undefined || i.customer === customer) &&
          (invoice === undefined || i.invoice === invoice) &&
          (pending === undefined || (i.invoice === null) === pending) &&
          matchesCreated(params, i.date),
      );
      return paginate(engine, items, params, '/v1/invoiceitems');
    },
  },
  {
    method: 'GET',
    path: '/v1/invoiceitems/:id',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      return engine.render(requireInvoiceItem(engine, path.id ?? ''), expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/invoiceitems/:id',
    handler: ({ engine, path, params, expand }) =>
      engine.render(updateItem(engine, requireInvoiceItem(engine, path.id ?? ''), params), expand),
  },
  {
    method: 'DELETE',
    path: '/v1/invoiceitems/:id',
    handler: ({ engine, path }) => deleteItem(engine, requireInvoiceItem(engine, path.id ?? '')),
  },
];
