// SetupIntents: saving a card for later without a payment (a "manage your
// cards" page). Confirming runs the test card's setup behaviour: 4242 succeeds
// and attaches the card to the customer, 3155 asks for 3-D Secure, declining
// cards fail with `setup_intent.setup_failed`.
import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route, RouteContext } from '../http/router.js';
import { StripeApiError, invalidParam, invalidRequest, resourceMissing, unexpectedState } from '../core/errors.js';
import { clientSecretFor, newId } from '../core/ids.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata, type Params } from '../core/params.js';
import { cardByToken, declineFor } from '../cards.js';
import { requireCustomer } from './customers.js';
import { cardBehaviour, createCardPaymentMethod, resolvePaymentMethod } from './payment-methods.js';

const CONFIRMABLE = ['requires_payment_method', 'requires_confirmation', 'requires_action'];
const CANCELABLE = ['requires_payment_method', 'requires_confirmation', 'requires_action'];

function setupIntents(engine: Engine): Record<string, Stripe.SetupIntent> {
  return engine.state.setupIntents;
}

export function requireSetupIntent(engine: Engine, id: string, param = 'intent'): Stripe.SetupIntent {
  const seti = setupIntents(engine)[id];
  if (!seti) throw resourceMissing('setup_intent', id, param);
  return seti;
}

function customerId(seti: Stripe.SetupIntent): string | null {
  return typeof seti.customer === 'string' ? seti.customer : (seti.customer?.id ?? null);
}

function stateError(seti: Stripe.SetupIntent, action: string, allowed: string[]): StripeApiError {
  return unexpectedState(
    `You cannot ${action} this SetupIntent because it has a status of ${seti.status}. Only a SetupIntent with one of the following statuses may be ${action === 'cancel' ? 'canceled' : 'confirmed'}: ${allowed.join(', ')}.`,
    'setup_intent_unexpected_state',
  );
}

function usageOf(p: Params): Stripe.SetupIntent['usage'] | undefined {
  return p.oneOf('usage', ['off_session', 'on_session'] as const);
}

/** A PaymentMethod named by `payment_method`, or made from `payment_method_data[card]`; validated, nothing stored yet for a test id. */
function paymentMethodParam(engine: Engine, p: Params): string | undefined {
  const data = p.obj('payment_method_data');
  if (!data) return p.str('payment_method');
  data.only(['type', 'card', 'billing_details', 'metadata', 'allow_redisplay']);
  const type = data.str('type') ?? 'card';
  if (type !== 'card')
    throw invalidParam('payment_method_data[type]', `The local Stripe supports only card payment methods, not '${type}'.`);
  const card = data.obj('card');
  if (!card) throw invalidParam('payment_method_data[card]', 'Missing card details.');
  return createCardPaymentMethod(
    engine,
    {
      number: card.reqStr('number'),
      expMonth: card.reqInt('exp_month'),
      expYear: card.reqInt('exp_year'),
      ...(card.str('cvc') !== undefined ? { cvc: card.reqStr('cvc') } : {}),
    },
    data.obj('billing_details'),
  ).id;
}

/** Checks a PaymentMethod id can be used by `seti` (exists, not someone else's). */
function checkPaymentMethod(engine: Engine, seti: { customer: string | null }, id: string): void {
  // A test id (pm_card_visa) becomes a fresh PaymentMethod only once the request goes through.
  if (cardByToken(id)) return;
  const pm = engine.state.paymentMethods[id];
  if (!pm) throw resourceMissing('PaymentMethod', id, 'payment_method');
  if (pm.customer && seti.customer && pm.customer !== seti.customer) {
    throw invalidRequest('The provided PaymentMethod belongs to a different Customer.', { param: 'payment_method' });
  }
  if (pm.customer && !seti.customer) {
    throw invalidRequest('The provided PaymentMethod was previously attached to a Customer; pass that customer with it.', {
      param: 'payment_method',
    });
  }
}

