import { describe, expect, it } from 'vitest';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';
import { PUT as putSubscription, DELETE as deleteSubscription } from '@/app/api/payments/subscriptions/[subscriptionId]/route';
import { GET as getBilling } from '@/app/api/payments/billing/route';
import { GET as getHistory } from '@/app/api/payments/history/route';
import { GET as getPlans } from '@/app/api/payments/plans/route';
import { POST as postUpgrade } from '@/app/api/payments/upgrade-plan/route';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { replayEvent } from '@/lib/webhooks/inbox';

// Subscriptions, plan changes, cancellation and the read endpoints, against the local Stripe
// (real SDK over HTTP, real signed webhooks into the route) and PostgreSQL 15.

const h = paymentsHarness();

const intentIdOf = (clientSecret: string) => clientSecret.split('_secret_')[0]!;
const subPath = (id: string) => `/api/payments/subscriptions/${id}`;

async function subscribed(planId: 'starter' | 'pro' | 'enterprise' = 'pro') {
  const user = await h.auth.signUp();
  const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId } });
  expect(created.status).toBe(200);
  await stripe().paymentIntents.confirm(intentIdOf(created.body.data.clientSecret), { payment_method: 'pm_card_visa' });
  await h.local.idle();
  return { user, subscriptionId: created.body.data.subscriptionId as string };
}

const localSubscription = async (id: string) =>
  (await h.db.query('select plan_id, status, cancel_at_period_end from subscriptions where id = $1', [id])).rows[0];

describe('POST /api/payments/subscriptions', () => {
  it('creates an incomplete subscription with a client secret; paying it makes the user Pro through the webhooks', async () => {
    const user = await h.auth.signUp();
    const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', {
      token: user.accessToken,
      body: { planId: 'pro' },
    });
    expect(created.status).toBe(200);
    expect(created.body.data).toMatchObject({ planId: 'pro', status: 'incomplete', cancelAtPeriodEnd: false });
    expect(created.body.data.clientSecret).toMatch(/^pi_.+_secret_/);
    const again = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId: 'pro' } });
    expect(again.body.data.subscriptionId).toBe(created.body.data.subscriptionId);

    await stripe().paymentIntents.confirm(intentIdOf(created.body.data.clientSecret), { payment_method: 'pm_card_visa' });
    await h.local.idle();
    expect(await localSubscription(created.body.data.subscriptionId)).toEqual({
      plan_id: 'pro',
      status: 'active',
      cancel_at_period_end: false,
    });
    const billing = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(billing.body.data).toMatchObject({
      planId: 'pro',
      planName: 'Pro',
      allowanceCents: 5000,
      usageCents: 0,
      creditsCents: 0,
      reservedCents: 0,
      remainingCents: 5000,
      nextInvoice: { amountCents: 5000 },
      paymentMethod: { brand: 'visa', last4: '4242' },
    });
    const audit = await h.db.query("select action, details->>'to' as to from audit_log where user_id = $1 order by id", [user.userId]);
    expect(audit.rows).toEqual([{ action: 'plan.changed', to: 'pro' }]);
  });

  it('refuses a second subscription while one is active (409)', async () => {
    const { user } = await subscribed('pro');
    const second = await api(postSubscription, 'POST', '/api/payments/subscriptions', {
      token: user.accessToken,
      body: { planId: 'enterprise' },
    });
    expect(second).toEqual({
      status: 409,
      body: { error: { code: 'conflict', message: 'You already have an active Pro subscription. Change its plan instead.' } },
    });
  });

  it.each([
    [{}, 'planId must be one of starter, pro, enterprise'],
    [{ planId: 'gold' }, 'planId must be one of starter, pro, enterprise'],
    [{ planId: 'pro', trial: true }, 'Unrecognized key: "trial"'],
  ])('refuses %j with 400 and creates nothing', async (body, message) => {
    const user = await h.auth.signUp();
    const answer = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'validation_failed', message });
    expect((await h.db.query('select 1 from subscriptions where user_id = $1', [user.userId])).rowCount).toBe(0);
  });

  it('maps a Stripe outage to 503, and the retry gets the one subscription Stripe made', async () => {
    const user = await h.auth.signUp();
    // Stripe creates the subscription but both answers are lost; only its own webhook tells us.
    h.local.local.faults.inject({ type: 'timeout', count: 2, path: '/v1/subscriptions', method: 'POST', afterProcessing: true });
    const failed = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId: 'pro' } });
    expect(failed.status).toBe(503);
    expect(failed.body.error?.code).toBe('service_unavailable');
    await h.local.idle();
    const retried = await api(postSubscription, 'POST', '/api/payments/subscriptions', {
      token: user.accessToken,
      body: { planId: 'pro' },
    });
    expect(retried.status).toBe(200);
    const customer = (await h.db.query<{ c: string }>('select stripe_customer_id as c from users where id = $1', [user.userId])).rows[0]!.c;
    const atStripe = await stripe().subscriptions.list({ customer, status: 'all' });
    expect(atStripe.data.map((subscription) => subscription.id)).toEqual([retried.body.data.subscriptionId]);
    const mirrored = await h.db.query<{ id: string }>('select id from subscriptions where user_id = $1', [user.userId]);
    expect(mirrored.rows).toEqual([{ id: retried.body.data.subscriptionId }]);
  });
});

