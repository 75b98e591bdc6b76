import { beforeEach, describe, expect, it } from 'vitest';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { POST as postCustomer } from '@/app/api/payments/customers/route';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';

// The payments API end to end in one process: real JWTs from the local Supabase Auth, the real
// `stripe` SDK against the local Stripe over HTTP, its signed webhooks delivered over HTTP to the
// webhook route, and a real PostgreSQL 15.

const h = paymentsHarness();
beforeEach(() => h.local.local.faults.clear());

const count = async (sql: string, values: unknown[]) => (await h.db.query<{ n: number }>(sql, values)).rows[0]?.n ?? -1;

describe('POST /api/payments/customers', () => {
  it('creates one customer per user, even for ten concurrent calls, and stores it', async () => {
    const user = await h.auth.signUp();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        api(postCustomer, 'POST', '/api/payments/customers', { token: user.accessToken, body: { email: user.email, name: 'Ada' } }),
      ),
    );
    const ids = new Set(answers.map((answer) => answer.body.data?.customerId));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    expect(ids.size).toBe(1);
    const [customerId] = [...ids];
    const stored = await h.db.query('select stripe_customer_id, name from users where id = $1', [user.userId]);
    expect(stored.rows).toEqual([{ stripe_customer_id: customerId, name: 'Ada' }]);
    const atStripe = await stripe().customers.list({ limit: 100 });
    expect(atStripe.data.filter((customer) => customer.metadata.userId === user.userId).map((customer) => customer.id)).toEqual([
      customerId,
    ]);
  });

  it.each([
    [{}, 'email must be an email address'],
    [{ email: 'not-an-email' }, 'email must be an email address'],
    [{ email: 'a@example.test', name: '' }, 'name must not be empty'],
    [{ email: 'a@example.test', name: 'x'.repeat(201) }, 'name must be at most 200 characters'],
    [{ email: 'a@example.test', admin: true }, 'Unrecognized key: "admin"'],
  ])('refuses %j with 400 and creates nothing', async (body, message) => {
    const user = await h.auth.signUp();
    const answer = await api(postCustomer, 'POST', '/api/payments/customers', { token: user.accessToken, body });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'validation_failed', message });
    expect(await count('select count(*)::int as n from users where id = $1 and stripe_customer_id is not null', [user.userId])).toBe(0);
  });
});

