// Signed deliveries to the app's endpoint and to endpoints made through the
// API; retries, duplicates, reordering; events API; the delivery log.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { deliveries, setWebhookChaos } from '../../local/stripe/client.js';
import { Receiver, WEBHOOK_SECRET, startHarness, stripeError, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});
beforeEach(async () => {
  await h.local.webhooks.idle();
  h.local.webhooks.setChaos({ duplicate: false, reorder: false });
  h.receiver.respond = () => 200;
  h.receiver.clear();
});

async function paidIntent(customer?: string): Promise<Stripe.PaymentIntent> {
  return h.stripe.paymentIntents.create({
    amount: 2500,
    currency: 'usd',
    payment_method: 'pm_card_visa',
    confirm: true,
    ...(customer ? { customer } : {}),
  });
}

describe('delivery to the app endpoint', () => {
  it('POSTs every event, signed so stripe.webhooks.constructEvent accepts it', async () => {
    const pi = await paidIntent();
    const got = await h.receiver.waitForType('payment_intent.succeeded', pi.id);
    expect(got.headers['content-type']).toBe('application/json; charset=utf-8');
    const header = String(got.headers['stripe-signature']);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const event = h.stripe.webhooks.constructEvent(got.body, header, WEBHOOK_SECRET);
    expect(event.type).toBe('payment_intent.succeeded');
    expect(event.api_version).toBe(Stripe.API_VERSION);
    expect(event.request?.idempotency_key).toMatch(/^stripe-node-retry-/);
    if (event.type === 'payment_intent.succeeded') expect(event.data.object.amount_received).toBe(2500);
    const t = Number(/t=(\d+)/.exec(header)?.[1]);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(5);
  });

  it.each([
    ['a tampered body', (b: string) => b.replace('"amount": 2500', '"amount": 1'), WEBHOOK_SECRET],
    ['the wrong secret', (b: string) => b, 'whsec_wrong'],
  ])('is rejected with %s', async (_name, tamper, secret) => {
    const pi = await paidIntent();
    const got = await h.receiver.waitForType('payment_intent.succeeded', pi.id);
    expect(() => h.stripe.webhooks.constructEvent(tamper(got.body), String(got.headers['stripe-signature']), secret)).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
  });

  it('retries with backoff while the endpoint answers non-2xx', async () => {
    h.receiver.respond = (_r, n) => (n <= 2 ? 500 : 200);
    const customer = await h.stripe.customers.create({ email: 'retry@example.com' });
    await h.receiver.waitFor((all) => all.filter((r) => r.event.type === 'customer.created').length === 3);
    await h.local.webhooks.idle();
    const log = h.local.webhooks
      .deliveries()
      .filter((d) => d.type === 'customer.created' && d.eventId === h.receiver.received[0]?.event.id);
    expect(log.map((d) => [d.attempt, d.status, d.ok])).toEqual([
      [1, 500, false],
      [2, 500, false],
      [3, 200, true],
    ]);
    expect(log[0]?.retryInMs).toBe(5);
    expect(log[1]?.retryInMs).toBe(10);
    const ids = new Set(h.receiver.ofType('customer.created').map((r) => r.event.id));
    expect(ids.size).toBe(1);
    expect((h.receiver.received[0]?.event.data.object as Stripe.Customer).id).toBe(customer.id);
  });

  it('delivers duplicates and out of order when asked', async () => {
    await setWebhookChaos(h.local.url, { duplicate: true, reorder: true });
    const pi = await paidIntent();
    await h.local.webhooks.idle();
    const mine = h.receiver.received.filter((r) => (r.event.data.object as { id?: string; payment_intent?: string }).id === pi.id);
    expect(mine.map((r) => r.event.type)).toEqual([
      'payment_intent.succeeded',
      'payment_intent.succeeded',
      'payment_intent.created',
      'payment_intent.created',
    ]);
  });
});

describe('webhook_endpoints through the SDK', () => {
  it('create/list/retrieve/delete; a new endpoint gets its own secret and its events', async () => {
    const other = await Receiver.start();
    try {
      const endpoint = await h.stripe.webhookEndpoints.create({ url: other.url, enabled_events: ['customer.created'] });
      expect(endpoint.secret).toMatch(/^whsec_/);
      expect(endpoint.secret).not.toBe(WEBHOOK_SECRET);
      expect((await h.stripe.webhookEndpoints.retrieve(endpoint.id)).secret).toBeUndefined();
      const list = await h.stripe.webhookEndpoints.list();
      expect(list.data.map((e) => e.id)).toEqual(expect.arrayContaining([endpoint.id, 'we_local_app']));

      const c = await h.stripe.customers.create({ email: 'other@example.com' });
      await paidIntent();
      const got = await other.waitForType('customer.created', c.id);
      expect(h.stripe.webhooks.constructEvent(got.body, String(got.headers['stripe-signature']), endpoint.secret ?? '').type).toBe(
        'customer.created',
      );
      await h.local.webhooks.idle();
      expect(other.received.map((r) => r.event.type)).toEqual(['customer.created']);

      const deleted = await h.stripe.webhookEndpoints.del(endpoint.id);
      expect(deleted.deleted).toBe(true);
      const missing = await stripeError(() => h.stripe.webhookEndpoints.retrieve(endpoint.id));
      expect(missing.statusCode).toBe(404);
    } finally {
      await other.close();
    }
  });
});

describe('events API', () => {
  it('retrieves and lists events filtered by type', async () => {
    const pi = await paidIntent();
    const list = await h.stripe.events.list({ type: 'payment_intent.succeeded', limit: 100 });
    expect(list.data.every((e) => e.type === 'payment_intent.succeeded')).toBe(true);
    const mine = list.data.find((e) => (e.data.object as Stripe.PaymentIntent).id === pi.id);
    expect(mine).toBeDefined();
    const one = await h.stripe.events.retrieve(mine?.id ?? '');
    expect(one.id).toBe(mine?.id);
    const wildcard = await h.stripe.events.list({ type: 'payment_intent.*', limit: 100 });
    expect(new Set(wildcard.data.map((e) => e.type))).toEqual(new Set(['payment_intent.created', 'payment_intent.succeeded']));
  });
});

// Triggers (project fixtures run over HTTP) are tested in fixtures.test.ts.
describe('the delivery log', () => {
  it('exposes deliveries for `listen` with a long poll', async () => {
    const start = h.local.webhooks.deliveries().at(-1)?.seq ?? 0;
    const pending = deliveries(h.local.url, start, 5000);
    await h.stripe.customers.create({ email: 'listen@example.com' });
    const got = await pending;
    expect(got[0]).toMatchObject({ type: 'customer.created', status: 200, ok: true, attempt: 1 });
  });
});
