// The fixture runner (`cli.ts fixtures FILE`, `runFixture`) and the project's
// own trigger fixtures (`local/stripe/fixtures/*.json`, what `cli.ts trigger
// EVENT` runs): the Stripe CLI's file format, references, form encoding and
// expected errors, and every project fixture emitting and delivering its event.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import {
  FixtureError,
  lookupPath,
  parseFixtureFile,
  resolveQuery,
  runFixture,
  type FixtureFile,
} from '../../local/stripe/fixture-runner.js';
import { FIXTURES_DIR, applyOverrides, fixtureFileFor, triggerEvents } from '../../local/stripe/triggers.js';
import { trigger } from '../../local/stripe/client.js';
import { checkFixtureFile } from './fixture-check.js';
import { startHarness, type Harness } from './helpers.js';

describe('references (${name:json.path|default})', () => {
  const responses = { customer: { id: 'cus_1', tags: ['a', 'b'], address: null, invoice_settings: { default_payment_method: 'pm_1' } } };
  it.each([
    ['${customer:id}', 'cus_1'],
    ['${customer:invoice_settings.default_payment_method}', 'pm_1'],
    ['${customer:tags.1}', 'b'],
    ['${customer:tags.#}', '2'],
    ['${customer:missing|fallback}', 'fallback'],
    ['${customer:address|none}', 'none'],
    ['${customer:missing}', '${customer:missing}'],
    ['plain', 'plain'],
  ])('%s -> %s', (query, expected) => {
    expect(resolveQuery(query, responses)).toBe(expected);
  });

  it('reads the environment with ${.env:VAR}, inside a longer string too', () => {
    expect(resolveQuery('${.env:FIXTURE_TEST_VAR}/x', {}, { FIXTURE_TEST_VAR: 'v' })).toBe('v/x');
    expect(resolveQuery('${.env:FIXTURE_TEST_UNSET|dflt}', {}, {})).toBe('dflt');
  });

  it('refuses a name no earlier call declared', () => {
    expect(() => resolveQuery('${custmer:id}', responses)).toThrow(FixtureError);
  });

  it('walks objects and arrays like gjson', () => {
    expect(lookupPath({ data: [{ id: 'x' }] }, 'data.0.id')).toBe('x');
    expect(lookupPath({ data: [] }, 'data.0.id')).toBeUndefined();
  });

  it('refuses unsupported template versions and malformed files', () => {
    expect(() => parseFixtureFile('{"_meta":{"template_version":1},"fixtures":[]}')).toThrow(/version not supported/);
    expect(() => parseFixtureFile('{"fixtures":[{"name":"x"}]}')).toThrow(/needs name, path and method/);
    expect(() => parseFixtureFile('{"_meta":{}}')).toThrow(/not a fixture file/);
  });

  it('applies --override name:path=value to the named call only', () => {
    const file: FixtureFile = { fixtures: [{ name: 'a', path: '/v1/customers', method: 'post', params: { metadata: { k: '1' } } }] };
    const changed = applyOverrides(file, ['a:metadata.k=2', 'a:description=hi']);
    expect(changed.fixtures[0]?.params).toEqual({ metadata: { k: '2' }, description: 'hi' });
    expect(file.fixtures[0]?.params).toEqual({ metadata: { k: '1' } });
    expect(() => applyOverrides(file, ['b:x=1'])).toThrow(/no call named b/);
  });
});

describe('requests', () => {
  let bodies: Array<{ method: string; url: string; body: string }> = [];
  let base = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"id":"obj_1","object":"customer"}');
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('form-encodes params exactly as the stripe SDK does', async () => {
    const params = {
      description: 'a b&c',
      metadata: { order: '42', note: 'ü' },
      items: [{ price: 'price_1', quantity: 2 }, { price: 'price_2' }],
      expand: ['latest_invoice', 'customer'],
      confirm: true,
      amount: 2000,
    };
    bodies = [];
    const sdk = new Stripe('sk_test_x', { host: '127.0.0.1', port: Number(new URL(base).port), protocol: 'http', maxNetworkRetries: 0 });
    await sdk.customers.create(params);
    await runFixture({ fixtures: [{ name: 'c', path: '/v1/customers', method: 'post', params }] }, { apiBase: base });
    expect(bodies).toHaveLength(2);
    expect(bodies[1]?.body).toBe(bodies[0]?.body);
  });

  it('puts GET params in the query string and resolves references in paths', async () => {
    bodies = [];
    await runFixture(
      {
        fixtures: [
          { name: 'first', path: '/v1/customers', method: 'post', params: {} },
          { name: 'second', path: '/v1/customers/${first:id}', method: 'get', params: { expand: ['x'] } },
        ],
      },
      { apiBase: base },
    );
    expect(bodies[1]).toMatchObject({ method: 'GET', url: '/v1/customers/obj_1?expand[0]=x', body: '' });
  });
});

