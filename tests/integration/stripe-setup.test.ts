import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLAN_IDS } from '@/lib/billing/plans';
import { STRIPE_API_VERSION, stripe } from '@/lib/stripe/client';
import { PLAN_LOOKUP_KEY, PLAN_PRODUCT_ID, setupStripe, WEBHOOK_EVENTS } from '@/lib/stripe/setup';
import { HANDLED_EVENT_TYPES } from '@/lib/webhooks/dispatcher';
import { startTestStripe, type TestStripe } from '@/tests/helpers/stripe';

// npm run stripe:setup against the local Stripe through the real SDK: a first run creates the
// catalogue and the endpoint, a second changes nothing, drift is repaired, the CLI prints env lines.
const APP_URL = 'https://billing.example.test';
const ENDPOINT_URL = `${APP_URL}/api/payments/webhook`;
let local: TestStripe;
beforeAll(async () => {
  local = await startTestStripe(async () => Response.json({ received: true }));
});
afterAll(() => local?.close());

async function accountState() {
  const prices = await stripe().prices.list({ lookup_keys: PLAN_IDS.map(PLAN_LOOKUP_KEY), limit: 10 });
  const all = await stripe().prices.list({ limit: 100 });
  const endpoints = (await stripe().webhookEndpoints.list({ limit: 100 })).data.filter((endpoint) => endpoint.url === ENDPOINT_URL);
  return {
    byLookupKey: Object.fromEntries(
      prices.data.map((price) => [price.lookup_key, { id: price.id, amount: price.unit_amount, interval: price.recurring?.interval }]),
    ),
    priceCount: all.data.length,
    endpoints: endpoints.map((endpoint) => ({
      id: endpoint.id,
      events: [...endpoint.enabled_events].sort(),
      status: endpoint.status,
      version: endpoint.api_version,
    })),
  };
}

describe('stripe:setup', () => {
  it('subscribes to exactly the events the webhook route handles', () => {
    // Every case of the dispatcher's switch, plus payment_intent.succeeded (the inbox handles it).
    const source = readFileSync('lib/webhooks/dispatcher.ts', 'utf8');
    const cases = [...source.matchAll(/case '([a-z_.]+)':/g)].map((match) => match[1]!);
    expect(WEBHOOK_EVENTS).toEqual([...new Set([...cases, 'payment_intent.succeeded'])].sort());
    expect(WEBHOOK_EVENTS).toEqual([...new Set(HANDLED_EVENT_TYPES)].sort());
  });

  it('creates the products, monthly prices and the endpoint, then a second run changes nothing', async () => {
    const first = await setupStripe(stripe(), APP_URL);
    expect(first.changed).toBe(true);
    expect(first.actions.filter((action) => action.startsWith('created'))).toHaveLength(7);
    const state = await accountState();
    expect(state.byLookupKey).toEqual({
      billing_starter_monthly: { id: expect.stringMatching(/^price_/), amount: 1_000, interval: 'month' },
      billing_pro_monthly: { id: expect.stringMatching(/^price_/), amount: 5_000, interval: 'month' },
      billing_enterprise_monthly: { id: expect.stringMatching(/^price_/), amount: 50_000, interval: 'month' },
    });
    expect(state.endpoints).toEqual([{ id: expect.any(String), events: WEBHOOK_EVENTS, status: 'enabled', version: STRIPE_API_VERSION }]);
    expect(first.env).toEqual([
      `STRIPE_STARTER_PRICE_ID=${state.byLookupKey.billing_starter_monthly!.id}`,
      `STRIPE_PRO_PRICE_ID=${state.byLookupKey.billing_pro_monthly!.id}`,
      `STRIPE_ENTERPRISE_PRICE_ID=${state.byLookupKey.billing_enterprise_monthly!.id}`,
      expect.stringMatching(/^STRIPE_WEBHOOK_SECRET=whsec_\w+$/),
    ]);

    const second = await setupStripe(stripe(), APP_URL);
    expect(second.changed).toBe(false);
    expect(second.actions.every((action) => action.startsWith('unchanged'))).toBe(true);
    expect(second.env.slice(0, 3)).toEqual(first.env.slice(0, 3));
    expect(await accountState()).toEqual(state);
  });

  it('repairs drift: a renamed product, a repriced plan, an endpoint with other events, disabled', async () => {
    const before = await accountState();
    await stripe().products.update(PLAN_PRODUCT_ID('pro'), { name: 'Pro (old)' });
    const wrong = await stripe().prices.create({
      product: PLAN_PRODUCT_ID('pro'),
      unit_amount: 4_900,
      currency: 'usd',
      recurring: { interval: 'month' },
      lookup_key: PLAN_LOOKUP_KEY('pro'),
      transfer_lookup_key: true,
    });
    const endpoint = before.endpoints[0]!;
    await stripe().webhookEndpoints.update(endpoint.id, { enabled_events: ['*'], disabled: true });

    const repair = await setupStripe(stripe(), APP_URL);
    expect(repair.changed).toBe(true);
    expect(repair.actions.filter((action) => !action.startsWith('unchanged'))).toEqual([
      `updated product ${PLAN_PRODUCT_ID('pro')}`,
      expect.stringMatching(new RegExp(`^replaced price ${wrong.id} by price_\\w+ \\(billing_pro_monthly\\)$`)),
      `updated webhook endpoint ${endpoint.id} (events, enabled again)`,
    ]);
    const after = await accountState();
    expect(after.byLookupKey.billing_pro_monthly).toMatchObject({ amount: 5_000 });
    expect(after.byLookupKey.billing_pro_monthly!.id).not.toBe(wrong.id);
    expect(after.endpoints).toEqual([{ ...endpoint, events: WEBHOOK_EVENTS, status: 'enabled' }]);
    expect((await stripe().products.retrieve(PLAN_PRODUCT_ID('pro'))).name).toBe('Pro');
    expect((await setupStripe(stripe(), APP_URL)).changed).toBe(false);
  });

  it('refuses a lookup key already held by another price unless it is transferred (as Stripe does)', async () => {
    await expect(
      stripe().prices.create({
        product: PLAN_PRODUCT_ID('starter'),
        unit_amount: 1,
        currency: 'usd',
        lookup_key: PLAN_LOOKUP_KEY('starter'),
      }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'lookup_key' });
  });

  it('npm run stripe:setup prints what it did and the env lines', async () => {
    // Asynchronously: the local Stripe answering the script runs in this process.
    const result = await promisify(execFile)('node_modules/.bin/tsx', ['scripts/stripe-setup.ts', '--url', APP_URL], {
      env: { ...process.env, STRIPE_SECRET_KEY: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`local Stripe at ${process.env.STRIPE_API_BASE}`);
    expect(result.stdout).toContain('Nothing to change.');
    expect(result.stdout).toMatch(/^STRIPE_PRO_PRICE_ID=price_\w+$/m);
    expect(result.stdout).toContain('# STRIPE_WEBHOOK_SECRET: unchanged');
  });
});