interface SetupInput {
  customer: string | null;
  description: string | null;
  metadata: Record<string, string>;
  usage: Stripe.SetupIntent['usage'];
  paymentMethodTypes: string[];
  automaticPaymentMethods: boolean;
}

function buildSetupIntent(engine: Engine, input: SetupInput): Stripe.SetupIntent {
  const id = newId('seti');
  return {
    id,
    object: 'setup_intent',
    allowed_payment_method_types: null,
    application: null,
    automatic_payment_methods: input.automaticPaymentMethods ? { allow_redirects: 'always', enabled: true } : null,
    cancellation_reason: null,
    client_secret: clientSecretFor(id),
    created: engine.now(input.customer),
    customer: input.customer,
    customer_account: null,
    description: input.description,
    excluded_payment_method_types: null,
    flow_directions: null,
    last_setup_error: null,
    latest_attempt: null,
    livemode: false,
    mandate: null,
    metadata: input.metadata,
    next_action: null,
    on_behalf_of: null,
    payment_method: null,
    payment_method_configuration_details: null,
    payment_method_options: { card: { mandate_options: null, network: null, request_three_d_secure: 'automatic' } },
    payment_method_types: input.paymentMethodTypes,
    single_use_mandate: null,
    status: 'requires_payment_method',
    usage: input.usage,
  };
}

export interface SetupConfirmOptions {
  paymentMethod?: string;
  returnUrl?: string;
  useStripeSdk?: boolean;
}

export type SetupResult = { ok: true; seti: Stripe.SetupIntent } | { ok: false; seti: Stripe.SetupIntent; error: StripeApiError };

function succeeded(engine: Engine, seti: Stripe.SetupIntent, pm: Stripe.PaymentMethod): SetupResult {
  seti.status = 'succeeded';
  seti.payment_method = pm.id;
  seti.next_action = null;
  seti.last_setup_error = null;
  const customer = customerId(seti);
  engine.store.touch();
  if (customer && pm.customer !== customer) {
    // The card check already ran for this card; 0341 attaches and fails only later charges.
    pm.customer = customer;
    engine.emit('payment_method.attached', pm);
  }
  engine.emit('setup_intent.succeeded', seti);
  return { ok: true, seti };
}

function failed(engine: Engine, seti: Stripe.SetupIntent, lastError: Stripe.SetupIntent.LastSetupError, status: number): SetupResult {
  seti.status = 'requires_payment_method';
  seti.payment_method = null;
  seti.next_action = null;
  seti.last_setup_error = lastError;
  engine.store.touch();
  engine.emit('setup_intent.setup_failed', seti);
  const { setup_intent: _ignored, ...rest } = lastError as Stripe.SetupIntent.LastSetupError & { setup_intent?: unknown };
  const error = new StripeApiError(status, {
    ...rest,
    type: lastError.type === 'card_error' ? 'card_error' : 'invalid_request_error',
    message: lastError.message ?? 'Your card was declined.',
    setup_intent: engine.render(seti),
  });
  // A decline is an answer, not a refusal: the failed attempt and its event stand.
  error.keepChanges = true;
  return { ok: false, seti, error };
}

function requireAction(engine: Engine, seti: Stripe.SetupIntent, pm: Stripe.PaymentMethod, opts: SetupConfirmOptions): SetupResult {
  seti.status = 'requires_action';
  seti.payment_method = pm.id;
  const challenge = `${engine.baseUrl}/_local/3ds/${seti.id}?client_secret=${encodeURIComponent(seti.client_secret ?? '')}`;
  seti.next_action =
    opts.returnUrl && !opts.useStripeSdk
      ? {
          type: 'redirect_to_url',
          redirect_to_url: { url: `${challenge}&return_url=${encodeURIComponent(opts.returnUrl)}`, return_url: opts.returnUrl },
        }
      : {
          type: 'use_stripe_sdk',
          use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: challenge, source: `src_local_${seti.id}` },
        };
  engine.store.touch();
  engine.emit('setup_intent.requires_action', seti);
  return { ok: true, seti };
}

