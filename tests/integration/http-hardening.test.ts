import { describe, expect, it } from 'vitest';
import { sessionCookieName } from '@/lib/auth/session-cookie';
import { JSON_BODY_LIMIT_BYTES, WEBHOOK_BODY_LIMIT_BYTES } from '@/lib/http/body';
import { errorResponse } from '@/lib/http/errors';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { deliverWebhook } from '@/tests/helpers/webhooks';
import { GET as getBilling } from '@/app/api/payments/billing/route';
import { PUT as putBudget } from '@/app/api/payments/budget/route';
import { POST as postCustomer } from '@/app/api/payments/customers/route';
import { GET as getHistory } from '@/app/api/payments/history/route';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as postWebhook } from '@/app/api/payments/webhook/route';
import { POST as commit } from '@/pages/api/usage/commit';
import { POST as reserve } from '@/pages/api/usage/reserve';

// The HTTP surface as an attacker probes it (issue 15): forged cross-site writes riding on the
// session cookie, oversized bodies, control characters, headers, malformed signed webhooks.
// In-process against PostgreSQL 15, the local Stripe through the real SDK, and the local auth.

const h = paymentsHarness();
const TASK_RUNNER_KEY = 'tr_test_key_0123456789';
process.env.TASK_RUNNER_API_KEY = TASK_RUNNER_KEY;

const APP = 'http://app.test';
type Handler = (request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response>;

/** The @supabase/ssr session cookie for an access token, as the browser sends it. */
function sessionCookie(accessToken: string): string {
  const value = `base64-${Buffer.from(JSON.stringify({ access_token: accessToken })).toString('base64url')}`;
  return `${sessionCookieName(h.auth.url)}=${value}`;
}

async function send(handler: Handler, path: string, init: RequestInit) {
  const response = await handler(new Request(`${APP}${path}`, { method: 'POST', ...init }), { params: Promise.resolve({}) });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as { data?: any; error?: { code: string; message: string } },
  };
}

const stripeCustomersOf = async (userId: string) =>
  (await stripe().customers.list({ limit: 100 })).data.filter((customer) => customer.metadata.userId === userId);
const storedCustomer = async (userId: string) =>
  (await h.db.query<{ stripe_customer_id: string | null }>('select stripe_customer_id from users where id = $1', [userId])).rows[0]
    ?.stripe_customer_id ?? null;

