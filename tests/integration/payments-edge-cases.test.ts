import { describe, expect, it } from 'vitest';
import { fetchSubscription, syncSubscription } from '@/lib/payments/subscriptions';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';
import { PUT as putSubscription } from '@/app/api/payments/subscriptions/[subscriptionId]/route';
import { GET as getBilling } from '@/app/api/payments/billing/route';
import { POST as checkUsageLimit } from '@/app/api/payments/check-usage-limit/route';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';

// The awkward moments: a payment whose webhook has not arrived yet, snapshots applied out of
// order, a shortfall that grows while the user decides, two changes in one request.

const h = paymentsHarness();

const intentIdOf = (clientSecret: string) => clientSecret.split('_secret_')[0]!;

describe('subscriptions before their webhooks arrive', () => {
  it('refuses a second subscription (same or other plan) once the first is paid, and cancels nothing', async () => {
    const user = await h.auth.signUp();
    const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', {
      token: user.accessToken,
      body: { planId: 'pro' },
    });
    await h.local.idle();
    h.local.local.webhooks.pause();
    try {
      await stripe().paymentIntents.confirm(intentIdOf(created.body.data.clientSecret), { payment_method: 'pm_card_visa' });
      for (const planId of ['pro', 'enterprise']) {
        const again = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId } });
        expect(again).toEqual({
          status: 409,
          body: { error: { code: 'conflict', message: 'You already have an active Pro subscription. Change its plan instead.' } },
        });
      }
      const customer = (await h.db.query<{ c: string }>('select stripe_customer_id as c from users where id = $1', [user.userId])).rows[0]!
        .c;
      const atStripe = await stripe().subscriptions.list({ customer, status: 'all' });
      expect(atStripe.data.map((subscription) => [subscription.id, subscription.status])).toEqual([
        [created.body.data.subscriptionId, 'active'],
      ]);
    } finally {
      h.local.local.webhooks.resume();
      await h.local.idle();
    }
  });

  it('makes one subscription when two plans are asked for at the same moment', async () => {
    const user = await h.auth.signUp();
    const answers = await Promise.all(
      (['pro', 'enterprise'] as const).map((planId) =>
        api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId } }),
      ),
    );
    const customer = (await h.db.query<{ c: string }>('select stripe_customer_id as c from users where id = $1', [user.userId])).rows[0]!.c;
    const atStripe = await stripe().subscriptions.list({ customer, status: 'all' });
    expect(atStripe.data).toHaveLength(1);
    // Both started together, so they share one idempotency key: Stripe refuses the other plan.
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    expect(answers.find((answer) => answer.status === 409)?.body.error?.code).toBe('idempotency_conflict');
  });

  it('never applies an older snapshot over a newer one', async () => {
    const user = await h.auth.signUp();
    const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', {
      token: user.accessToken,
      body: { planId: 'pro' },
    });
    const id: string = created.body.data.subscriptionId;
    const stale = await fetchSubscription(id); // incomplete, read now ...
    await stripe().paymentIntents.confirm(intentIdOf(created.body.data.clientSecret), { payment_method: 'pm_card_visa' });
    await h.local.idle(); // ... while the webhooks record it as active
    await h.db.systemTransaction((tx) => syncSubscription(tx, stale, 'test'));
    expect((await h.db.query('select status from subscriptions where id = $1', [id])).rows).toEqual([{ status: 'active' }]);
  });

  it('a downgrade and a cancellation in one request: only the cancellation (the downgrade would never apply)', async () => {
    const user = await h.auth.signUp();
    const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', {
      token: user.accessToken,
      body: { planId: 'pro' },
    });
    await stripe().paymentIntents.confirm(intentIdOf(created.body.data.clientSecret), { payment_method: 'pm_card_visa' });
    await h.local.idle();
    const subscriptionId: string = created.body.data.subscriptionId;
    const both = await api(putSubscription, 'PUT', `/api/payments/subscriptions/${subscriptionId}`, {
      token: user.accessToken,
      body: { planId: 'starter', cancelAtPeriodEnd: true },
      params: { subscriptionId },
    });
    expect(both.body.data).toMatchObject({ planId: 'pro', cancelAtPeriodEnd: true, scheduledChange: null });
    expect(both.body.data.preview).toMatchObject({ fromPlanId: 'pro', toPlanId: 'starter', amountDueNowCents: 0 });
    const atStripe = await stripe().subscriptions.retrieve(subscriptionId);
    expect([atStripe.items.data[0]?.price.id, atStripe.cancel_at_period_end, atStripe.schedule]).toEqual(['price_pro_plan_id', true, null]);
  });

  it('an upgrade and a cancellation in one request: both, in one Stripe call', async () => {
    const user = await h.auth.signUp();
    const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', {
      token: user.accessToken,
      body: { planId: 'pro' },
    });
    await stripe().paymentIntents.confirm(intentIdOf(created.body.data.clientSecret), { payment_method: 'pm_card_visa' });
    await h.local.idle();
    const subscriptionId: string = created.body.data.subscriptionId;
    const both = await api(putSubscription, 'PUT', `/api/payments/subscriptions/${subscriptionId}`, {
      token: user.accessToken,
      body: { planId: 'enterprise', cancelAtPeriodEnd: true },
      params: { subscriptionId },
    });
    expect(both.body.data).toMatchObject({ planId: 'enterprise', cancelAtPeriodEnd: true });
    const atStripe = await stripe().subscriptions.retrieve(subscriptionId);
    expect([atStripe.items.data[0]?.price.id, atStripe.cancel_at_period_end]).toEqual(['price_enterprise_plan_id', true]);
  });
});

describe('shortfall payments', () => {
  it('keeps the same intent while it still covers a shortfall that changed, and a larger one gets a new intent', async () => {
    const user = await h.auth.signUp();
    const check = (estimatedCost: number) =>
      api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', { token: user.accessToken, body: { estimatedCost } });
    const first = await check(12); // short by $2.00
    const smaller = await check(11.5); // short by $1.50: the $2.00 intent covers it
    expect(smaller.body.data.paymentIntent).toMatchObject({ id: first.body.data.paymentIntent.id, amountCents: 200, reused: true });
    const larger = await check(13); // short by $3.00
    expect(larger.body.data.paymentIntent).toMatchObject({ amountCents: 300, reused: false });
  });

  it('still answers the limit check when the user made too many intents, without one', async () => {
    const user = await h.auth.signUp();
    for (let amount = 1; amount <= 10; amount++) {
      expect(
        (await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount } })).status,
      ).toBe(200);
    }
    const check = await api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', {
      token: user.accessToken,
      body: { estimatedCost: 500 },
    });
    expect(check.status).toBe(200);
    expect(check.body.data).toMatchObject({ allowed: false, requiresPayment: true, paymentIntent: null, shortfallCents: 49_000 });
  });
});

describe('query parameters', () => {
  it('refuses parameters an endpoint does not take', async () => {
    const user = await h.auth.signUp();
    const answer = await api(getBilling, 'GET', '/api/payments/billing?debug=1', { token: user.accessToken });
    expect(answer).toEqual({
      status: 400,
      body: {
        error: {
          code: 'validation_failed',
          message: 'Unrecognized key: "debug"',
          details: [{ path: '', message: 'Unrecognized key: "debug"' }],
        },
      },
    });
  });
});
