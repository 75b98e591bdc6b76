/*
 * Stripe.js stand-in, bundled by esbuild when the local Stripe starts and
 * served at /js/stripe.js (see serve.ts).
 *
 * Load it with a plain <script> in <head> (before @stripe/stripe-js runs): it
 * defines `window.Stripe`, which @stripe/stripe-js then uses instead of
 * injecting js.stripe.com. The real @stripe/react-stripe-js components render
 * against it. Elements are a labelled card form (Card number, Expiry, CVC) in
 * the page; payments and setups are confirmed against the local API with the
 * publishable key and the intent's client secret; 4000 0025 0000 3155 opens a
 * "3D Secure authentication" dialog with Complete / Fail buttons.
 */
import { brandOf } from '../cards.js';
import { Api, apiBase, intentIdOf, integrationError, type ApiResult, type StripeJsError } from './api.js';
import { Element, Elements, challenge, type ValidationError } from './elements.js';

/** The parts of a PaymentIntent / SetupIntent the stand-in reads. */
interface Intent {
  id: string;
  object: 'payment_intent' | 'setup_intent';
  status: string;
  amount?: number;
  currency?: string;
  client_secret?: string | null;
  last_payment_error?: StripeJsError | null;
  last_setup_error?: StripeJsError | null;
}

type Kind = 'payment' | 'setup';
type Outcome = { paymentIntent: Intent } | { setupIntent: Intent } | { error: StripeJsError | ValidationError };

interface ConfirmArgs {
  elements?: Elements;
  clientSecret?: string;
  confirmParams?: { return_url?: string; receipt_email?: string; payment_method_data?: { billing_details?: Record<string, unknown> } };
  redirect?: 'always' | 'if_required';
}

interface CardData {
  payment_method?: string | { card?: Element; billing_details?: Record<string, unknown> };
  return_url?: string;
}

const PATHS: Record<Kind, string> = { payment: '/v1/payment_intents/', setup: '/v1/setup_intents/' };

function kindOf(clientSecret: string): Kind {
  return clientSecret.startsWith('seti_') ? 'setup' : 'payment';
}

function wrap(kind: Kind, intent: Intent): Outcome {
  return kind === 'setup' ? { setupIntent: intent } : { paymentIntent: intent };
}

/** An intent back in requires_payment_method after a failed attempt is reported as an error, as Stripe.js does. */
function outcomeOf(kind: Kind, intent: Intent): Outcome {
  const last = kind === 'setup' ? intent.last_setup_error : intent.last_payment_error;
  if (intent.status === 'requires_payment_method' && last) {
    return { error: { ...last, [kind === 'setup' ? 'setup_intent' : 'payment_intent']: intent } };
  }
  return wrap(kind, intent);
}

function purposeOf(intent: Intent): string {
  if (intent.object === 'setup_intent') return 'saving your card';
  return `${((intent.amount ?? 0) / 100).toFixed(2)} ${String(intent.currency ?? '').toUpperCase()}`;
}

class LocalStripe {
  private readonly api: Api;

  constructor(
    key: string,
    readonly options: Record<string, unknown> = {},
  ) {
    this.api = new Api(apiBase(), key);
  }

  elements(options?: Record<string, unknown>): Elements {
    return new Elements(options);
  }

  private createCardPaymentMethod(element: Element, billing?: Record<string, unknown>): Promise<ApiResult<{ id: string }>> {
    return this.api.call<{ id: string }>('POST', '/v1/payment_methods', { type: 'card', card: element.card(), billing_details: billing });
  }

  async createPaymentMethod(
    a:
      | {
          elements?: Elements;
          params?: { billing_details?: Record<string, unknown> };
          card?: Element;
          billing_details?: Record<string, unknown>;
        }
      | string,
    b?: Element,
  ): Promise<{ paymentMethod: unknown } | { error: StripeJsError | ValidationError }> {
    let element: Element | null | undefined;
    let billing: Record<string, unknown> | undefined;
    if (typeof a === 'object' && a.elements) {
      element = a.elements.cardElement();
      billing = a.params?.billing_details;
    } else if (typeof a === 'object' && a.card) {
      element = a.card;
      billing = a.billing_details;
    } else if (typeof a === 'string') {
      element = b;
    }
    if (!element) throw integrationError('createPaymentMethod needs a card Element.');
    const problem = element.validate();
    if (problem) return { error: problem };
    const r = await this.createCardPaymentMethod(element, billing);
    return r.error ? { error: r.error } : { paymentMethod: r.data };
  }

