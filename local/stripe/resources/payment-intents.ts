import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route, RouteContext } from '../http/router.js';
import { StripeApiError, invalidParam, invalidRequest, resourceMissing, unexpectedState } from '../core/errors.js';
import { clientSecretFor, newId } from '../core/ids.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata, shippingOf, type Params } from '../core/params.js';
import { declineFor } from '../cards.js';
import { createCharge } from './charges.js';
import { disputeIfTestCard } from './disputes.js';
import { requireCustomer } from './customers.js';
import { cardBehaviour, createCardPaymentMethod, refuseIfDetached, resolvePaymentMethod } from './payment-methods.js';

const CONFIRMABLE = ['requires_payment_method', 'requires_confirmation', 'requires_action'];
const CANCELABLE = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing'];

export interface IntentInput {
  amount: number;
  currency: string;
  customer: string | null;
  description?: string | null;
  metadata?: Record<string, string>;
  setupFutureUsage?: Stripe.PaymentIntent.SetupFutureUsage | null;
  receiptEmail?: string | null;
  automaticPaymentMethods?: boolean;
  paymentMethodTypes?: string[];
  statementDescriptor?: string | null;
  statementDescriptorSuffix?: string | null;
  /** `manual`: a successful confirmation only authorizes (`requires_capture`); `capture` takes the money. */
  captureMethod?: Stripe.PaymentIntent.CaptureMethod;
}

export function requireIntent(engine: Engine, id: string, param = 'intent'): Stripe.PaymentIntent {
  const pi = engine.state.paymentIntents[id];
  if (!pi) throw resourceMissing('payment_intent', id, param);
  return pi;
}

function checkAmount(amount: number, currency: string): void {
  if (amount < 50 && currency === 'usd') {
    throw invalidRequest('Amount must be at least $0.50 usd', { code: 'amount_too_small', param: 'amount' });
  }
  if (amount > 99_999_999) {
    throw invalidRequest('Amount must be no more than $999,999.99', { code: 'amount_too_large', param: 'amount' });
  }
}

export function createIntent(engine: Engine, input: IntentInput): Stripe.PaymentIntent {
  checkAmount(input.amount, input.currency);
  const id = newId('pi');
  const pi: Stripe.PaymentIntent = {
    id,
    object: 'payment_intent',
    allowed_payment_method_types: null,
    amount: input.amount,
    amount_capturable: 0,
    amount_received: 0,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: input.automaticPaymentMethods ? { allow_redirects: 'always', enabled: true } : null,
    canceled_at: null,
    cancellation_reason: null,
    capture_method: input.captureMethod ?? 'automatic_async',
    client_secret: clientSecretFor(id),
    confirmation_method: 'automatic',
    created: engine.now(input.customer),
    currency: input.currency,
    customer: input.customer,
    customer_account: null,
    description: input.description ?? null,
    excluded_payment_method_types: null,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    managed_payments: null,
    metadata: input.metadata ?? {},
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' } },
    payment_method_types: input.paymentMethodTypes ?? ['card'],
    payment_record: null,
    processing: null,
    receipt_email: input.receiptEmail ?? null,
    review: null,
    setup_future_usage: input.setupFutureUsage ?? null,
    shipping: null,
    source: null,
    statement_descriptor: input.statementDescriptor ?? null,
    statement_descriptor_suffix: input.statementDescriptorSuffix ?? null,
    status: 'requires_payment_method',
    transfer_data: null,
    transfer_group: null,
  };
  engine.state.paymentIntents[id] = pi;
  engine.store.touch();
  engine.emit('payment_intent.created', pi);
  return pi;
}

export interface ConfirmOptions {
  paymentMethod?: string;
  offSession?: boolean;
  returnUrl?: string;
  /** Stripe.js confirms with `use_stripe_sdk`: 3-D Secure is then handled in the page. */
  useStripeSdk?: boolean;
  setupFutureUsage?: Stripe.PaymentIntent.SetupFutureUsage | null;
}

/** What a confirmation attempt ended in; a decline is data here, the route turns it into a 402. */
export type ConfirmResult = { ok: true; pi: Stripe.PaymentIntent } | { ok: false; pi: Stripe.PaymentIntent; error: StripeApiError };