describe('expected_error_type against the local Stripe', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ deliverWebhooks: false });
  });
  afterAll(() => h.close());

  const declined = (expected?: string): FixtureFile => ({
    fixtures: [
      {
        name: 'pi',
        path: '/v1/payment_intents',
        method: 'post',
        params: { amount: 100, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true },
        ...(expected ? { expected_error_type: expected } : {}),
      },
      { name: 'after', path: '/v1/payment_intents/${pi:error.payment_intent.id}', method: 'get' },
    ],
  });

  it('goes on after the expected error, with the error body as the answer', async () => {
    const r = await runFixture(declined('card_error'), { apiBase: h.local.url });
    expect(r.steps[0]).toMatchObject({ status: 402, errorType: 'card_error' });
    expect(r.steps[1]?.response).toMatchObject({ object: 'payment_intent', status: 'requires_payment_method' });
  });

  it('stops at an unexpected error, or an error of another type', async () => {
    await expect(runFixture(declined(), { apiBase: h.local.url })).rejects.toThrow(
      /pi: POST \/v1\/payment_intents answered 402 card_error/,
    );
    await expect(runFixture(declined('invalid_request_error'), { apiBase: h.local.url })).rejects.toThrow(FixtureError);
  });
});

describe("the project's trigger fixtures (local/stripe/fixtures)", () => {
  const files = readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();

  it('cover the events the app handles and every trigger the old stand-in had', () => {
    const events = triggerEvents();
    for (const e of [
      'customer.created',
      'payment_intent.succeeded',
      'payment_intent.payment_failed',
      'payment_intent.requires_action',
      'payment_intent.canceled',
      'charge.refunded',
      'charge.dispute.created',
      'customer.subscription.created',
      'customer.subscription.updated',
      'customer.subscription.deleted',
      'customer.subscription.trial_will_end',
      'customer.subscription.paused',
      'invoice.paid',
      'invoice.payment_succeeded',
      'invoice.payment_failed',
      'invoice.finalized',
    ]) {
      expect(events).toContain(e);
    }
    expect(fixtureFileFor('charge.succeeded')).toMatch(/payment_intent\.succeeded\.json$/);
    expect(fixtureFileFor('../../etc/passwd')).toBeNull();
  });

  it.each(files)('%s: every call as expected, its event delivered and signed', async (name) => {
    await checkFixtureFile(join(FIXTURES_DIR, name));
  });
});

describe('trigger for an existing customer (POST /_local/trigger)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  it.each([
    ['payment_intent.succeeded', ['payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded']],
    ['payment_intent.payment_failed', ['payment_intent.created', 'charge.failed', 'payment_intent.payment_failed']],
    ['invoice.payment_failed', ['invoiceitem.created', 'invoice.created', 'invoice.finalized', 'invoice.payment_failed']],
    ['customer.subscription.deleted', ['customer.subscription.created', 'invoice.paid', 'customer.subscription.deleted']],
  ])('%s', async (event, expected) => {
    const customer = await h.stripe.customers.create({ email: `${event}@example.com` });
    const result = await trigger(h.local.url, event, { customer: customer.id, amount: 1234 });
    expect(result.customer).toBe(customer.id);
    const types = result.events.map((e) => e.type);
    const positions = expected.map((t) => types.indexOf(t));
    expect(
      positions.every((p) => p >= 0),
      `${types.join(', ')}`,
    ).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // The given customer is used, not a new one.
    expect(types).not.toContain('customer.created');
    if (event.startsWith('payment_intent')) {
      const intents = await h.stripe.paymentIntents.list({ customer: customer.id });
      expect(intents.data.map((pi) => pi.amount)).toContain(1234);
    }
    await h.receiver.waitFor((all) => result.events.every((e) => all.some((r) => r.event.id === e.id)));
  });

  it('refuses an unknown event and an unknown customer without creating anything', async () => {
    const before = h.local.events().length;
    await expect(trigger(h.local.url, 'no.such_event')).rejects.toThrow(/No fixture for 'no.such_event'/);
    await expect(trigger(h.local.url, 'customer.created', { customer: 'cus_missing' })).rejects.toThrow(/No such customer/);
    expect(h.local.events()).toHaveLength(before);
  });
});

describe('cli.ts fixtures FILE and trigger EVENT (the command line)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ deliverWebhooks: false });
  });
  afterAll(() => h.close());
  const run = promisify(execFile);

  it('runs a fixture file and a trigger against the server given by --api', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fixtures-'));
    const file = join(dir, 'mine.json');
    writeFileSync(
      file,
      JSON.stringify({
        _meta: { template_version: 0 },
        fixtures: [
          { name: 'customer', path: '/v1/customers', method: 'post', params: { email: 'cli@example.com', metadata: { via: 'cli' } } },
          { name: 'update', path: '/v1/customers/${customer:id}', method: 'post', params: { name: '${customer:email}' } },
        ],
      }),
    );
    const cli = join(__dirname, '../../local/stripe/cli.ts');
    const tsx = join(__dirname, '../../node_modules/.bin/tsx');
    const out = await run(tsx, [cli, 'fixtures', file, '--api', h.local.url, '--override', 'customer:metadata.via=override']);
    expect(out.stdout).toContain('Running fixture for: update (POST /v1/customers/cus_');
    const found = await h.stripe.customers.list({ email: 'cli@example.com' });
    expect(found.data[0]).toMatchObject({ name: 'cli@example.com', metadata: { via: 'override' } });

    const trig = await run(tsx, [
      cli,
      'trigger',
      'payment_intent.succeeded',
      '--api',
      h.local.url,
      '--override',
      'payment_intent:amount=777',
    ]);
    expect(trig.stdout).toContain('Trigger succeeded');
    expect(h.local.events('payment_intent.succeeded').map((e) => (e.data.object as Stripe.PaymentIntent).amount)).toContain(777);
  }, 60_000);
});