  async createToken(element: Element): Promise<{ token: unknown } | { error: ValidationError }> {
    if (!(element instanceof Element)) throw integrationError('createToken needs a card Element.');
    const problem = element.validate();
    if (problem) return { error: problem };
    const card = element.card();
    return {
      token: {
        id: `tok_local_${Date.now().toString(36)}`,
        object: 'token',
        type: 'card',
        used: false,
        livemode: false,
        created: Math.floor(Date.now() / 1000),
        card: { brand: brandOf(card.number), last4: card.number.slice(-4), exp_month: card.exp_month, exp_year: card.exp_year },
      },
    };
  }

  private async retrieve(kind: Kind, clientSecret: string): Promise<Outcome> {
    const r = await this.api.call<Intent>('GET', PATHS[kind] + intentIdOf(clientSecret), { client_secret: clientSecret });
    return r.error ? { error: r.error } : wrap(kind, r.data);
  }

  retrievePaymentIntent(clientSecret: string): Promise<Outcome> {
    return this.retrieve('payment', clientSecret);
  }

  retrieveSetupIntent(clientSecret: string): Promise<Outcome> {
    return this.retrieve('setup', clientSecret);
  }

  /** Completes 3-D Secure for an intent in requires_action: shows the challenge, reports the outcome. */
  private async handleActions(kind: Kind, intent: Intent, clientSecret: string): Promise<Outcome> {
    if (intent.status !== 'requires_action') return outcomeOf(kind, intent);
    const outcome = await challenge(purposeOf(intent));
    const r = await this.api.completeChallenge<Intent>(intent.id, clientSecret, outcome);
    return r.error ? { error: r.error } : outcomeOf(kind, r.data);
  }

  /** Confirms with the local API and runs next actions. */
  private async confirm(kind: Kind, clientSecret: string, params: Record<string, unknown>, handleActions: boolean): Promise<Outcome> {
    const body = { client_secret: clientSecret, use_stripe_sdk: 'true', ...params };
    const r = await this.api.call<Intent>('POST', `${PATHS[kind]}${intentIdOf(clientSecret)}/confirm`, body);
    if (r.error) return { error: r.error };
    if (!handleActions) return wrap(kind, r.data);
    return this.handleActions(kind, r.data, clientSecret);
  }

  /** confirmPayment / confirmSetup with Elements. */
  private async confirmWithElements(kind: Kind, args: ConfirmArgs = {}): Promise<Outcome> {
    const name = kind === 'setup' ? 'confirmSetup' : 'confirmPayment';
    const { elements } = args;
    const confirmParams = args.confirmParams ?? {};
    const redirect = args.redirect ?? 'always';
    if (!elements) throw integrationError(`${name}: \`elements\` is required.`);
    const fromOptions = elements.options.clientSecret;
    const clientSecret = args.clientSecret ?? (typeof fromOptions === 'string' ? fromOptions : undefined);
    if (!clientSecret) throw integrationError(`${name}: a \`clientSecret\` is required.`);
    if (kindOf(clientSecret) !== kind) {
      throw integrationError(
        `${name}: the client secret is of a ${kindOf(clientSecret) === 'setup' ? 'SetupIntent' : 'PaymentIntent'}; use ${kind === 'setup' ? 'confirmPayment' : 'confirmSetup'}.`,
      );
    }
    if (!elements.options.clientSecret && !elements.submitted) {
      throw integrationError(
        `elements.submit() must be called before stripe.${name}(). Call elements.submit() as soon as your customer presses the button.`,
      );
    }
    if (redirect === 'always' && !confirmParams.return_url) {
      throw integrationError(`${name}: \`confirmParams.return_url\` is required unless redirect is "if_required".`);
    }
    const element = elements.cardElement();
    if (!element) throw integrationError(`${name}: no payment Element is mounted.`);
    const problem = element.validate();
    if (problem) return { error: problem };
    const pm = await this.createCardPaymentMethod(element, confirmParams.payment_method_data?.billing_details);
    if (pm.error) return { error: pm.error };
    const params: Record<string, unknown> = { payment_method: pm.data.id, return_url: confirmParams.return_url };
    if (kind === 'payment') params.receipt_email = confirmParams.receipt_email;
    const result = await this.confirm(kind, clientSecret, params, true);
    if ('error' in result || redirect === 'if_required') return result;
    const intent = 'setupIntent' in result ? result.setupIntent : result.paymentIntent;
    const url = new URL(confirmParams.return_url ?? '', window.location.href);
    url.searchParams.set(kind === 'setup' ? 'setup_intent' : 'payment_intent', intent.id);
    url.searchParams.set(kind === 'setup' ? 'setup_intent_client_secret' : 'payment_intent_client_secret', clientSecret);
    url.searchParams.set('redirect_status', intent.status === 'succeeded' ? 'succeeded' : 'processing');
    window.location.assign(url.toString());
    // Stripe.js navigates away and never settles this promise.
    return new Promise<Outcome>(() => {});
  }