/** Confirms `seti` with its card's behaviour: attach, decline, or 3-D Secure. */
export function confirmSetupIntent(engine: Engine, seti: Stripe.SetupIntent, opts: SetupConfirmOptions): SetupResult {
  if (!CONFIRMABLE.includes(seti.status)) throw stateError(seti, 'confirm', CONFIRMABLE);
  const pmId = opts.paymentMethod ?? (typeof seti.payment_method === 'string' ? seti.payment_method : undefined);
  if (pmId === undefined) {
    throw unexpectedState(
      "You cannot confirm this SetupIntent because it's missing a payment method. Update the SetupIntent with a payment method and then confirm it again, or confirm it directly with a payment method.",
      'setup_intent_unexpected_state',
    );
  }
  checkPaymentMethod(engine, { customer: customerId(seti) }, pmId);
  const pm = resolvePaymentMethod(engine, pmId);
  seti.payment_method = pm.id;
  const behaviour = cardBehaviour(pm);
  const decline = behaviour === 'attach_then_fail' ? null : declineFor(behaviour);
  if (decline) {
    return failed(
      engine,
      seti,
      {
        type: 'card_error',
        code: 'card_declined',
        decline_code: decline.decline_code,
        message: decline.message,
        payment_method: engine.render(pm),
        doc_url: 'https://stripe.com/docs/error-codes/card-declined',
      },
      402,
    );
  }
  // Saving a 3155 card always asks for authentication (it is on-session by nature).
  if (behaviour === 'authenticate' || behaviour === 'authenticate_always') return requireAction(engine, seti, pm, opts);
  return succeeded(engine, seti, pm);
}

/** The outcome of the 3-D Secure challenge for a SetupIntent in `requires_action`. */
export function completeSetupAuthentication(engine: Engine, seti: Stripe.SetupIntent, outcome: 'succeed' | 'fail'): SetupResult {
  if (seti.status !== 'requires_action') {
    throw unexpectedState(
      `This SetupIntent has a status of ${seti.status}; there is no authentication to complete.`,
      'setup_intent_unexpected_state',
    );
  }
  const pm = typeof seti.payment_method === 'string' ? engine.state.paymentMethods[seti.payment_method] : undefined;
  if (!pm) throw unexpectedState('This SetupIntent has no payment method to authenticate.', 'setup_intent_unexpected_state');
  if (outcome === 'succeed') return succeeded(engine, seti, pm);
  return failed(
    engine,
    seti,
    {
      type: 'invalid_request_error',
      code: 'setup_intent_authentication_failure',
      message: 'We are unable to authenticate your payment method. Please choose a different payment method and try again.',
      payment_method: engine.render(pm),
      doc_url: 'https://stripe.com/docs/error-codes/setup-intent-authentication-failure',
    },
    400,
  );
}

/** With a publishable key, the intent's client secret is the credential. */
function checkClientSecret(rc: RouteContext, seti: Stripe.SetupIntent): void {
  if (rc.auth !== 'publishable') return;
  const secret = rc.params.str('client_secret');
  if (secret === undefined)
    throw invalidRequest('Missing required param: client_secret.', { code: 'parameter_missing', param: 'client_secret' });
  if (secret !== seti.client_secret) {
    throw invalidRequest('The client_secret provided does not match the client_secret associated with the SetupIntent.', {
      param: 'client_secret',
    });
  }
}

function confirmOptions(p: Params): SetupConfirmOptions {
  const returnUrl = p.str('return_url');
  const sdk = p.bool('use_stripe_sdk');
  return { ...(returnUrl !== undefined ? { returnUrl } : {}), ...(sdk !== undefined ? { useStripeSdk: sdk } : {}) };
}

function finish(result: SetupResult): Stripe.SetupIntent {
  if (!result.ok) throw result.error;
  return result.seti;
}