describe('cross-site writes with the session cookie', () => {
  const body = JSON.stringify({ email: 'attacker@example.test', name: 'Mallory' });

  it.each([
    ['a form on another port of the same host', { origin: 'http://app.test:8080', 'content-type': 'text/plain' }, 403],
    ['a sibling subdomain, as JSON', { origin: 'http://evil.app.test', 'content-type': 'application/json' }, 403],
    ['an opaque origin (sandboxed frame)', { origin: 'null', 'content-type': 'application/json' }, 403],
    ['no Origin and Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site', 'content-type': 'application/json' }, 403],
    ['no Origin and no Sec-Fetch-Site', { 'content-type': 'application/json' }, 403],
    ['our own origin but a text/plain body', { origin: APP, 'content-type': 'text/plain' }, 415],
    ['our own origin but a form body', { origin: APP, 'content-type': 'application/x-www-form-urlencoded' }, 415],
    ['Sec-Fetch-Site same-origin but no content type', { 'sec-fetch-site': 'same-origin' }, 415],
  ])('refuses %s and changes nothing', async (_what, headers, status) => {
    const user = await h.auth.signUp();
    const answer = await send(postCustomer, '/api/payments/customers', {
      headers: { ...headers, cookie: sessionCookie(user.accessToken) },
      body,
    });
    expect(answer.status).toBe(status);
    expect(answer.body.error?.code).toBe(status === 403 ? 'forbidden' : 'unsupported_media_type');
    expect(await storedCustomer(user.userId)).toBeNull();
    expect(await stripeCustomersOf(user.userId)).toEqual([]);
  });

  it('refuses a cross-site usage commit and budget change with the cookie; nothing is written', async () => {
    const user = await h.auth.signUp();
    const cookie = sessionCookie(user.accessToken);
    const forged = { origin: 'http://app.test:9999', 'content-type': 'text/plain', cookie };
    const usage = JSON.stringify({ agent: 'x', tokens: 1_000_000_000, executionMs: 86_400_000, idempotencyKey: 'csrf' });
    // Refused by the cross-origin check itself (a signed-in user's commit would get 403 anyway).
    const crossOrigin = { status: 403, error: { code: 'forbidden', message: 'Cross-origin requests are not allowed' } };
    const committed = await send(commit, '/api/usage/commit', { headers: forged, body: usage });
    expect({ status: committed.status, error: committed.body.error }).toEqual(crossOrigin);
    const budgeted = await send(putBudget, '/api/payments/budget', { method: 'PUT', headers: forged, body: '{"monthlyBudget":1}' });
    expect({ status: budgeted.status, error: budgeted.body.error }).toEqual(crossOrigin);
    const written = await h.db.query(
      'select (select count(*)::int from usage_events where user_id = $1) as events, (select count(*)::int from budgets where user_id = $1) as budgets',
      [user.userId],
    );
    expect(written.rows).toEqual([{ events: 0, budgets: 0 }]);
  });

  it('accepts the same write from our own origin as JSON, and reads from anywhere', async () => {
    const user = await h.auth.signUp();
    const cookie = sessionCookie(user.accessToken);
    const viaOrigin = await send(postCustomer, '/api/payments/customers', {
      headers: { origin: APP, 'content-type': 'application/json; charset=utf-8', cookie },
      body: JSON.stringify({ email: user.email }),
    });
    expect(viaOrigin.status).toBe(200);
    const viaFetchSite = await send(putBudget, '/api/payments/budget', {
      method: 'PUT',
      headers: { 'sec-fetch-site': 'same-origin', 'content-type': 'application/json', cookie },
      body: '{"monthlyBudget":25}',
    });
    expect(viaFetchSite.status).toBe(200);
    const read = await send(getBilling, '/api/payments/billing', { method: 'GET', headers: { origin: 'http://elsewhere.test', cookie } });
    expect(read.status).toBe(200);
  });

  it('leaves Bearer callers alone (no Origin, any content type)', async () => {
    const user = await h.auth.signUp();
    const answer = await send(postCustomer, '/api/payments/customers', {
      headers: { authorization: `Bearer ${user.accessToken}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ email: user.email }),
    });
    expect(answer.status).toBe(200);
  });
});

/** A body that never ends, counting what the server pulled from it. */
function endlessBody(chunkBytes = 16 * 1024) {
  const state = { pulled: 0 };
  const chunk = new Uint8Array(chunkBytes).fill(0x20);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.pulled += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { stream, state };
}

describe('bodies are limited while they are read', () => {
  it('answers 413 in the error shape to a JSON body past 64 KB, and writes nothing', async () => {
    const user = await h.auth.signUp();
    const body = JSON.stringify({ email: user.email, name: 'x'.repeat(JSON_BODY_LIMIT_BYTES) });
    const answer = await send(postCustomer, '/api/payments/customers', { headers: { authorization: `Bearer ${user.accessToken}` }, body });
    expect(answer.status).toBe(413);
    expect(answer.body).toEqual({
      error: { code: 'payload_too_large', message: `Request body must be at most ${JSON_BODY_LIMIT_BYTES} bytes` },
    });
    expect(await storedCustomer(user.userId)).toBeNull();
  });

  it('stops reading an endless JSON body at the limit', async () => {
    const user = await h.auth.signUp();
    const { stream, state } = endlessBody();
    const answer = await send(postPaymentIntent, '/api/payments/payment-intent', {
      headers: { authorization: `Bearer ${user.accessToken}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(answer.status).toBe(413);
    expect(state.pulled).toBeLessThanOrEqual(JSON_BODY_LIMIT_BYTES + 3 * 16 * 1024);
  });

  it('stops reading an endless webhook body at Stripe-sized limit, unauthenticated', async () => {
    const { stream, state } = endlessBody(64 * 1024);
    const answer = await send(postWebhook, '/api/payments/webhook', {
      headers: { 'stripe-signature': 't=1,v1=00' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(answer.status).toBe(413);
    expect(answer.body.error?.code).toBe('payload_too_large');
    expect(state.pulled).toBeLessThanOrEqual(WEBHOOK_BODY_LIMIT_BYTES + 3 * 64 * 1024);
  });

  it('refuses a declared Content-Length past the limit before reading a byte', async () => {
    const { stream, state } = endlessBody();
    const answer = await send(postWebhook, '/api/payments/webhook', {
      headers: { 'content-length': String(600 * 1024 * 1024), 'stripe-signature': 't=1,v1=00' },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(answer.status).toBe(413);
    expect(state.pulled).toBeLessThanOrEqual(2 * 16 * 1024); // a stream may pre-pull its first chunks
  });
});

describe('strings are clean before they reach Stripe or the database', () => {
  it.each([
    ['a NUL in name', { name: 'Ada\u0000' }],
    ['a lone high surrogate in name', { name: 'Ada\ud800' }],
    ['a lone low surrogate in name', { name: '\udc00Ada' }],
    ['a NUL in email', { email: 'a\u0000@example.test' }],
  ])('POST /customers with %s: 400, no Stripe write, nothing stored', async (_what, fields) => {
    const user = await h.auth.signUp();
    const answer = await api(postCustomer, 'POST', '/api/payments/customers', {
      token: user.accessToken,
      body: { email: user.email, ...fields },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('validation_failed');
    expect(answer.body.error?.message).toMatch(/NUL or unpaired surrogate/);
    expect(await stripeCustomersOf(user.userId)).toEqual([]);
    expect(await storedCustomer(user.userId)).toBeNull();
  });

  it('accepts a well-formed pair of surrogates (an emoji) in name', async () => {
    const user = await h.auth.signUp();
    const answer = await api(postCustomer, 'POST', '/api/payments/customers', {
      token: user.accessToken,
      body: { email: user.email, name: 'Ada 🚀' },
    });
    expect(answer.status).toBe(200);
  });

  it.each([
    ['idempotencyKey', { idempotencyKey: 'k\u0000' }],
    ['agent', { agent: 'chat\u0000' }],
    ['agent (lone surrogate)', { agent: '\ud83d' }],
    ['an unknown key carrying a NUL', { ['x\u0000']: 1 }],
  ])('task runner commit with a bad %s: 400 and no usage event', async (_what, fields) => {
    const user = await h.auth.signUp();
    await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken }); // creates the user row
    const answer = await api(commit, 'POST', '/api/usage/commit', {
      token: TASK_RUNNER_KEY,
      body: { userId: user.userId, agent: 'chat', tokens: 10, executionMs: 10, idempotencyKey: 'k1', ...fields },
    });
    expect(answer.status).toBe(400);
    const events = await h.db.query('select count(*)::int as n from usage_events where user_id = $1', [user.userId]);
    expect(events.rows).toEqual([{ n: 0 }]);
  });

  it('refuses a NUL in a query string with 400', async () => {
    const user = await h.auth.signUp();
    const answer = await api(getHistory, 'GET', '/api/payments/history?cursor=%00', { token: user.accessToken });
    expect(answer.status).toBe(400);
  });

  it('a NUL in a reservation key never reaches the database', async () => {
    const user = await h.auth.signUp();
    await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    const answer = await api(reserve, 'POST', '/api/usage/reserve', {
      token: TASK_RUNNER_KEY,
      body: { userId: user.userId, estimatedCost: 1, idempotencyKey: '\u0000' },
    });
    expect(answer.status).toBe(400);
  });
});

describe('API answers are never cached or sniffed', () => {
  it.each([
    [
      'a success carrying a client secret',
      () =>
        h.auth.signUp().then((u) =>
          send(postPaymentIntent, '/api/payments/payment-intent', {
            headers: { authorization: `Bearer ${u.accessToken}` },
            body: '{"amount":5}',
          }),
        ),
    ],
    ['a 401', () => send(getBilling, '/api/payments/billing', { method: 'GET' })],
    [
      'a 400',
      () =>
        h.auth
          .signUp()
          .then((u) =>
            send(postPaymentIntent, '/api/payments/payment-intent', { headers: { authorization: `Bearer ${u.accessToken}` }, body: '{' }),
          ),
    ],
    ['a webhook 400', () => send(postWebhook, '/api/payments/webhook', { body: '{}' })],
  ])('%s has Cache-Control: no-store and nosniff', async (_what, request) => {
    const answer = await request();
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('a 500 has them too', () => {
    const response = errorResponse(new Error('boom'));
    expect(response.status).toBe(500);
    expect(response.headers.get('cache-control')).toBe('no-store');
  });
});

describe('webhooks: signed but malformed, or from the future', () => {
  const deliver = (payload: string, timestamp?: number) => deliverWebhook(payload, { timestamp });
  const eventCount = async () => (await h.db.query<{ n: number }>('select count(*)::int as n from webhook_events')).rows[0]?.n;

  it.each([
    ['not JSON', 'hello', 'invalid_json'],
    ['a JSON array', '[]', 'validation_failed'],
    ['a JSON string', '"evt_1"', 'validation_failed'],
    ['an object that is not an event', '{"id":"evt_1"}', 'validation_failed'],
    ['an event without data.object', '{"id":"evt_1","type":"payment_intent.succeeded","created":1,"data":{}}', 'validation_failed'],
    [
      'an event carrying a NUL',
      '{"id":"evt_1","type":"customer.updated","created":1,"data":{"object":{"name":"a\\u0000"}}}',
      'validation_failed',
    ],
  ])('%s gets 400 and nothing is recorded', async (_what, payload, code) => {
    const before = await eventCount();
    const answer = await deliver(payload);
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe(code);
    expect(await eventCount()).toBe(before);
  });

  it('refuses a timestamp more than 5 minutes in the future like an old one, and accepts one 4 minutes ahead', async () => {
    const event = JSON.stringify({
      id: `evt_future_${Date.now()}`,
      object: 'event',
      type: 'test.unknown',
      created: 1,
      data: { object: {} },
    });
    const now = Math.floor(Date.now() / 1000);
    expect((await deliver(event, now + 6 * 60)).body.error?.code).toBe('invalid_signature');
    expect((await deliver(event, now - 6 * 60)).body.error?.code).toBe('invalid_signature');
    expect((await deliver(event, now + 4 * 60)).status).toBe(200);
  });
});

describe('rate limits per address, and Stripe writes per user', () => {
  it('five fresh accounts from one address share its intent budget (30 per 10 minutes); another address is unaffected', async () => {
    const address = `203.0.113.${Math.floor(Math.random() * 250)}`;
    const users = await Promise.all(Array.from({ length: 5 }, () => h.auth.signUp()));
    const statuses: number[] = [];
    for (let round = 0; round < 7; round += 1) {
      for (const user of users) {
        const answer = await send(postPaymentIntent, '/api/payments/payment-intent', {
          headers: { authorization: `Bearer ${user.accessToken}`, 'x-forwarded-for': `198.51.100.7, ${address}` },
          body: JSON.stringify({ amount: 1 + round }),
        });
        statuses.push(answer.status);
        if (answer.status === 429) expect(answer.body.error?.code).toBe('rate_limited');
      }
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(30);
    expect(statuses.slice(30)).toEqual([429, 429, 429, 429, 429]);
    const elsewhere = await send(postPaymentIntent, '/api/payments/payment-intent', {
      headers: { authorization: `Bearer ${users[0]!.accessToken}`, 'x-forwarded-for': '192.0.2.44' },
      body: JSON.stringify({ amount: 9 }),
    });
    expect(elsewhere.status).toBe(200);
  });

  it('100 identical POST /customers calls make one Stripe write', async () => {
    const user = await h.auth.signUp();
    const post = () =>
      api(postCustomer, 'POST', '/api/payments/customers', { token: user.accessToken, body: { email: user.email, name: 'Ada' } });
    const first = await post();
    expect(first.status).toBe(200);
    // From now on any write to this customer would fail: the fault's count shows how many came.
    h.local.local.faults.inject({ type: '500', count: 1000, method: 'POST', path: `/v1/customers/${first.body.data.customerId}` });
    try {
      for (let i = 0; i < 100; i += 1) expect((await post()).status).toBe(200);
      expect(h.local.local.faults.pending()).toEqual([expect.objectContaining({ count: 1000 })]);
    } finally {
      h.local.local.faults.clear();
    }
  });

  it('changes are written, at most 20 per user in 10 minutes, then 429', async () => {
    const user = await h.auth.signUp();
    const statuses: number[] = [];
    for (let i = 0; i < 22; i += 1) {
      statuses.push(
        (
          await api(postCustomer, 'POST', '/api/payments/customers', {
            token: user.accessToken,
            body: { email: user.email, name: `Ada ${i}` },
          })
        ).status,
      );
    }
    expect(statuses).toEqual([...Array(20).fill(200), 429, 429]);
    const atStripe = await stripeCustomersOf(user.userId);
    expect(atStripe.map((customer) => customer.name)).toEqual(['Ada 19']);
  });
});
