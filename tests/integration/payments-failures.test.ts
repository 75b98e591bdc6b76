import { describe, expect, it } from 'vitest';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { POST as postCustomer } from '@/app/api/payments/customers/route';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';
import { PUT as putSubscription, DELETE as deleteSubscription } from '@/app/api/payments/subscriptions/[subscriptionId]/route';
import { GET as getBilling } from '@/app/api/payments/billing/route';
import { GET as getHistory } from '@/app/api/payments/history/route';
import { GET as getPlans } from '@/app/api/payments/plans/route';
import { POST as postUpgrade } from '@/app/api/payments/upgrade-plan/route';
import { POST as checkUsageLimit } from '@/app/api/payments/check-usage-limit/route';

// Every payments endpoint when the caller is not signed in, and when Stripe fails (500s, then
// timeouts): the shared error body, nothing written, and a retry afterwards that does not
// create anything twice.

const h = paymentsHarness();

type Handler = Parameters<typeof api>[0];
type Call = [name: string, handler: Handler, method: string, path: string, body?: unknown, params?: Record<string, string>];

const sub = 'sub_someone';
const ALL_ENDPOINTS: Call[] = [
  ['customers', postCustomer, 'POST', '/api/payments/customers', { email: 'a@example.test' }],
  ['payment-intent', postPaymentIntent, 'POST', '/api/payments/payment-intent', { amount: 5 }],
  ['subscribe', postSubscription, 'POST', '/api/payments/subscriptions', { planId: 'pro' }],
  ['change plan', putSubscription, 'PUT', `/api/payments/subscriptions/${sub}`, { planId: 'enterprise' }, { subscriptionId: sub }],
  ['cancel', deleteSubscription, 'DELETE', `/api/payments/subscriptions/${sub}`, undefined, { subscriptionId: sub }],
  ['billing', getBilling, 'GET', '/api/payments/billing'],
  ['history', getHistory, 'GET', '/api/payments/history'],
  ['plans', getPlans, 'GET', '/api/payments/plans'],
  ['upgrade-plan', postUpgrade, 'POST', '/api/payments/upgrade-plan', { planId: 'pro' }],
  ['check-usage-limit', checkUsageLimit, 'POST', '/api/payments/check-usage-limit', { estimatedCost: 50 }],
];

describe.each(ALL_ENDPOINTS)('%s without a valid token', (_name, handler, method, path, body, params) => {
  it('answers 401 with the shared error body', async () => {
    const expired = await h.auth.signWithServerKey({
      sub: crypto.randomUUID(),
      aud: 'authenticated',
      role: 'authenticated',
      exp: Math.floor(Date.now() / 1000) - 60,
    });
    for (const token of [undefined, expired]) {
      const answer = await api(handler, method, path, { token, body, params });
      expect(answer.status).toBe(401);
      expect(answer.body.error?.code).toBe('unauthorized');
    }
  });
});

async function moneyState() {
  const query = async (sql: string) => (await h.db.query(sql)).rows;
  return {
    customers: await query('select id, stripe_customer_id from users order by id'),
    subscriptions: await query('select id, plan_id, status, cancel_at_period_end from subscriptions order by id'),
    attempts: await query('select payment_intent_id, status from payment_attempts order by payment_intent_id'),
    credits: await query('select source_id, amount_micros from credit_grants order by source_id'),
    audit: await query('select count(*)::int as n from audit_log'),
  };
}