const CREATE_PARAMS = [
  'customer',
  'description',
  'metadata',
  'payment_method',
  'payment_method_data',
  'payment_method_types',
  'allowed_payment_method_types',
  'payment_method_options',
  'automatic_payment_methods',
  'usage',
  'confirm',
  'return_url',
  'use_stripe_sdk',
  'mandate_data',
  'single_use',
  'attach_to_self',
  'flow_directions',
  'on_behalf_of',
  'payment_method_configuration',
  'excluded_payment_method_types',
  'expand',
] as const;

function createFromParams(rc: RouteContext): Stripe.SetupIntent {
  const { engine, params: p } = rc;
  p.only(CREATE_PARAMS);
  // Validate every parameter before anything is stored.
  const customer = p.str('customer');
  if (customer !== undefined) requireCustomer(engine, customer, 'customer');
  const metadata = p.metadata();
  const usage = usageOf(p) ?? 'off_session';
  const automatic = p.obj('automatic_payment_methods')?.bool('enabled') ?? false;
  // `allowed_payment_method_types` is the current name of `payment_method_types`.
  const typesParam = p.has('allowed_payment_method_types') ? 'allowed_payment_method_types' : 'payment_method_types';
  const allowed = p.strList(typesParam);
  const types = allowed ?? ['card'];
  const unsupported = types.find((t) => t !== 'card');
  if (unsupported) throw invalidParam(typesParam, `The local Stripe supports only card payment methods, not '${unsupported}'.`);
  const confirm = p.bool('confirm') ?? false;
  const opts = confirmOptions(p);
  const pmParam = p.str('payment_method');
  if (pmParam !== undefined) checkPaymentMethod(engine, { customer: customer ?? null }, pmParam);
  if (p.obj('payment_method_data') && !confirm) {
    throw invalidRequest('payment_method_data can only be used with confirm=true.', { param: 'payment_method_data' });
  }
  const seti = buildSetupIntent(engine, {
    customer: customer ?? null,
    description: p.str('description') ?? null,
    metadata: metadata === 'unset' || metadata === undefined ? {} : metadata,
    usage,
    paymentMethodTypes: types,
    automaticPaymentMethods: automatic,
  });
  if (typesParam === 'allowed_payment_method_types' && allowed) seti.allowed_payment_method_types = ['card'];
  const pmId = paymentMethodParam(engine, p);
  if (pmId !== undefined) {
    seti.payment_method = resolvePaymentMethod(engine, pmId).id;
    seti.status = 'requires_confirmation';
  }
  setupIntents(engine)[seti.id] = seti;
  engine.store.touch();
  engine.emit('setup_intent.created', seti);
  if (confirm) return finish(confirmSetupIntent(engine, seti, opts));
  return seti;
}

function updateFromParams(rc: RouteContext): Stripe.SetupIntent {
  const { engine, params: p } = rc;
  p.only([
    'customer',
    'description',
    'metadata',
    'payment_method',
    'payment_method_types',
    'allowed_payment_method_types',
    'payment_method_options',
    'flow_directions',
    'attach_to_self',
    'payment_method_data',
    'expand',
  ]);
  const seti = requireSetupIntent(engine, rc.path.id ?? '', 'id');
  if (
    !['requires_payment_method', 'requires_confirmation', 'requires_action'].includes(seti.status) &&
    Object.keys(p.raw).some((k) => k !== 'metadata' && k !== 'description' && k !== 'expand')
  ) {
    throw unexpectedState(`You cannot update this SetupIntent because it has a status of ${seti.status}.`, 'setup_intent_unexpected_state');
  }
  const customer = p.str('customer');
  if (customer !== undefined) {
    requireCustomer(engine, customer, 'customer');
    const current = customerId(seti);
    if (current !== null && current !== customer)
      throw invalidParam('customer', 'The customer of a SetupIntent cannot be changed once set.');
  }
  const metadata = p.metadata();
  const pmParam = p.str('payment_method');
  if (pmParam !== undefined) checkPaymentMethod(engine, { customer: customer ?? customerId(seti) }, pmParam);
  const types = p.strList('payment_method_types');
  if (types?.some((t) => t !== 'card')) throw invalidParam('payment_method_types', 'The local Stripe supports only card payment methods.');
  if (p.obj('payment_method_data'))
    throw invalidRequest('payment_method_data is not supported on update by the local Stripe.', { param: 'payment_method_data' });

  if (customer !== undefined) seti.customer = customer;
  if (p.has('description')) seti.description = p.str('description') ?? null;
  seti.metadata = mergeMetadata(seti.metadata ?? {}, metadata);
  if (types) seti.payment_method_types = types;
  if (pmParam !== undefined) {
    seti.payment_method = resolvePaymentMethod(engine, pmParam).id;
    seti.status = 'requires_confirmation';
    seti.next_action = null;
  }
  engine.store.touch();
  return seti;
}

