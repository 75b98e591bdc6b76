import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { StripeApiError, invalidRequest, resourceMissing } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { LIST_PARAMS, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata, type Params } from '../core/params.js';
import { behaviourOf, brandOf, cardByNumber, cardByToken, declineFor, fingerprintOf, luhnValid, type TestCard } from '../cards.js';
import { requireCustomer } from './lookup.js';

const EMPTY_ADDRESS: Stripe.Address = {
  city: null,
  country: null,
  line1: null,
  line2: null,
  postal_code: null,
  state: null,
};

export function cardError(code: string, message: string, extra: { decline_code?: string; param?: string } = {}): StripeApiError {
  return new StripeApiError(402, {
    type: 'card_error',
    code,
    message,
    ...extra,
    doc_url: `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`,
  });
}

function billingDetails(p: Params | undefined): Stripe.PaymentMethod.BillingDetails {
  const address = p?.obj('address');
  return {
    address: {
      ...EMPTY_ADDRESS,
      ...(address
        ? {
            city: address.str('city') ?? null,
            country: address.str('country') ?? null,
            line1: address.str('line1') ?? null,
            line2: address.str('line2') ?? null,
            postal_code: address.str('postal_code') ?? null,
            state: address.str('state') ?? null,
          }
        : {}),
    },
    email: p?.str('email') ?? null,
    name: p?.str('name') ?? null,
    phone: p?.str('phone') ?? null,
    tax_id: null,
  };
}

interface CardInput {
  number: string;
  expMonth: number;
  expYear: number;
  cvc?: string;
}