  confirmPayment(args?: ConfirmArgs): Promise<Outcome> {
    return this.confirmWithElements('payment', args);
  }

  confirmSetup(args?: ConfirmArgs): Promise<Outcome> {
    return this.confirmWithElements('setup', args);
  }

  private async confirmCard(
    kind: Kind,
    clientSecret: string,
    data: CardData = {},
    options?: { handleActions?: boolean },
  ): Promise<Outcome> {
    const handleActions = options?.handleActions !== false;
    const pm = data.payment_method;
    if (pm && typeof pm === 'object' && pm.card) {
      const problem = pm.card.validate();
      if (problem) return { error: problem };
      const r = await this.createCardPaymentMethod(pm.card, pm.billing_details);
      if (r.error) return { error: r.error };
      return this.confirm(kind, clientSecret, { payment_method: r.data.id, return_url: data.return_url }, handleActions);
    }
    return this.confirm(
      kind,
      clientSecret,
      { payment_method: typeof pm === 'string' ? pm : undefined, return_url: data.return_url },
      handleActions,
    );
  }

  confirmCardPayment(clientSecret: string, data?: CardData, options?: { handleActions?: boolean }): Promise<Outcome> {
    return this.confirmCard('payment', clientSecret, data, options);
  }

  confirmCardSetup(clientSecret: string, data?: CardData, options?: { handleActions?: boolean }): Promise<Outcome> {
    return this.confirmCard('setup', clientSecret, data, options);
  }

  async handleNextAction(args: { clientSecret: string }): Promise<Outcome> {
    const clientSecret = args.clientSecret;
    const kind = kindOf(clientSecret);
    const r = await this.retrieve(kind, clientSecret);
    if ('error' in r) return r;
    return this.handleActions(kind, 'setupIntent' in r ? r.setupIntent : r.paymentIntent, clientSecret);
  }

  handleCardAction(clientSecret: string): Promise<Outcome> {
    return this.handleNextAction({ clientSecret });
  }

  handleCardSetup(clientSecret: string, element?: Element): Promise<Outcome> {
    return this.confirmCardSetup(clientSecret, element ? { payment_method: { card: element } } : {});
  }

  paymentRequest(): object {
    return { canMakePayment: () => Promise.resolve(null), on() {}, off() {}, show() {}, update() {} };
  }

  registerAppInfo(): void {}
  _registerWrapper(): void {}
}

type StripeFactory = ((key: string, options?: Record<string, unknown>) => LocalStripe) & {
  version: string;
  localStripe: { apiBase: string };
};

const factory = ((key: string, options?: Record<string, unknown>) => {
  if (typeof key !== 'string' || !/^pk_(test|live)_/.test(key)) {
    throw integrationError(`Invalid value for Stripe(): apiKey should be a publishable key (pk_test_...). You passed: ${String(key)}`);
  }
  return new LocalStripe(key, options);
}) as StripeFactory;
factory.version = 'endive';
factory.localStripe = { apiBase: apiBase() };
(window as unknown as { Stripe: StripeFactory }).Stripe = factory;