function cancel(engine: Engine, seti: Stripe.SetupIntent, p: Params): Stripe.SetupIntent {
  p.only(['cancellation_reason', 'expand']);
  const reason = p.oneOf('cancellation_reason', ['abandoned', 'duplicate', 'requested_by_customer'] as const);
  if (!CANCELABLE.includes(seti.status)) throw stateError(seti, 'cancel', CANCELABLE);
  seti.status = 'canceled';
  seti.cancellation_reason = reason ?? null;
  seti.next_action = null;
  engine.store.touch();
  engine.emit('setup_intent.canceled', seti);
  return seti;
}

export const setupIntentRoutes: Route[] = [
  { method: 'POST', path: '/v1/setup_intents', handler: (rc) => rc.engine.render(createFromParams(rc), rc.expand) },
  {
    method: 'GET',
    path: '/v1/setup_intents',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'customer', 'payment_method', 'created', 'attach_to_self']);
      const customer = params.str('customer');
      const pm = params.str('payment_method');
      const items = newestFirst(setupIntents(engine)).filter(
        (s) =>
          (customer === undefined || s.customer === customer) &&
          (pm === undefined || s.payment_method === pm) &&
          matchesCreated(params, s.created),
      );
      return paginate(engine, items, params, '/v1/setup_intents');
    },
  },
  {
    method: 'GET',
    path: '/v1/setup_intents/:id',
    publishable: true,
    handler: (rc) => {
      rc.params.only(['expand', 'client_secret']);
      const seti = requireSetupIntent(rc.engine, rc.path.id ?? '', 'id');
      checkClientSecret(rc, seti);
      return rc.engine.render(seti, rc.expand);
    },
  },
  { method: 'POST', path: '/v1/setup_intents/:id', handler: (rc) => rc.engine.render(updateFromParams(rc), rc.expand) },
  {
    method: 'POST',
    path: '/v1/setup_intents/:id/confirm',
    publishable: true,
    handler: (rc) => {
      const { engine, params: p } = rc;
      p.only([
        'payment_method',
        'payment_method_data',
        'return_url',
        'use_stripe_sdk',
        'client_secret',
        'mandate_data',
        'payment_method_options',
        'expand',
        'key',
        'confirmation_token',
      ]);
      const seti = requireSetupIntent(engine, rc.path.id ?? '', 'id');
      checkClientSecret(rc, seti);
      if (!CONFIRMABLE.includes(seti.status)) throw stateError(seti, 'confirm', CONFIRMABLE);
      const opts = confirmOptions(p);
      const pmParam = p.str('payment_method');
      if (pmParam !== undefined) checkPaymentMethod(engine, { customer: customerId(seti) }, pmParam);
      const pmId = paymentMethodParam(engine, p);
      return engine.render(
        finish(confirmSetupIntent(engine, seti, { ...opts, ...(pmId !== undefined ? { paymentMethod: pmId } : {}) })),
        rc.expand,
      );
    },
  },
  {
    method: 'POST',
    path: '/v1/setup_intents/:id/cancel',
    handler: ({ engine, path, params, expand }) =>
      engine.render(cancel(engine, requireSetupIntent(engine, path.id ?? '', 'id'), params), expand),
  },
];