export function createCardPaymentMethod(
  engine: Engine,
  card: CardInput,
  billing?: Params,
  metadata?: Record<string, string>,
): Stripe.PaymentMethod {
  const number = card.number.replace(/[\s-]/g, '');
  if (!luhnValid(number)) throw cardError('incorrect_number', 'Your card number is incorrect.', { param: 'number' });
  if (card.expMonth < 1 || card.expMonth > 12) {
    throw cardError('invalid_expiry_month', "Your card's expiration month is invalid.", { param: 'exp_month' });
  }
  const year = card.expYear < 100 ? 2000 + card.expYear : card.expYear;
  const now = new Date();
  if (year < now.getUTCFullYear() || (year === now.getUTCFullYear() && card.expMonth < now.getUTCMonth() + 1)) {
    throw cardError('invalid_expiry_year', "Your card's expiration year is invalid.", { param: 'exp_year' });
  }
  const brand = brandOf(number);
  const pm: Stripe.PaymentMethod = {
    id: newId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: billingDetails(billing),
    card: {
      brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: card.cvc ? 'pass' : null },
      country: 'US',
      display_brand: brand,
      exp_month: card.expMonth,
      exp_year: year,
      fingerprint: fingerprintOf(number),
      funding: cardByNumber(number)?.funding ?? 'credit',
      generated_from: null,
      last4: number.slice(-4),
      networks: { available: [brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created: engine.now(),
    customer: null,
    customer_account: null,
    livemode: false,
    metadata: metadata ?? {},
    type: 'card',
  };
  engine.state.paymentMethods[pm.id] = pm;
  engine.store.touch();
  return pm;
}

function fromTestCard(engine: Engine, test: TestCard, billing?: Params, metadata?: Record<string, string>): Stripe.PaymentMethod {
  return createCardPaymentMethod(
    engine,
    { number: test.number, expMonth: 12, expYear: new Date().getUTCFullYear() + 3, cvc: '123' },
    billing,
    metadata,
  );
}

/**
 * A stored PaymentMethod, or a fresh one for a test id such as `pm_card_visa`
 * (Stripe turns each use of a test id into a new `pm_...`; the same test id
 * named twice in one request is one PaymentMethod).
 */
export function resolvePaymentMethod(engine: Engine, id: string, param = 'payment_method'): Stripe.PaymentMethod {
  const test = cardByToken(id);
  if (test) return engine.memo(`test-payment-method:${id}`, () => fromTestCard(engine, test));
  const pm = engine.state.paymentMethods[id];
  if (!pm) throw resourceMissing('PaymentMethod', id, param);
  return pm;
}

export function cardBehaviour(pm: Stripe.PaymentMethod) {
  return behaviourOf(pm.card?.fingerprint);
}

export function attachPaymentMethod(engine: Engine, pm: Stripe.PaymentMethod, customerId: string): Stripe.PaymentMethod {
  requireCustomer(engine, customerId, 'customer');
  if (pm.customer === customerId) return pm;
  refuseIfDetached(engine, pm);
  if (pm.customer) {
    throw invalidRequest('The payment method you provided has already been attached to a customer.', {
      code: 'payment_method_unexpected_state',
    });
  }
  // Attaching runs a card check: cards that decline every attempt fail here,
  // while 0341 passes and only fails later charges.
  const behaviour = cardBehaviour(pm);
  const decline = behaviour === 'attach_then_fail' ? null : declineFor(behaviour);
  if (decline) throw cardError(decline.code, decline.message, { decline_code: decline.decline_code });
  pm.customer = customerId;
  engine.store.touch();
  engine.emit('payment_method.attached', pm);
  return pm;
}

/** Stripe's refusal of a PaymentMethod that was detached from its customer: it may not be used again. */
export function refuseIfDetached(engine: Engine, pm: Stripe.PaymentMethod): void {
  if (engine.state.links.detachedPaymentMethods[pm.id]) {
    throw invalidRequest(
      'The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.',
      { param: 'payment_method' },
    );
  }
}

export function detachPaymentMethod(engine: Engine, pm: Stripe.PaymentMethod): Stripe.PaymentMethod {
  if (!pm.customer) {
    throw invalidRequest('The payment method you provided is not attached to a customer so detachment is impossible.', {
      code: 'payment_method_unexpected_state',
    });
  }
  const customer = typeof pm.customer === 'string' ? engine.state.customers[pm.customer] : undefined;
  if (customer && customer.invoice_settings.default_payment_method === pm.id) {
    customer.invoice_settings.default_payment_method = null;
  }
  // A detached card no longer pays the subscriptions it was the default of (they fall back to the customer's default).
  for (const sub of Object.values(engine.state.subscriptions)) {
    if (sub.default_payment_method === pm.id) sub.default_payment_method = null;
  }
  pm.customer = null;
  engine.state.links.detachedPaymentMethods[pm.id] = true;
  engine.store.touch();
  engine.emit('payment_method.detached', pm);
  return pm;
}

function createFromParams(engine: Engine, p: Params): Stripe.PaymentMethod {
  p.only(['type', 'card', 'billing_details', 'metadata', 'expand', 'payment_method', 'customer', 'allow_redisplay']);
  const type = p.reqStr('type');
  if (type !== 'card') throw invalidRequest(`The local Stripe supports only card payment methods, not '${type}'.`, { param: 'type' });
  const card = p.obj('card');
  if (!card) throw invalidRequest('Missing required param: card.', { code: 'parameter_missing', param: 'card' });
  const metadata = p.metadata();
  // `card[token]=tok_visa`: a PaymentMethod from a test token, as Stripe.js would send it.
  const token = card.str('token');
  if (token !== undefined) {
    card.only(['token']);
    const test = cardByToken(token);
    if (!test || !token.startsWith('tok_')) throw resourceMissing('token', token, 'card[token]');
    return fromTestCard(engine, test, p.obj('billing_details'), metadata === 'unset' ? undefined : metadata);
  }
  return createCardPaymentMethod(
    engine,
    {
      number: card.reqStr('number'),
      expMonth: card.reqInt('exp_month'),
      expYear: card.reqInt('exp_year'),
      ...(card.str('cvc') ? { cvc: card.reqStr('cvc') } : {}),
    },
    p.obj('billing_details'),
    metadata === 'unset' ? undefined : metadata,
  );
}

function listFor(engine: Engine, customer: string | undefined): Stripe.PaymentMethod[] {
  return newestFirst(engine.state.paymentMethods).filter((pm) =>
    customer === undefined ? pm.customer !== null : pm.customer === customer,
  );
}

export const paymentMethodRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/payment_methods',
    publishable: true,
    handler: ({ engine, params, expand }) => engine.render(createFromParams(engine, params), expand),
  },
  {
    method: 'GET',
    path: '/v1/payment_methods',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'customer', 'type']);
      return paginate(engine, listFor(engine, params.str('customer')), params, '/v1/payment_methods');
    },
  },
  {
    method: 'GET',
    path: '/v1/payment_methods/:id',
    handler: ({ engine, path, expand }) => engine.render(resolvePaymentMethod(engine, path.id ?? '', 'id'), expand),
  },
  {
    method: 'POST',
    path: '/v1/payment_methods/:id',
    handler: ({ engine, path, params, expand }) => {
      params.only(['metadata', 'billing_details', 'expand', 'allow_redisplay']);
      const pm = resolvePaymentMethod(engine, path.id ?? '', 'id');
      pm.metadata = mergeMetadata(pm.metadata, params.metadata());
      const billing = params.obj('billing_details');
      if (billing) pm.billing_details = { ...pm.billing_details, ...stripNulls(billingDetails(billing)) };
      engine.store.touch();
      engine.emit('payment_method.updated', pm);
      return engine.render(pm, expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/payment_methods/:id/attach',
    handler: ({ engine, path, params, expand }) => {
      params.only(['customer', 'expand']);
      const pm = resolvePaymentMethod(engine, path.id ?? '', 'id');
      return engine.render(attachPaymentMethod(engine, pm, params.reqStr('customer')), expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/payment_methods/:id/detach',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      return engine.render(detachPaymentMethod(engine, resolvePaymentMethod(engine, path.id ?? '', 'id')), expand);
    },
  },
  {
    method: 'GET',
    path: '/v1/customers/:customer/payment_methods',
    handler: ({ engine, params, path }) => {
      params.only([...LIST_PARAMS, 'type', 'allow_redisplay']);
      const customer = requireCustomer(engine, path.customer ?? '', 'customer');
      return paginate(engine, listFor(engine, customer.id), params, `/v1/customers/${customer.id}/payment_methods`);
    },
  },
  {
    method: 'GET',
    path: '/v1/customers/:customer/payment_methods/:id',
    handler: ({ engine, path, expand }) => {
      const pm = engine.state.paymentMethods[path.id ?? ''];
      if (!pm || pm.customer !== path.customer) throw resourceMissing('PaymentMethod', path.id ?? '');
      return engine.render(pm, expand);
    },
  },
];

function stripNulls<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null)) as Partial<T>;
}
