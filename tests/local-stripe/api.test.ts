// Stripe's request rules through the real SDK: auth, errors, idempotency,
// pagination, expansion, faults, persistence.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { startLocalStripe } from '../../local/stripe/server.js';
import { injectFault } from '../../local/stripe/client.js';
import { sdk, startHarness, stripeError, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ deliverWebhooks: false });
});
afterAll(async () => {
  await h.close();
});

async function raw(path: string, init: RequestInit = {}): Promise<{ status: number; body: { error?: Record<string, unknown> } }> {
  const res = await fetch(`${h.local.url}${path}`, init);
  return { status: res.status, body: (await res.json()) as { error?: Record<string, unknown> } };
}

describe('authentication and error shapes', () => {
  it.each([
    ['no key', {}, 401, /You did not provide an API key/],
    ['a live key', { Authorization: 'Bearer sk_live_abcdefghijklmnop' }, 401, /Invalid API Key provided: sk_live_\*+mnop/],
    ['a garbage key', { Authorization: 'Bearer nope' }, 401, /Invalid API Key provided/],
  ])('rejects %s with 401', async (_name, headers, status, message) => {
    const r = await raw('/v1/customers', { headers });
    expect(r.status).toBe(status);
    expect(r.body.error?.type).toBe('invalid_request_error');
    expect(String(r.body.error?.message)).toMatch(message);
  });

  it('accepts Basic auth like curl -u sk_test_...:', async () => {
    const r = await raw('/v1/customers', { headers: { Authorization: `Basic ${Buffer.from('sk_test_x:').toString('base64')}` } });
    expect(r.status).toBe(200);
  });

  it('surfaces as StripeAuthenticationError in the SDK', async () => {
    const err = await stripeError(() => sdk(h.local, 'sk_live_nope').customers.list());
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(err.statusCode).toBe(401);
  });

  it('answers unknown routes 404 in Stripe shape', async () => {
    const r = await raw('/v1/nonsense/abc', { headers: { Authorization: 'Bearer sk_test_x' } });
    expect(r.status).toBe(404);
    expect(r.body).toEqual({
      error: {
        type: 'invalid_request_error',
        message:
          'Unrecognized request URL (GET: /v1/nonsense/abc). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.',
      },
    });
  });

  it.each([
    [
      'missing resource',
      () => h.stripe.customers.retrieve('cus_missing'),
      404,
      'resource_missing',
      'id',
      "No such customer: 'cus_missing'",
    ],
    [
      'unknown parameter',
      () => h.stripe.customers.create({ emial: 'x' } as Stripe.CustomerCreateParams),
      400,
      'parameter_unknown',
      'emial',
      'Received unknown parameter: emial',
    ],
    [
      'missing parameter',
      () => h.stripe.paymentIntents.create({ currency: 'usd' } as Stripe.PaymentIntentCreateParams),
      400,
      'parameter_missing',
      'amount',
      'Missing required param: amount.',
    ],
    [
      'amount below the minimum',
      () => h.stripe.paymentIntents.create({ amount: 10, currency: 'usd' }),
      400,
      'amount_too_small',
      'amount',
      'Amount must be at least $0.50 usd',
    ],
    ['unknown price', () => h.stripe.prices.retrieve('price_nope'), 404, 'resource_missing', 'id', "No such price: 'price_nope'"],
  ])('%s', async (_name, call, status, code, param, message) => {
    const err = await stripeError(call);
    expect(err).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect({ status: err.statusCode, code: err.code, param: err.param, message: err.message }).toEqual({ status, code, param, message });
  });
});

describe('idempotency', () => {
  it('replays the first response for a repeated key', async () => {
    const key = `idem-${Date.now()}`;
    const a = await h.stripe.customers.create({ email: 'same@example.com' }, { idempotencyKey: key });
    const b = await h.stripe.customers.create({ email: 'same@example.com' }, { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    expect(b.lastResponse.headers['idempotent-replayed']).toBe('true');
    const list = await h.stripe.customers.list({ email: 'same@example.com' });
    expect(list.data).toHaveLength(1);
  });

  it('rejects a reused key with different parameters (400 idempotency_error)', async () => {
    const key = `idem-diff-${Date.now()}`;
    await h.stripe.customers.create({ email: 'one@example.com' }, { idempotencyKey: key });
    const err = await stripeError(() => h.stripe.customers.create({ email: 'two@example.com' }, { idempotencyKey: key }));
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(err.statusCode).toBe(400);
    expect(err.message).toMatch(/Keys for idempotent requests can only be used with the same parameters/);
  });

  it('replays a decline too (the charge is attempted once)', async () => {
    const pi = await h.stripe.paymentIntents.create({ amount: 1000, currency: 'usd' });
    const key = `idem-decline-${Date.now()}`;
    const first = await stripeError(() =>
      h.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa_chargeDeclined' }, { idempotencyKey: key }),
    );
    const second = await stripeError(() =>
      h.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa_chargeDeclined' }, { idempotencyKey: key }),
    );
    expect(second.requestId).not.toBe(first.requestId);
    expect(second.charge).toBe(first.charge);
    const charges = await h.stripe.charges.list({ payment_intent: pi.id });
    expect(charges.data).toHaveLength(1);
  });
});

describe('lists', () => {
  it('paginates with limit, starting_after, ending_before and has_more', async () => {
    const tag = `page-${Date.now()}`;
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await h.stripe.customers.create({ email: `${tag}@example.com`, name: `n${i}` })).id);
    const newestFirst = [...created].reverse();
    const p1 = await h.stripe.customers.list({ email: `${tag}@example.com`, limit: 2 });
    expect(p1.data.map((c) => c.id)).toEqual(newestFirst.slice(0, 2));
    expect(p1.has_more).toBe(true);
    expect(p1.object).toBe('list');
    expect(p1.url).toBe('/v1/customers');
    const p3 = await h.stripe.customers.list({ email: `${tag}@example.com`, limit: 2, starting_after: newestFirst[3] });
    expect(p3.data.map((c) => c.id)).toEqual([newestFirst[4]]);
    expect(p3.has_more).toBe(false);
    const before = await h.stripe.customers.list({ email: `${tag}@example.com`, limit: 2, ending_before: newestFirst[3] });
    expect(before.data.map((c) => c.id)).toEqual(newestFirst.slice(1, 3));
    const all = await h.stripe.customers.list({ email: `${tag}@example.com`, limit: 2 }).autoPagingToArray({ limit: 100 });
    expect(all.map((c) => c.id)).toEqual(newestFirst);
  });

  it('rejects a limit above 100', async () => {
    const err = await stripeError(() => h.stripe.customers.list({ limit: 101 }));
    expect(err.param).toBe('limit');
  });
});