describe('PUT and DELETE /api/payments/subscriptions/:id', () => {
  it('previews, then changes plan with proration, audited; only for the owner', async () => {
    const { user, subscriptionId } = await subscribed('pro');
    const preview = await api(postUpgrade, 'POST', '/api/payments/upgrade-plan', {
      token: user.accessToken,
      body: { planId: 'enterprise', previewOnly: true },
    });
    expect(preview.status).toBe(200);
    expect(preview.body.data.subscription).toBeNull();
    expect(preview.body.data.preview).toMatchObject({ fromPlanId: 'pro', toPlanId: 'enterprise' });
    // Most of a month remains: the prorated difference is most of $450.
    expect(preview.body.data.preview.amountDueNowCents).toBeGreaterThan(40_000);
    expect(preview.body.data.preview.amountDueNowCents).toBeLessThanOrEqual(45_000);
    expect(await localSubscription(subscriptionId)).toMatchObject({ plan_id: 'pro' });

    const stranger = await h.auth.signUp();
    const foreign = await api(putSubscription, 'PUT', subPath(subscriptionId), {
      token: stranger.accessToken,
      body: { planId: 'starter' },
      params: { subscriptionId },
    });
    expect(foreign).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'Subscription not found' } } });

    const changed = await api(putSubscription, 'PUT', subPath(subscriptionId), {
      token: user.accessToken,
      body: { planId: 'enterprise' },
      params: { subscriptionId },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.data).toMatchObject({ planId: 'enterprise', status: 'active' });
    await h.local.idle();
    expect(await localSubscription(subscriptionId)).toMatchObject({ plan_id: 'enterprise', status: 'active' });
    const audit = await h.db.query("select details from audit_log where user_id = $1 and action = 'plan.changed' order by id", [
      user.userId,
    ]);
    expect(audit.rows.map((row) => row.details)).toEqual([
      { from: 'starter', to: 'pro', status: 'active' },
      { from: 'pro', to: 'enterprise' },
    ]);
    const billing = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    // Almost the whole period is left, so almost the whole Enterprise allowance (prorated).
    expect(billing.body.data.planId).toBe('enterprise');
    expect(billing.body.data.allowanceCents).toBeGreaterThanOrEqual(49_900);
    expect(billing.body.data.allowanceCents).toBeLessThanOrEqual(50_000);

    const same = await api(putSubscription, 'PUT', subPath(subscriptionId), {
      token: user.accessToken,
      body: { planId: 'enterprise' },
      params: { subscriptionId },
    });
    expect(same).toEqual({ status: 409, body: { error: { code: 'conflict', message: 'You are already on the Enterprise plan' } } });
  });

  it.each([
    [{}, 'Give planId to change plan, or cancelAtPeriodEnd'],
    [{ planId: 'platinum' }, 'planId must be one of starter, pro, enterprise'],
    [{ cancelAtPeriodEnd: 'yes' }, 'cancelAtPeriodEnd must be true or false'],
  ])('refuses the body %j with 400', async (body, message) => {
    const user = await h.auth.signUp();
    const answer = await api(putSubscription, 'PUT', subPath('sub_x'), {
      token: user.accessToken,
      body,
      params: { subscriptionId: 'sub_x' },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'validation_failed', message });
  });

  it('refuses a malformed subscription id with 400 and an unknown one with 404', async () => {
    const user = await h.auth.signUp();
    const malformed = await api(deleteSubscription, 'DELETE', subPath('x;drop'), {
      token: user.accessToken,
      params: { subscriptionId: 'x;drop' },
    });
    expect(malformed.body.error).toMatchObject({ code: 'validation_failed', message: 'subscriptionId is not valid' });
    const unknown = await api(deleteSubscription, 'DELETE', subPath('sub_nope'), {
      token: user.accessToken,
      params: { subscriptionId: 'sub_nope' },
    });
    expect(unknown.status).toBe(404);
    const anonymous = await api(deleteSubscription, 'DELETE', subPath('sub_nope'), { params: { subscriptionId: 'sub_nope' } });
    expect(anonymous.status).toBe(401);
  });

  it('cancels at period end, resumes, cancels now; a late "updated" event never revives it', async () => {
    const { user, subscriptionId } = await subscribed('pro');
    const atEnd = await api(deleteSubscription, 'DELETE', subPath(subscriptionId), { token: user.accessToken, params: { subscriptionId } });
    expect(atEnd.body.data).toMatchObject({ status: 'active', cancelAtPeriodEnd: true });
    const resumed = await api(putSubscription, 'PUT', subPath(subscriptionId), {
      token: user.accessToken,
      body: { cancelAtPeriodEnd: false },
      params: { subscriptionId },
    });
    expect(resumed.body.data).toMatchObject({ status: 'active', cancelAtPeriodEnd: false });
    await h.local.idle();
    expect(await localSubscription(subscriptionId)).toEqual({ plan_id: 'pro', status: 'active', cancel_at_period_end: false });

    const now = await api(deleteSubscription, 'DELETE', `${subPath(subscriptionId)}?immediately=true`, {
      token: user.accessToken,
      params: { subscriptionId },
    });
    expect(now.body.data).toMatchObject({ status: 'canceled' });
    await h.local.idle();
    expect(await localSubscription(subscriptionId)).toMatchObject({ status: 'canceled' });
    // Replay an older "updated" event (status active) after the deletion.
    const { rows } = await h.db.query<{ id: string }>(
      "select id from webhook_events where type = 'customer.subscription.updated' and payload->'data'->'object'->>'id' = $1 order by stripe_created limit 1",
      [subscriptionId],
    );
    await h.db.query("update webhook_events set status = 'failed' where id = $1", [rows[0]!.id]);
    await replayEvent(h.db, rows[0]!.id);
    expect(await localSubscription(subscriptionId)).toMatchObject({ status: 'canceled' });
    const billing = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(billing.body.data).toMatchObject({ planId: 'starter', subscription: null, nextInvoice: null });
  });
});