function chargeSucceeded(engine: Engine, pi: Stripe.PaymentIntent, pm: Stripe.PaymentMethod): void {
  const charge = createCharge(engine, pi, pm, null);
  pi.latest_charge = charge.id;
  if (pi.capture_method === 'manual') return authorized(engine, pi, pm, charge);
  pi.status = 'succeeded';
  pi.amount_received = pi.amount;
  pi.last_payment_error = null;
  pi.next_action = null;
  pi.payment_method = pm.id;
  // `setup_future_usage` saves the card on the customer once a payment succeeds.
  const customer = typeof pi.customer === 'string' ? pi.customer : null;
  if (pi.setup_future_usage && customer && pm.customer === null) {
    pm.customer = customer;
    engine.emit('payment_method.attached', pm);
  }
  engine.store.touch();
  engine.emit('charge.succeeded', charge);
  engine.emit('payment_intent.succeeded', pi);
  engine.fire('intentSucceeded', pi, pm);
  disputeIfTestCard(engine, charge, pm);
}

/** Manual capture: the card is authorized, the money not yet taken. */
function authorized(engine: Engine, pi: Stripe.PaymentIntent, pm: Stripe.PaymentMethod, charge: Stripe.Charge): void {
  charge.captured = false;
  charge.amount_captured = 0;
  pi.status = 'requires_capture';
  pi.amount_capturable = pi.amount;
  pi.last_payment_error = null;
  pi.next_action = null;
  pi.payment_method = pm.id;
  engine.store.touch();
  engine.emit('charge.succeeded', charge);
  engine.emit('payment_intent.amount_capturable_updated', pi);
}

/** `POST /v1/payment_intents/:id/capture`: takes `amount_to_capture` (default all); the rest is released. */
export function captureIntent(engine: Engine, pi: Stripe.PaymentIntent, p: Params): Stripe.PaymentIntent {
  p.only(['amount_to_capture', 'metadata', 'statement_descriptor', 'statement_descriptor_suffix', 'final_capture', 'expand']);
  if (pi.status !== 'requires_capture') {
    throw unexpectedState(
      `This PaymentIntent could not be captured because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.`,
    );
  }
  const amount = p.int('amount_to_capture') ?? pi.amount_capturable;
  if (amount <= 0 || amount > pi.amount_capturable) {
    throw invalidParam('amount_to_capture', `amount_to_capture must be between 1 and the capturable amount (${pi.amount_capturable}).`);
  }
  const charge = typeof pi.latest_charge === 'string' ? engine.state.charges[pi.latest_charge] : undefined;
  const pm = typeof pi.payment_method === 'string' ? engine.state.paymentMethods[pi.payment_method] : undefined;
  if (!charge || !pm) throw unexpectedState('This PaymentIntent has no authorized charge to capture.');
  charge.captured = true;
  charge.amount_captured = amount;
  // What is not captured goes back to the card, shown as refunded on the charge (as Stripe does).
  charge.amount_refunded = charge.amount - amount;
  pi.metadata = mergeMetadata(pi.metadata, p.metadata());
  pi.status = 'succeeded';
  pi.amount_received = amount;
  pi.amount_capturable = 0;
  engine.store.touch();
  engine.emit('charge.captured', charge);
  engine.emit('payment_intent.succeeded', pi);
  engine.fire('intentSucceeded', pi, pm);
  disputeIfTestCard(engine, charge, pm);
  return pi;
}

function declineError(pi: Stripe.PaymentIntent, body: Stripe.PaymentIntent.LastPaymentError, status: number): StripeApiError {
  const { payment_intent: _ignored, ...rest } = body;
  const error = new StripeApiError(status, {
    ...rest,
    type: body.type === 'card_error' ? 'card_error' : 'invalid_request_error',
    message: body.message ?? 'Your card was declined.',
    payment_intent: pi,
  });
  error.keepChanges = true;
  return error;
}

