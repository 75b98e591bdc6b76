// The Stripe.js stand-in as a script: served with the server's address, it
// defines a `window.Stripe` that @stripe/react-stripe-js accepts, and its
// network paths (publishable key + client secret) work against the server.
// (Rendering and the 3-D Secure dialog are left to the browser tests.)
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { startHarness, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ deliverWebhooks: false });
});
afterAll(async () => {
  await h.close();
});

interface StandInResult {
  paymentIntent?: Stripe.PaymentIntent;
  setupIntent?: Stripe.SetupIntent;
  error?: { type: string; code?: string; decline_code?: string; payment_intent?: Stripe.PaymentIntent; setup_intent?: Stripe.SetupIntent };
}
interface StandIn {
  elements: (o?: object) => { create: (t: string) => object; submit: () => Promise<unknown>; update: (o: object) => void };
  createToken: unknown;
  createPaymentMethod: unknown;
  confirmCardPayment: (secret: string, data?: object) => Promise<StandInResult>;
  confirmPayment: unknown;
  retrievePaymentIntent: (secret: string) => Promise<StandInResult>;
  confirmCardSetup: (secret: string, data?: object) => Promise<StandInResult>;
  retrieveSetupIntent: (secret: string) => Promise<StandInResult>;
  confirmSetup: (args: object) => Promise<StandInResult>;
}
type StripeFactory = ((key: string) => StandIn) & { version: string };

async function loadStandIn(): Promise<{ source: string; contentType: string | null; Stripe: StripeFactory }> {
  const res = await fetch(`${h.local.url}/js/stripe.js`);
  const source = await res.text();
  const window: { Stripe?: StripeFactory } = {};
  runInNewContext(source, { window, document: {}, fetch, URL, console, Promise, Object, Math, Date, JSON, String, Number, setTimeout });
  if (!window.Stripe) throw new Error('window.Stripe not defined');
  return { source, contentType: res.headers.get('content-type'), Stripe: window.Stripe };
}

describe('Stripe.js stand-in', () => {
  it('is served as JavaScript with the API address baked in, and passes react-stripe-js validation', async () => {
    const { source, contentType, Stripe } = await loadStandIn();
    expect(contentType).toBe('application/javascript; charset=utf-8');
    expect(source).toContain(JSON.stringify(h.local.url));
    expect(Stripe.version).toBe('endive');
    const stripe = Stripe('pk_test_local');
    for (const method of [
      'elements',
      'createToken',
      'createPaymentMethod',
      'confirmCardPayment',
      'confirmPayment',
      'retrievePaymentIntent',
    ] as const) {
      expect(typeof stripe[method]).toBe('function');
    }
    expect(() => Stripe('sk_test_secret')).toThrow(/publishable key/);
  });

  it('confirms an intent with the publishable key and reports declines like Stripe.js', async () => {
    const { Stripe } = await loadStandIn();
    const stripe = Stripe('pk_test_local');
    const ok = await h.stripe.paymentIntents.create({ amount: 1800, currency: 'usd' });
    const done = await stripe.confirmCardPayment(ok.client_secret ?? '', { payment_method: 'pm_card_visa' });
    expect(done.paymentIntent?.status).toBe('succeeded');
    const seen = await stripe.retrievePaymentIntent(ok.client_secret ?? '');
    expect(seen.paymentIntent?.id).toBe(ok.id);

    const bad = await h.stripe.paymentIntents.create({ amount: 1800, currency: 'usd' });
    const declined = await stripe.confirmCardPayment(bad.client_secret ?? '', { payment_method: 'pm_card_visa_chargeDeclined' });
    expect(declined.error).toMatchObject({ type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' });
    expect(declined.error?.payment_intent?.status).toBe('requires_payment_method');
  });

  it('serves the 3-D Secure challenge page and completes it by form post', async () => {
    const pi = await h.stripe.paymentIntents.create({
      amount: 4000,
      currency: 'usd',
      payment_method: 'pm_card_authenticationRequired',
      confirm: true,
      return_url: 'http://localhost:3000/billing/payment-success',
    });
    const url = pi.next_action?.redirect_to_url?.url ?? '';
    const page = await fetch(url);
    const html = await page.text();
    expect(html).toContain('3D Secure authentication');
    expect(html).toContain('>Complete</button>');
    const form = new URLSearchParams({
      client_secret: pi.client_secret ?? '',
      outcome: 'succeed',
      return_url: 'http://localhost:3000/billing/payment-success',
    });
    const res = await fetch(`${h.local.url}/_local/3ds/${pi.id}/complete`, { method: 'POST', body: form, redirect: 'manual' });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.searchParams.get('redirect_status')).toBe('succeeded');
    expect(location.searchParams.get('payment_intent')).toBe(pi.id);
    expect((await h.stripe.paymentIntents.retrieve(pi.id)).status).toBe('succeeded');
  });

  it('is bundled from TypeScript with the card rules of cards.ts', async () => {
    const { source } = await loadStandIn();
    // esbuild keeps the shared functions' names: one copy, from cards.ts.
    expect(source.match(/function luhnValid\(/g)).toHaveLength(1);
    expect(source.match(/function brandOf\(/g)).toHaveLength(1);
    expect(source).toContain('local/stripe/cards.ts');
  });

  it('confirms and retrieves SetupIntents with the publishable key (confirmCardSetup)', async () => {
    const { Stripe } = await loadStandIn();
    const stripe = Stripe('pk_test_local');
    const customer = await h.stripe.customers.create({});
    const seti = await h.stripe.setupIntents.create({ customer: customer.id });
    const done = await stripe.confirmCardSetup(seti.client_secret ?? '', { payment_method: 'pm_card_visa' });
    expect(done.setupIntent?.status).toBe('succeeded');
    expect((await stripe.retrieveSetupIntent(seti.client_secret ?? '')).setupIntent?.id).toBe(seti.id);
    expect((await h.stripe.customers.listPaymentMethods(customer.id)).data).toHaveLength(1);

    const other = await h.stripe.setupIntents.create({ customer: customer.id });
    const declined = await stripe.confirmCardSetup(other.client_secret ?? '', { payment_method: 'pm_card_visa_chargeDeclined' });
    expect(declined.error).toMatchObject({ type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' });
    expect(declined.error?.setup_intent?.status).toBe('requires_payment_method');
    const wrong = await stripe.retrieveSetupIntent(`${other.id}_secret_wrong`);
    expect(wrong.error?.type).toBe('invalid_request_error');
    // confirmSetup needs Elements, and a SetupIntent's secret.
    await expect(stripe.confirmSetup({ clientSecret: seti.client_secret })).rejects.toThrow(/elements/);
  });
});