describe('when Stripe fails', () => {
  it('answers 502 for 500s and 503 for timeouts on every Stripe-backed endpoint, writes nothing, and retries cleanly', async () => {
    // A user with an active Pro subscription, and a fresh one with nothing yet.
    const subscriber = await h.auth.signUp();
    const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', {
      token: subscriber.accessToken,
      body: { planId: 'pro' },
    });
    await stripe().paymentIntents.confirm(created.body.data.clientSecret.split('_secret_')[0], { payment_method: 'pm_card_visa' });
    await h.local.idle();
    const subscriptionId: string = created.body.data.subscriptionId;
    const fresh = await h.auth.signUp();
    await api(getHistory, 'GET', '/api/payments/history', { token: fresh.accessToken }); // creates the user row only

    const calls: Array<[string, () => ReturnType<typeof api>]> = [
      ['plans', () => api(getPlans, 'GET', '/api/payments/plans', { token: fresh.accessToken })],
      ['customers', () => api(postCustomer, 'POST', '/api/payments/customers', { token: fresh.accessToken, body: { email: fresh.email } })],
      [
        'payment-intent',
        () => api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: fresh.accessToken, body: { amount: 5 } }),
      ],
      [
        'check-usage-limit',
        () => api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', { token: fresh.accessToken, body: { estimatedCost: 50 } }),
      ],
      [
        'subscribe',
        () => api(postSubscription, 'POST', '/api/payments/subscriptions', { token: fresh.accessToken, body: { planId: 'pro' } }),
      ],
      [
        'change plan',
        () =>
          api(putSubscription, 'PUT', `/api/payments/subscriptions/${subscriptionId}`, {
            token: subscriber.accessToken,
            body: { planId: 'enterprise' },
            params: { subscriptionId },
          }),
      ],
      [
        'upgrade-plan',
        () => api(postUpgrade, 'POST', '/api/payments/upgrade-plan', { token: subscriber.accessToken, body: { planId: 'enterprise' } }),
      ],
      [
        'cancel',
        () =>
          api(deleteSubscription, 'DELETE', `/api/payments/subscriptions/${subscriptionId}`, {
            token: subscriber.accessToken,
            params: { subscriptionId },
          }),
      ],
    ];

    const before = await moneyState();
    for (const [type, status, code] of [
      ['500', 502, 'payment_provider_error'],
      ['timeout', 503, 'service_unavailable'],
    ] as const) {
      h.local.local.faults.inject({ type, count: 1000 });
      try {
        for (const [name, send] of calls) {
          const answer = await send();
          expect([name, answer.status, answer.body.error?.code]).toEqual([name, status, code]);
          expect(answer.body.error?.message).not.toMatch(/stripe|sk_test|at \//i);
        }
        // The dashboard still answers from the database, without the card.
        const billing = await api(getBilling, 'GET', '/api/payments/billing', { token: subscriber.accessToken });
        expect(billing.body.data).toMatchObject({ planId: 'pro', paymentMethod: null });
      } finally {
        h.local.local.faults.clear();
      }
      await h.local.idle();
      expect(await moneyState()).toEqual(before);
    }

    // Stripe is back: each call succeeds once, and nothing exists twice.
    for (const [name, send] of calls.filter(([name]) => name !== 'upgrade-plan' && name !== 'check-usage-limit')) {
      const answer = await send();
      expect([name, answer.status]).toEqual([name, 200]);
    }
    await h.local.idle();
    const freshCustomer = (await h.db.query<{ c: string }>('select stripe_customer_id as c from users where id = $1', [fresh.userId]))
      .rows[0]!.c;
    const customers = await stripe().customers.list({ limit: 100 });
    expect(customers.data.filter((customer) => customer.metadata.userId === fresh.userId).map((customer) => customer.id)).toEqual([
      freshCustomer,
    ]);
    expect(
      (await stripe().paymentIntents.list({ customer: freshCustomer })).data.filter((intent) => intent.metadata.purpose === 'usage_topup'),
    ).toHaveLength(1);
    expect((await stripe().subscriptions.list({ customer: freshCustomer, status: 'all' })).data).toHaveLength(1);
    expect((await h.db.query('select plan_id, cancel_at_period_end from subscriptions where id = $1', [subscriptionId])).rows).toEqual([
      { plan_id: 'enterprise', cancel_at_period_end: true },
    ]);
  }, 120_000);
});