function paymentFailed(
  engine: Engine,
  pi: Stripe.PaymentIntent,
  _pm: Stripe.PaymentMethod,
  lastError: Stripe.PaymentIntent.LastPaymentError,
): ConfirmResult {
  pi.status = 'requires_payment_method';
  pi.payment_method = null;
  pi.next_action = null;
  pi.last_payment_error = lastError;
  engine.store.touch();
  engine.emit('payment_intent.payment_failed', pi);
  engine.fire('intentFailed', pi);
  const status = lastError.type === 'card_error' ? 402 : 400;
  return { ok: false, pi, error: declineError(engine.render(pi), lastError, status) };
}

function chargeDeclined(
  engine: Engine,
  pi: Stripe.PaymentIntent,
  pm: Stripe.PaymentMethod,
  code: string,
  declineCode: string,
  message: string,
): ConfirmResult {
  const charge = createCharge(engine, pi, pm, { code, decline_code: declineCode, message });
  pi.latest_charge = charge.id;
  engine.emit('charge.failed', charge);
  return paymentFailed(engine, pi, pm, {
    type: 'card_error',
    code,
    decline_code: declineCode,
    message,
    charge: charge.id,
    payment_method: engine.render(pm),
    doc_url: `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`,
  });
}

function requireAction(engine: Engine, pi: Stripe.PaymentIntent, pm: Stripe.PaymentMethod, opts: ConfirmOptions): ConfirmResult {
  pi.payment_method = pm.id;
  pi.status = 'requires_action';
  const challenge = `${engine.baseUrl}/_local/3ds/${pi.id}?client_secret=${encodeURIComponent(pi.client_secret ?? '')}`;
  pi.next_action =
    opts.returnUrl && !opts.useStripeSdk
      ? {
          type: 'redirect_to_url',
          redirect_to_url: { url: `${challenge}&return_url=${encodeURIComponent(opts.returnUrl)}`, return_url: opts.returnUrl },
        }
      : { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: challenge, source: `src_local_${pi.id}` } };
  engine.store.touch();
  engine.emit('payment_intent.requires_action', pi);
  engine.fire('intentRequiresAction', pi);
  return { ok: true, pi };
}

/** Confirms `pi` with its test card's behaviour: success, decline, or 3-D Secure. */
export function confirmIntent(engine: Engine, pi: Stripe.PaymentIntent, opts: ConfirmOptions): ConfirmResult {
  if (!CONFIRMABLE.includes(pi.status)) {
    throw unexpectedState(
      `You cannot confirm this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method, requires_action.`,
    );
  }
  const pmId = opts.paymentMethod ?? (typeof pi.payment_method === 'string' ? pi.payment_method : undefined);
  if (pmId === undefined) {
    throw unexpectedState(
      "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
    );
  }
  const pm = resolvePaymentMethod(engine, pmId);
  refuseIfDetached(engine, pm);
  const customer = typeof pi.customer === 'string' ? pi.customer : null;
  if (pm.customer && customer && pm.customer !== customer) {
    throw invalidRequest('The provided PaymentMethod belongs to a different Customer.', { param: 'payment_method' });
  }
  if (opts.setupFutureUsage !== undefined) pi.setup_future_usage = opts.setupFutureUsage;
  pi.payment_method = pm.id;
  const behaviour = cardBehaviour(pm);
  const decline = declineFor(behaviour);
  if (decline) return chargeDeclined(engine, pi, pm, decline.code, decline.decline_code, decline.message);
  // 3155 asks for 3-D Secure on-session; off-session (a saved card) it goes through. 3184 asks
  // every time: off-session nobody is there to answer, so the charge is refused.
  if (behaviour === 'authenticate_always' && opts.offSession) {
    return chargeDeclined(
      engine,
      pi,
      pm,
      'authentication_required',
      'authentication_required',
      'Your card was declined. This transaction requires authentication.',
    );
  }
  if ((behaviour === 'authenticate' || behaviour === 'authenticate_always') && !opts.offSession) {
    return requireAction(engine, pi, pm, opts);
  }
  chargeSucceeded(engine, pi, pm);
  return { ok: true, pi };
}