describe('expansion', () => {
  it('expands ids into objects, on objects and in lists', async () => {
    const customer = await h.stripe.customers.create({ email: 'expand@example.com' });
    const pi = await h.stripe.paymentIntents.create({
      amount: 700,
      currency: 'usd',
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
      expand: ['customer', 'latest_charge'],
    });
    expect((pi.customer as Stripe.Customer).email).toBe('expand@example.com');
    expect((pi.latest_charge as Stripe.Charge).amount).toBe(700);
    const prices = await h.stripe.prices.list({ expand: ['data.product'] });
    expect(prices.data.map((p) => (p.product as Stripe.Product).name).sort()).toEqual(['Enterprise', 'Pro', 'Starter']);
    const unexpanded = await h.stripe.paymentIntents.retrieve(pi.id);
    expect(unexpanded.customer).toBe(customer.id);
  });

  it('refuses to expand a field the object does not have (e.g. the pre-basil invoice.payment_intent)', async () => {
    const customer = await h.stripe.customers.create({});
    const err = await stripeError(() =>
      h.stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: 'price_starter_plan_id' }],
        payment_behavior: 'default_incomplete',
        expand: ['latest_invoice.payment_intent'],
      }),
    );
    expect({ status: err.statusCode, message: err.message }).toEqual({
      status: 400,
      message: 'This property cannot be expanded (latest_invoice.payment_intent).',
    });
  });
});

describe('faults on demand', () => {
  it('500: the SDK retries and succeeds; without retries it gets StripeAPIError', async () => {
    h.local.faults.inject({ type: '500', count: 1, path: '/v1/customers' });
    const c = await sdk(h.local, 'sk_test_x', { maxNetworkRetries: 2 }).customers.create({ email: 'retry@example.com' });
    expect(c.email).toBe('retry@example.com');
    await injectFault(h.local.url, { type: '500', count: 1 });
    const err = await stripeError(() => sdk(h.local, 'sk_test_x', { maxNetworkRetries: 0 }).customers.list());
    expect(err).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(err.statusCode).toBe(500);
  });

  it('429: StripeRateLimitError (the SDK does not retry it)', async () => {
    h.local.faults.inject({ type: '429' });
    const err = await stripeError(() => h.stripe.customers.list());
    expect(err).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(err.code).toBe('rate_limit');
  });

  it('timeout after processing: the retry with the same key replays, one object exists', async () => {
    h.local.faults.inject({ type: 'timeout', path: '/v1/customers', method: 'POST', afterProcessing: true });
    const tag = `timeout-${Date.now()}@example.com`;
    const client = sdk(h.local, 'sk_test_x', { timeout: 300, maxNetworkRetries: 1 });
    const c = await client.customers.create({ email: tag });
    expect(c.email).toBe(tag);
    expect((await h.stripe.customers.list({ email: tag })).data).toHaveLength(1);
  });

  it('timeout: StripeConnectionError when retries are off', async () => {
    h.local.faults.inject({ type: 'timeout', path: '/v1/customers', method: 'GET' });
    const err = await stripeError(() => sdk(h.local, 'sk_test_x', { timeout: 200, maxNetworkRetries: 0 }).customers.list());
    expect(err).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    h.local.faults.clear();
  });
});

describe('persistence', () => {
  it('keeps state across a restart when given a data dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-stripe-'));
    try {
      const first = await startLocalStripe({ port: 0, dataDir: dir, deliverWebhooks: false, billingSweepMs: 0 });
      const c = await sdk(first).customers.create({ email: 'persist@example.com', metadata: { userId: 'u1' } });
      await first.close();
      const second = await startLocalStripe({ port: 0, dataDir: dir, deliverWebhooks: false, billingSweepMs: 0 });
      const again = (await sdk(second).customers.retrieve(c.id)) as Stripe.Customer;
      expect(again.metadata).toEqual({ userId: 'u1' });
      expect((await sdk(second).prices.list()).data).toHaveLength(3);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
