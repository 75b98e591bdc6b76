// `stripe trigger`: perform the API calls that make Stripe emit an event, for a
// given customer (or a new one), so the app receives the real event sequence.
import type { Engine } from './engine.js';
import { StripeApiError, invalidRequest } from './core/errors.js';
import { encodeForm, parseForm } from './core/form.js';
import { Params } from './core/params.js';
import type { Router } from './http/router.js';

export interface TriggerOptions {
  customer?: string;
  /** Amount in cents for payment intents (default 2000). */
  amount?: number;
  /** Price for subscriptions (default: the first seeded plan). */
  price?: string;
}

export interface TriggerResult {
  customer: string;
  /** Ids of the events emitted, oldest first. */
  events: Array<{ id: string; type: string }>;
}

type Call = (method: 'GET' | 'POST' | 'DELETE', path: string, params?: Record<string, unknown>) => Record<string, unknown>;

/** Calls a route in-process, as an API call with the secret key would. */
function caller(engine: Engine, router: Router): Call {
  return (method, path, params = {}) => {
    const match = router.match(method, path);
    if (!match) throw invalidRequest(`No route ${method} ${path}`);
    const p = new Params(parseForm(encodeForm(params)));
    return match.route.handler({ engine, params: p, path: match.path, auth: 'secret', expand: p.expand() }) as Record<string, unknown>;
  };
}

/** Runs `fn`, treating a card error as the expected outcome of a failure trigger. */
function expectingDecline(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof StripeApiError) || e.status !== 402) throw e;
  }
}

function idOf(obj: Record<string, unknown>): string {
  return String(obj.id);
}

export const TRIGGERS = [
  'customer.created',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.requires_action',
  'payment_intent.canceled',
  'charge.refunded',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
] as const;

export function runTrigger(engine: Engine, router: Router, event: string, opts: TriggerOptions): TriggerResult {
  if (!(TRIGGERS as readonly string[]).includes(event)) {
    throw invalidRequest(`Unsupported trigger '${event}'. Supported: ${TRIGGERS.join(', ')}`);
  }
  const before = new Set(Object.keys(engine.state.events));
  const call = caller(engine, router);
  const customer = opts.customer ?? idOf(call('POST', '/v1/customers', { description: `trigger ${event}` }));
  if (!engine.state.customers[customer]) throw invalidRequest(`No such customer: '${customer}'`, { code: 'resource_missing', param: 'customer' });
  const amount = opts.amount ?? 2000;
  const price = opts.price ?? Object.keys(engine.state.prices)[0] ?? '';
  const intent = () => idOf(call('POST', '/v1/payment_intents', { amount, currency: 'usd', customer, description: `(created by trigger ${event})` }));
  const confirm = (pi: string, pm: string) => call('POST', `/v1/payment_intents/${pi}/confirm`, { payment_method: pm });
  const paidSubscription = () => {
    const pm = idOf(call('POST', '/v1/payment_methods/pm_card_visa/attach', { customer }));
    call('POST', `/v1/customers/${customer}`, { invoice_settings: { default_payment_method: pm } });
    return idOf(call('POST', '/v1/subscriptions', { customer, items: [{ price }] }));
  };
  const activeSubscription = () =>
    Object.values(engine.state.subscriptions).find((s) => s.customer === customer && s.status === 'active')?.id ?? paidSubscription();

  switch (event) {
    case 'customer.created':
      break;
    case 'payment_intent.succeeded':
      confirm(intent(), 'pm_card_visa');
      break;
    case 'payment_intent.payment_failed':
      expectingDecline(() => confirm(intent(), 'pm_card_visa_chargeDeclined'));
      break;
    case 'payment_intent.requires_action':
      confirm(intent(), 'pm_card_authenticationRequired');
      break;
    case 'payment_intent.canceled':
      call('POST', `/v1/payment_intents/${intent()}/cancel`);
      break;
    case 'charge.refunded': {
      const pi = intent();
      confirm(pi, 'pm_card_visa');
      call('POST', '/v1/refunds', { payment_intent: pi });
      break;
    }
    case 'customer.subscription.created':
    case 'invoice.paid':
    case 'invoice.payment_succeeded':
      paidSubscription();
      break;
    case 'customer.subscription.updated':
      call('POST', `/v1/subscriptions/${activeSubscription()}`, { metadata: { triggered_at: String(Date.now()) } });
      break;
    case 'customer.subscription.deleted':
      call('DELETE', `/v1/subscriptions/${activeSubscription()}`);
      break;
    case 'invoice.payment_failed': {
      const sub = call('POST', '/v1/subscriptions', {
        customer,
        items: [{ price }],
        payment_behavior: 'default_incomplete',
        expand: ['latest_invoice.confirmation_secret'],
      });
      const invoice = sub.latest_invoice as { confirmation_secret?: { client_secret?: string } } | undefined;
      const pi = invoice?.confirmation_secret?.client_secret?.split('_secret_')[0] ?? '';
      expectingDecline(() => confirm(pi, 'pm_card_visa_chargeDeclined'));
      break;
    }
  }
  const events = Object.values(engine.state.events)
    .filter((e) => !before.has(e.id))
    .map((e) => ({ id: e.id, type: e.type }));
  return { customer, events };
}