/** The outcome of the 3-D Secure challenge (the stand-in's Complete/Fail dialog). */
export function completeAuthentication(engine: Engine, pi: Stripe.PaymentIntent, outcome: 'succeed' | 'fail'): ConfirmResult {
  if (pi.status !== 'requires_action') {
    throw unexpectedState(`This PaymentIntent has a status of ${pi.status}; there is no authentication to complete.`);
  }
  const pm = typeof pi.payment_method === 'string' ? engine.state.paymentMethods[pi.payment_method] : undefined;
  if (!pm) throw unexpectedState('This PaymentIntent has no payment method to authenticate.');
  if (outcome === 'succeed') {
    chargeSucceeded(engine, pi, pm);
    return { ok: true, pi };
  }
  return paymentFailed(engine, pi, pm, {
    type: 'invalid_request_error',
    code: 'payment_intent_authentication_failure',
    message: 'We are unable to authenticate your payment method. Please choose a different payment method and try again.',
    payment_method: engine.render(pm),
    doc_url: 'https://stripe.com/docs/error-codes/payment-intent-authentication-failure',
  });
}

export function cancelIntent(engine: Engine, pi: Stripe.PaymentIntent, reason: string | undefined): Stripe.PaymentIntent {
  if (!CANCELABLE.includes(pi.status)) {
    throw unexpectedState(
      `You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(', ')}.`,
    );
  }
  const wasAuthorized = pi.status === 'requires_capture';
  pi.status = 'canceled';
  pi.canceled_at = engine.now(typeof pi.customer === 'string' ? pi.customer : null);
  pi.amount_capturable = 0;
  const charge = wasAuthorized && typeof pi.latest_charge === 'string' ? engine.state.charges[pi.latest_charge] : undefined;
  if (charge) {
    // Canceling an authorization releases it: the uncaptured charge is refunded in full.
    charge.amount_refunded = charge.amount;
    charge.refunded = true;
    engine.emit('charge.refunded', charge);
  }
  pi.cancellation_reason = reason ?? null;
  pi.next_action = null;
  engine.store.touch();
  engine.emit('payment_intent.canceled', pi);
  return pi;
}

/** With a publishable key, the intent's client secret is the credential. */
function checkClientSecret(rc: RouteContext, pi: Stripe.PaymentIntent): void {
  if (rc.auth !== 'publishable') return;
  const secret = rc.params.str('client_secret');
  if (secret === undefined)
    throw invalidRequest('Missing required param: client_secret.', { code: 'parameter_missing', param: 'client_secret' });
  if (secret !== pi.client_secret) {
    throw invalidRequest('The client_secret provided does not match the client_secret associated with the PaymentIntent.', {
      param: 'client_secret',
    });
  }
}

function setupFutureUsage(p: Params): Stripe.PaymentIntent.SetupFutureUsage | null | undefined {
  if (p.isEmpty('setup_future_usage')) return null;
  return p.oneOf('setup_future_usage', ['off_session', 'on_session'] as const);
}

/** `payment_method_data[type]=card&payment_method_data[card][number]=...` creates the card inline. */
function inlinePaymentMethod(engine: Engine, p: Params): string | undefined {
  const data = p.obj('payment_method_data');
  if (!data) return p.str('payment_method');
  const card = data.obj('card');
  if (!card) throw invalidParam('payment_method_data[card]', 'Missing card details.');
  const token = card.str('token');
  if (token !== undefined) return resolvePaymentMethod(engine, token, 'payment_method_data[card][token]').id;
  return createCardPaymentMethod(
    engine,
    { number: card.reqStr('number'), expMonth: card.reqInt('exp_month'), expYear: card.reqInt('exp_year') },
    data.obj('billing_details'),
  ).id;
}

const CREATE_PARAMS = [
  'amount',
  'currency',
  'customer',
  'description',
  'metadata',
  'payment_method',
  'payment_method_types',
  'automatic_payment_methods',
  'confirm',
  'off_session',
  'setup_future_usage',
  'receipt_email',
  'statement_descriptor',
  'statement_descriptor_suffix',
  'return_url',
  'capture_method',
  'confirmation_method',
  'use_stripe_sdk',
  'payment_method_options',
  'mandate_data',
  'error_on_requires_action',
  'shipping',
  'transfer_group',
  'radar_options',
  'payment_method_configuration',
  'payment_method_data',
  'expand',
] as const;