describe('GET /api/payments/plans, history and upgrade-plan', () => {
  it('lists the three plans with their Stripe prices', async () => {
    const user = await h.auth.signUp();
    const answer = await api(getPlans, 'GET', '/api/payments/plans', { token: user.accessToken });
    expect(
      answer.body.data.map((plan: { id: string; priceCents: number; allowanceCents: number; tokenRateMicros: number }) => [
        plan.id,
        plan.priceCents,
        plan.allowanceCents,
        plan.tokenRateMicros,
      ]),
    ).toEqual([
      ['starter', 1000, 1000, 1000],
      ['pro', 5000, 5000, 500],
      ['enterprise', 50000, 50000, 200],
    ]);
  });

  it('pages through payments and invoices newest first with a cursor', async () => {
    const { user } = await subscribed('pro');
    for (const amount of [5, 6, 7]) {
      const created = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount } });
      expect(created.status).toBe(200);
    }
    const seen: Array<{ kind: string; amountCents: number }> = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof api>> = await api(
        getHistory,
        'GET',
        `/api/payments/history?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { token: user.accessToken },
      );
      expect(page.status).toBe(200);
      expect(page.body.data.entries.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.entries);
      cursor = page.body.data.nextCursor;
    } while (cursor);
    expect(seen.map((entry) => [entry.kind, entry.amountCents])).toEqual([
      ['payment', 700],
      ['payment', 600],
      ['payment', 500],
      ['invoice', 5000],
    ]);
    for (const [query, message] of [
      ['limit=0', 'limit must be a whole number between 1 and 100'],
      ['limit=101', 'limit must be a whole number between 1 and 100'],
      ['limit=abc', 'limit must be a whole number between 1 and 100'],
      ['cursor=%27%3B', 'cursor is not valid'],
      ['cursor=Zm9v', 'cursor is not valid'],
      ['page=2', 'Unrecognized key: "page"'],
    ]) {
      const bad = await api(getHistory, 'GET', `/api/payments/history?${query}`, { token: user.accessToken });
      expect(bad.status, query).toBe(400);
      expect(bad.body.error?.message, query).toBe(message);
    }
  });

  it('upgrade-plan without a subscription subscribes', async () => {
    const user = await h.auth.signUp();
    const answer = await api(postUpgrade, 'POST', '/api/payments/upgrade-plan', { token: user.accessToken, body: { planId: 'pro' } });
    expect(answer.status).toBe(200);
    expect(answer.body.data.preview).toMatchObject({ fromPlanId: 'starter', toPlanId: 'pro', amountDueNowCents: 5000 });
    expect(answer.body.data.subscription).toMatchObject({ planId: 'pro', status: 'incomplete' });
  });
});

describe('allowance after a plan change', () => {
  it('prorates the new allowance by the time left in the period, as the price is prorated', async () => {
    const { user, subscriptionId } = await subscribed('pro');
    // Nine tenths of the paid period are over (a 30-day period with 3 days left).
    const { rows } = await h.db.query(
      "update subscriptions set current_period_start = now() - interval '27 days', current_period_end = now() + interval '3 days' where id = $1 returning id",
      [subscriptionId],
    );
    expect(rows).toHaveLength(1);
    const before = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(before.body.data).toMatchObject({ planId: 'pro', allowanceCents: 5000 });
    const changed = await api(putSubscription, 'PUT', subPath(subscriptionId), {
      token: user.accessToken,
      body: { planId: 'enterprise' },
      params: { subscriptionId },
    });
    expect(changed.status).toBe(200);
    const after = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    // $50 + a tenth of the $450 difference (to the cent; a few seconds pass between the calls).
    expect(after.body.data.planId).toBe('enterprise');
    expect(after.body.data.allowanceCents).toBeGreaterThanOrEqual(9_490);
    expect(after.body.data.allowanceCents).toBeLessThanOrEqual(9_500);
  });
});
