import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { invalidParam, invalidRequest, resourceMissing } from '../core/errors.js';
import { newId, randomToken } from '../core/ids.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { Params, addressOf, mergeMetadata, shippingOf } from '../core/params.js';
import { cardByToken } from '../cards.js';
import { requireCustomer } from './lookup.js';
import { attachPaymentMethod, resolvePaymentMethod } from './payment-methods.js';

export { requireCustomer };

const WRITABLE = [
  'email',
  'name',
  'description',
  'phone',
  'metadata',
  'invoice_settings',
  'preferred_locales',
  'address',
  'balance',
  'shipping',
  'tax_exempt',
  'invoice_prefix',
  'next_invoice_sequence',
  'tax',
  'expand',
] as const;

function setDefaultPaymentMethod(engine: Engine, customer: Stripe.Customer, p: Params): void {
  const settings = p.obj('invoice_settings');
  if (!settings?.has('default_payment_method')) return;
  const pmId = settings.str('default_payment_method');
  if (pmId === undefined) {
    customer.invoice_settings.default_payment_method = null;
    return;
  }
  // A test id (`pm_card_visa`) names the PaymentMethod made from it earlier in this request, if any.
  const pm = cardByToken(pmId) ? resolvePaymentMethod(engine, pmId) : engine.state.paymentMethods[pmId];
  if (!pm || pm.customer !== customer.id) {
    throw invalidRequest(
      `No such PaymentMethod: '${pmId}'; It's possible this PaymentMethod exists on one of your connected accounts, in which case you should retry this request on that connected account. The payment method must be attached to the customer.`,
      { code: 'resource_missing', param: 'invoice_settings[default_payment_method]' },
    );
  }
  customer.invoice_settings.default_payment_method = pm.id;
}

function applyWritable(customer: Stripe.Customer, p: Params): void {
  if (p.has('email')) customer.email = p.str('email') ?? null;
  if (p.has('name')) customer.name = p.str('name') ?? null;
  if (p.has('description')) customer.description = p.str('description') ?? null;
  if (p.has('phone')) customer.phone = p.str('phone') ?? null;
  if (p.has('balance')) customer.balance = p.int('balance') ?? 0;
  if (p.has('preferred_locales')) customer.preferred_locales = p.strList('preferred_locales') ?? [];
  if (p.has('address')) customer.address = p.isEmpty('address') ? null : addressOf(p.obj('address') ?? new Params({}));
  const shipping = shippingOf(p);
  if (shipping !== undefined) customer.shipping = shipping;
  const exempt = p.oneOf('tax_exempt', ['exempt', 'none', 'reverse'] as const);
  if (exempt) customer.tax_exempt = exempt;
  if (p.has('invoice_prefix')) {
    const prefix = p.reqStr('invoice_prefix');
    if (!/^[A-Z0-9]{3,12}$/.test(prefix)) throw invalidParam('invoice_prefix', 'invoice_prefix must be 3-12 uppercase letters or digits.');
    customer.invoice_prefix = prefix;
  }
  if (p.has('next_invoice_sequence')) customer.next_invoice_sequence = p.reqInt('next_invoice_sequence');
  const settings = p.obj('invoice_settings');
  settings?.only(['default_payment_method', 'custom_fields', 'footer', 'rendering_options']);
  if (settings?.has('footer')) customer.invoice_settings.footer = settings.str('footer') ?? null;
  if (settings?.has('custom_fields')) {
    customer.invoice_settings.custom_fields = settings.isEmpty('custom_fields')
      ? null
      : (settings.list('custom_fields') ?? []).map((f) => ({ name: f.reqStr('name'), value: f.reqStr('value') }));
  }
  customer.metadata = mergeMetadata(customer.metadata, p.metadata());
}

export function createCustomer(engine: Engine, p: Params): Stripe.Customer {
  p.only([...WRITABLE, 'payment_method', 'test_clock']);
  const clockId = p.str('test_clock');
  if (clockId !== undefined && !engine.state.testClocks[clockId]) {
    throw resourceMissing('test_clock', clockId, 'test_clock');
  }
  const id = newId('cus');
  const customer: Stripe.Customer = {
    id,
    object: 'customer',
    address: null,
    balance: 0,
    created: 0,
    currency: null,
    customer_account: null,
    default_source: null,
    delinquent: false,
    description: null,
    discount: null,
    email: null,
    invoice_prefix: randomToken(8).toUpperCase(),
    invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
    livemode: false,
    metadata: {},
    name: null,
    next_invoice_sequence: 1,
    phone: null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: clockId ?? null,
  };
  engine.state.customers[id] = customer;
  customer.created = engine.now(id);
  applyWritable(customer, p);
  const pmId = p.str('payment_method');
  try {
    if (pmId !== undefined) attachPaymentMethod(engine, resolvePaymentMethod(engine, pmId), id);
    setDefaultPaymentMethod(engine, customer, p);
  } catch (e) {
    delete engine.state.customers[id];
    throw e;
  }
  engine.store.touch();
  engine.emit('customer.created', customer);
  return customer;
}

/** Top-level fields that changed, with their old values (an event's `previous_attributes`). */
export function diff<T extends object>(before: T, after: T): Record<string, unknown> {
  const prev: Record<string, unknown> = {};
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  for (const key of Object.keys(a)) {
    if (JSON.stringify(b[key]) !== JSON.stringify(a[key])) prev[key] = b[key] ?? null;
  }
  return prev;
}

export function updateCustomer(engine: Engine, customer: Stripe.Customer, p: Params): Stripe.Customer {
  p.only([...WRITABLE, 'default_source']);
  const before = structuredClone(customer);
  applyWritable(customer, p);
  setDefaultPaymentMethod(engine, customer, p);
  engine.store.touch();
  const prev = diff(before, customer);
  if (Object.keys(prev).length > 0) engine.emit('customer.updated', customer, prev);
  return customer;
}

function deleteCustomer(engine: Engine, customer: Stripe.Customer): Stripe.DeletedCustomer {
  // Deleting a customer ends its subscriptions immediately (billing's hook).
  engine.fire('customerDeleting', customer);
  delete engine.state.customers[customer.id];
  engine.state.deletedCustomers[customer.id] = true;
  engine.store.touch();
  engine.emit('customer.deleted', customer);
  return { id: customer.id, object: 'customer', deleted: true };
}

function retrieve(engine: Engine, id: string): Stripe.Customer | Stripe.DeletedCustomer {
  if (engine.state.deletedCustomers[id]) return { id, object: 'customer', deleted: true };
  return requireCustomer(engine, id);
}

export const customerRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/customers',
    handler: ({ engine, params, expand }) => engine.render(createCustomer(engine, params), expand),
  },
  {
    method: 'GET',
    path: '/v1/customers',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'email', 'created', 'test_clock']);
      const email = params.str('email');
      const clock = params.str('test_clock');
      const items = newestFirst(engine.state.customers).filter(
        (c) =>
          (email === undefined || c.email === email) &&
          (clock === undefined || c.test_clock === clock) &&
          matchesCreated(params, c.created),
      );
      return paginate(engine, items, params, '/v1/customers');
    },
  },
  {
    method: 'GET',
    path: '/v1/customers/:id',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      return engine.render(retrieve(engine, path.id ?? ''), expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/customers/:id',
    handler: ({ engine, path, params, expand }) =>
      engine.render(updateCustomer(engine, requireCustomer(engine, path.id ?? ''), params), expand),
  },
  {
    method: 'DELETE',
    path: '/v1/customers/:id',
    handler: ({ engine, path }) => deleteCustomer(engine, requireCustomer(engine, path.id ?? '')),
  },
];