/** Documented fields that are stored as given (no behaviour behind them here). */
function applyStored(pi: Stripe.PaymentIntent, p: Params): void {
  const shipping = shippingOf(p);
  if (shipping !== undefined) pi.shipping = shipping;
  if (p.has('transfer_group')) pi.transfer_group = p.str('transfer_group') ?? null;
}

function createFromParams(rc: RouteContext): Stripe.PaymentIntent {
  const { engine, params: p } = rc;
  p.only(CREATE_PARAMS);
  const customer = p.str('customer');
  if (customer !== undefined) requireCustomer(engine, customer, 'customer');
  const capture = p.oneOf('capture_method', ['automatic', 'automatic_async', 'manual'] as const);
  const metadata = p.metadata();
  const pi = createIntent(engine, {
    amount: p.reqInt('amount'),
    currency: p.reqStr('currency').toLowerCase(),
    customer: customer ?? null,
    description: p.str('description') ?? null,
    metadata: metadata === 'unset' ? {} : metadata,
    setupFutureUsage: setupFutureUsage(p) ?? null,
    receiptEmail: p.str('receipt_email') ?? null,
    automaticPaymentMethods: p.obj('automatic_payment_methods')?.bool('enabled') ?? false,
    paymentMethodTypes: p.strList('payment_method_types') ?? ['card'],
    statementDescriptor: p.str('statement_descriptor') ?? null,
    statementDescriptorSuffix: p.str('statement_descriptor_suffix') ?? null,
    ...(capture ? { captureMethod: capture } : {}),
  });
  applyStored(pi, p);
  const pmId = p.str('payment_method') ?? inlinePaymentMethod(engine, p);
  if (pmId !== undefined) {
    pi.payment_method = resolvePaymentMethod(engine, pmId).id;
    pi.status = 'requires_confirmation';
  }
  if (p.bool('confirm')) return finishConfirm(confirmIntent(engine, pi, confirmOptions(p)));
  return pi;
}

function confirmOptions(p: Params): ConfirmOptions {
  const offSession = p.str('off_session');
  const sfu = setupFutureUsage(p);
  return {
    ...(offSession !== undefined ? { offSession: offSession === 'true' || offSession === 'one_off' || offSession === 'recurring' } : {}),
    ...(p.str('return_url') !== undefined ? { returnUrl: p.reqStr('return_url') } : {}),
    ...(p.bool('use_stripe_sdk') !== undefined ? { useStripeSdk: p.bool('use_stripe_sdk') === true } : {}),
    ...(sfu !== undefined ? { setupFutureUsage: sfu } : {}),
  };
}

function finishConfirm(result: ConfirmResult): Stripe.PaymentIntent {
  if (!result.ok) throw result.error;
  return result.pi;
}

const UPDATABLE_WHEN_DONE = ['metadata', 'description', 'receipt_email', 'expand'];