describe('POST /api/payments/payment-intent', () => {
  it('creates a pending top-up and never stores the client secret', async () => {
    const user = await h.auth.signUp();
    const answer = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', {
      token: user.accessToken,
      body: { amount: 15.5 },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toMatchObject({ amountCents: 1550, amount: 15.5, status: 'requires_payment_method', reused: false });
    const { id, clientSecret } = answer.body.data;
    expect(clientSecret).toMatch(new RegExp(`^${id}_secret_`));
    const attempts = await h.db.query('select amount_cents, status, kind, payment_intent_id from payment_attempts where user_id = $1', [
      user.userId,
    ]);
    expect(attempts.rows).toEqual([{ amount_cents: 1550, status: 'pending', kind: 'usage_topup', payment_intent_id: id }]);
    // The webhooks about this intent (which carry its secret) have been handled and stored too.
    await h.local.idle();
    expect(
      await count("select count(*)::int as n from webhook_events where type like 'payment_intent.%' and payload::text like $1", [
        `%${id}%`,
      ]),
    ).toBeGreaterThan(0);
    const everything = await h.db.query<{ dump: string }>(
      `select string_agg(t::text, ' ') as dump from (
         select row_to_json(p)::text as t from payment_attempts p union all select row_to_json(w)::text from webhook_events w
         union all select row_to_json(a)::text from audit_log a) rows`,
    );
    expect(everything.rows[0]?.dump ?? '').not.toContain(clientSecret);
  });

  it('answers a double click (concurrent and sequential) with the same intent', async () => {
    const user = await h.auth.signUp();
    const send = () => api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 20 } });
    const concurrent = await Promise.all(Array.from({ length: 5 }, send));
    const later = await send();
    expect(new Set([...concurrent, later].map((answer) => answer.body.data?.id)).size).toBe(1);
    expect(later.body.data?.reused).toBe(true);
    expect(await count('select count(*)::int as n from payment_attempts where user_id = $1', [user.userId])).toBe(1);
    const customer = (await h.db.query<{ c: string }>('select stripe_customer_id as c from users where id = $1', [user.userId])).rows[0]!.c;
    expect((await stripe().paymentIntents.list({ customer })).data).toHaveLength(1);
  });

  it.each([
    [{}, 'amount must be a number of dollars'],
    [{ amount: '15.50' }, 'amount must be a number of dollars'],
    [{ amount: 0 }, 'amount must be between 0.5 and 10000 dollars'],
    [{ amount: 0.49 }, 'amount must be between 0.5 and 10000 dollars'],
    [{ amount: -5 }, 'amount must be between 0.5 and 10000 dollars'],
    [{ amount: 10_000.01 }, 'amount must be between 0.5 and 10000 dollars'],
    [{ amount: 1.234 }, 'amount must have at most 2 decimal places'],
    [{ amount: 5, currency: 'eur' }, 'Unrecognized key: "currency"'],
  ])('refuses %j with 400 and writes nothing', async (body, message) => {
    const user = await h.auth.signUp();
    const answer = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body });
    expect(answer).toEqual({ status: 400, body: { error: expect.objectContaining({ code: 'validation_failed', message }) } });
    expect(await count('select count(*)::int as n from payment_attempts where user_id = $1', [user.userId])).toBe(0);
  });

  it('answers 401 without a valid token and writes nothing', async () => {
    const forged = await h.auth.signWithForeignKey({
      sub: crypto.randomUUID(),
      aud: 'authenticated',
      role: 'authenticated',
      exp: Math.floor(Date.now() / 1000) + 600,
    });
    for (const token of [undefined, forged]) {
      const answer = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token, body: { amount: 5 } });
      expect(answer.status).toBe(401);
      expect(answer.body.error?.code).toBe('unauthorized');
    }
  });

  it('maps Stripe 500s to 502 and a timeout to 503, writes nothing half, and a retry creates exactly one intent', async () => {
    const user = await h.auth.signUp();
    await api(postCustomer, 'POST', '/api/payments/customers', { token: user.accessToken, body: { email: user.email } });
    const send = () => api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 7 } });

    h.local.local.faults.inject({ type: '500', count: 2, path: '/v1/payment_intents', method: 'POST' });
    const failed = await send();
    expect(failed.status).toBe(502);
    expect(failed.body.error).toEqual({
      code: 'payment_provider_error',
      message: 'The payment provider could not complete the request. Please try again.',
    });

    // The request is processed by Stripe but both answers are lost: the retry must find the same intent.
    h.local.local.faults.inject({ type: 'timeout', count: 2, path: '/v1/payment_intents', method: 'POST', afterProcessing: true });
    const timedOut = await send();
    expect(timedOut.status).toBe(503);
    expect(timedOut.body.error?.code).toBe('service_unavailable');
    expect(await count('select count(*)::int as n from payment_attempts where user_id = $1', [user.userId])).toBe(0);

    const retried = await send();
    expect(retried.status).toBe(200);
    const customer = (await h.db.query<{ c: string }>('select stripe_customer_id as c from users where id = $1', [user.userId])).rows[0]!.c;
    const intents = (await stripe().paymentIntents.list({ customer })).data;
    expect(intents.map((intent) => intent.id)).toEqual([retried.body.data?.id]);
    expect(await count('select count(*)::int as n from payment_attempts where user_id = $1', [user.userId])).toBe(1);
  });

  it('rate-limits intent creation per user with 429', async () => {
    const user = await h.auth.signUp();
    const statuses: number[] = [];
    for (let amount = 1; amount <= 11; amount++) {
      statuses.push(
        (await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount } })).status,
      );
    }
    expect(statuses).toEqual([...Array(10).fill(200), 429]);
    const other = await h.auth.signUp();
    expect(
      (await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: other.accessToken, body: { amount: 1 } })).status,
    ).toBe(200);
  });
});