function updateFromParams(rc: RouteContext): Stripe.PaymentIntent {
  const { engine, params: p } = rc;
  p.only([
    'amount',
    'currency',
    'customer',
    'description',
    'metadata',
    'payment_method',
    'payment_method_types',
    'receipt_email',
    'setup_future_usage',
    'statement_descriptor',
    'statement_descriptor_suffix',
    'shipping',
    'transfer_group',
    'payment_method_options',
    'payment_method_configuration',
    'capture_method',
    'expand',
  ]);
  const pi = requireIntent(engine, rc.path.id ?? '');
  const done = ['succeeded', 'canceled', 'processing'].includes(pi.status);
  const blocked = Object.keys(p.raw).find((k) => !UPDATABLE_WHEN_DONE.includes(k));
  if (done && blocked) {
    throw unexpectedState(
      `You cannot update this PaymentIntent because it has a status of ${pi.status}. Updates are only allowed when the PaymentIntent has a status of requires_payment_method, requires_confirmation, or requires_action.`,
    );
  }
  if (p.has('amount')) pi.amount = p.reqInt('amount');
  if (p.has('currency')) pi.currency = p.reqStr('currency').toLowerCase();
  checkAmount(pi.amount, pi.currency);
  if (p.has('customer')) pi.customer = requireCustomer(engine, p.reqStr('customer'), 'customer').id;
  if (p.has('description')) pi.description = p.str('description') ?? null;
  if (p.has('receipt_email')) pi.receipt_email = p.str('receipt_email') ?? null;
  if (p.has('statement_descriptor')) pi.statement_descriptor = p.str('statement_descriptor') ?? null;
  if (p.has('statement_descriptor_suffix')) pi.statement_descriptor_suffix = p.str('statement_descriptor_suffix') ?? null;
  const sfu = setupFutureUsage(p);
  if (sfu !== undefined) pi.setup_future_usage = sfu;
  if (p.has('payment_method_types')) pi.payment_method_types = p.strList('payment_method_types') ?? ['card'];
  const capture = p.oneOf('capture_method', ['automatic', 'automatic_async', 'manual'] as const);
  if (capture) pi.capture_method = capture;
  pi.metadata = mergeMetadata(pi.metadata, p.metadata());
  applyStored(pi, p);
  const pmId = p.str('payment_method');
  if (pmId !== undefined) {
    pi.payment_method = resolvePaymentMethod(engine, pmId).id;
    pi.status = 'requires_confirmation';
  }
  engine.store.touch();
  return pi;
}

export const paymentIntentRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/payment_intents',
    handler: (rc) => rc.engine.render(createFromParams(rc), rc.expand),
  },
  {
    method: 'GET',
    path: '/v1/payment_intents',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'customer', 'created']);
      const customer = params.str('customer');
      const items = newestFirst(engine.state.paymentIntents).filter(
        (pi) => (customer === undefined || pi.customer === customer) && matchesCreated(params, pi.created),
      );
      return paginate(engine, items, params, '/v1/payment_intents');
    },
  },
  {
    method: 'GET',
    path: '/v1/payment_intents/:id',
    publishable: true,
    handler: (rc) => {
      rc.params.only(['expand', 'client_secret']);
      const pi = requireIntent(rc.engine, rc.path.id ?? '');
      checkClientSecret(rc, pi);
      return rc.engine.render(pi, rc.expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/payment_intents/:id',
    handler: (rc) => rc.engine.render(updateFromParams(rc), rc.expand),
  },
  {
    method: 'POST',
    path: '/v1/payment_intents/:id/confirm',
    publishable: true,
    handler: (rc) => {
      const { engine, params: p } = rc;
      p.only([
        'payment_method',
        'payment_method_data',
        'return_url',
        'off_session',
        'setup_future_usage',
        'receipt_email',
        'use_stripe_sdk',
        'client_secret',
        'mandate_data',
        'payment_method_options',
        'error_on_requires_action',
        'expand',
        'payment_method_types',
        'shipping',
        'key',
      ]);
      const pi = requireIntent(engine, rc.path.id ?? '');
      checkClientSecret(rc, pi);
      if (p.has('receipt_email')) pi.receipt_email = p.str('receipt_email') ?? null;
      const shipping = shippingOf(p);
      if (shipping !== undefined) pi.shipping = shipping;
      const pmId = inlinePaymentMethod(engine, p);
      const opts = { ...confirmOptions(p), ...(pmId !== undefined ? { paymentMethod: pmId } : {}) };
      return engine.render(finishConfirm(confirmIntent(engine, pi, opts)), rc.expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/payment_intents/:id/capture',
    handler: ({ engine, params, path, expand }) =>
      engine.render(captureIntent(engine, requireIntent(engine, path.id ?? ''), params), expand),
  },
  {
    method: 'POST',
    path: '/v1/payment_intents/:id/cancel',
    handler: ({ engine, params, path, expand }) => {
      params.only(['cancellation_reason', 'expand']);
      const pi = requireIntent(engine, path.id ?? '');
      if (engine.state.links.invoiceOfIntent[pi.id]) {
        throw unexpectedState('You cannot cancel this PaymentIntent because it was created by an invoice. Void the invoice instead.');
      }
      const reason = params.oneOf('cancellation_reason', ['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'] as const);
      return engine.render(cancelIntent(engine, pi, reason), expand);
    },
  },
];
