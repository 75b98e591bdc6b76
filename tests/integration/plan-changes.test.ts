import { describe, expect, it } from 'vitest';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { processEvent } from '@/lib/webhooks/inbox';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { advanceTestClock } from '@/tests/helpers/stripe';
import { GET as getBilling } from '@/app/api/payments/billing/route';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';
import { PUT as putSubscription, DELETE as deleteSubscription } from '@/app/api/payments/subscriptions/[subscriptionId]/route';
import { POST as upgradePlan } from '@/app/api/payments/upgrade-plan/route';

// Upgrades now, downgrades at the end of the period (issue 11, finding 1): a user who used most
// of Enterprise's allowance and then downgrades must not get the unused price back as a credit;
// they keep Enterprise until the period ends, then renew on the cheaper plan, and can undo the
// change until then.

const DAY = 86_400;
const h = paymentsHarness();
const intentIdOf = (clientSecret: string) => clientSecret.split('_secret_')[0]!;

/** A user on Enterprise, paid with 4242; on a test clock started `daysAgo` days ago when given. */
async function enterpriseUser(daysAgo?: number, planId: 'pro' | 'enterprise' = 'enterprise') {
  const user = await h.auth.signUp();
  let clock: Stripe.TestHelpers.TestClock | null = null;
  if (daysAgo !== undefined) {
    clock = await stripe().testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) - daysAgo * DAY });
    const customer = await stripe().customers.create({ email: user.email, test_clock: clock.id, metadata: { userId: user.userId } });
    await h.db.query('insert into users (id, email, stripe_customer_id) values ($1, $2, $3)', [user.userId, user.email, customer.id]);
  }
  const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId } });
  expect(created.status).toBe(200);
  await stripe().paymentIntents.confirm(intentIdOf(created.body.data.clientSecret), { payment_method: 'pm_card_visa' });
  await h.local.idle();
  const customerId = (await h.db.query<{ c: string }>('select stripe_customer_id as c from users where id = $1', [user.userId])).rows[0]!.c;
  return { user, clock, customerId, subscriptionId: created.body.data.subscriptionId as string };
}

/** $490 of Enterprise usage (2,450,000 tokens at $0.0002), committed by the runner. */
async function use490(userId: string) {
  await h.db.query("select * from app_private.commit_usage($1, null, 'writer', 2450000, 0, 'heavy-use')", [userId]);
}

const put = (token: string, subscriptionId: string, body: unknown) =>
  api(putSubscription, 'PUT', `/api/payments/subscriptions/${subscriptionId}`, { token, body, params: { subscriptionId } });

describe('downgrades at the end of the period', () => {
  it('Enterprise, $490 used, downgrade to Starter: no credit, Enterprise and its allowance until the period ends', async () => {
    const { user, customerId, subscriptionId } = await enterpriseUser();
    await use490(user.userId);

    const preview = await api(upgradePlan, 'POST', '/api/payments/upgrade-plan', {
      token: user.accessToken,
      body: { planId: 'starter', previewOnly: true },
    });
    const periodEnd = (await stripe().subscriptions.retrieve(subscriptionId)).items.data[0]!.current_period_end;
    expect(preview.body.data.preview).toMatchObject({
      fromPlanId: 'enterprise',
      toPlanId: 'starter',
      amountDueNowCents: 0,
      effectiveAt: new Date(periodEnd * 1000).toISOString(),
      lines: [],
    });

    const changed = await put(user.accessToken, subscriptionId, { planId: 'starter' });
    expect(changed.status).toBe(200);
    expect(changed.body.data).toMatchObject({
      planId: 'enterprise',
      status: 'active',
      scheduledChange: { planId: 'starter', effectiveAt: new Date(periodEnd * 1000).toISOString() },
      preview: { amountDueNowCents: 0 },
    });
    await h.local.idle();

    // Nothing credited, refunded or invoiced at Stripe; the price stays Enterprise's until the period ends.
    const customer = (await stripe().customers.retrieve(customerId)) as Stripe.Customer;
    expect(customer.balance).toBe(0);
    const invoices = await stripe().invoices.list({ customer: customerId });
    expect(invoices.data.map((invoice) => invoice.total)).toEqual([50000]);
    const atStripe = await stripe().subscriptions.retrieve(subscriptionId);
    expect(atStripe.items.data[0]!.price.id).toBe('price_enterprise_plan_id');
    expect(atStripe.schedule).toEqual(expect.stringMatching(/^sub_sched_/));

    // Locally: still Enterprise, the full allowance, $10 left of it; the change is shown.
    const billing = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(billing.body.data).toMatchObject({
      planId: 'enterprise',
      allowanceCents: 50000,
      usageCents: 49000,
      remainingCents: 1000,
      nextInvoice: { amountCents: 1000 },
      subscription: { id: subscriptionId, scheduledChange: { planId: 'starter', planName: 'Starter' } },
    });
    const audit = await h.db.query<{ action: string }>(
      "select action from audit_log where user_id = $1 and action like 'plan.%' order by id",
      [user.userId],
    );
    expect(audit.rows.map((row) => row.action)).toEqual(['plan.changed', 'plan.change_scheduled']);
  });

  it("the renewal applies it: the next period is Starter, billed $10, with Starter's allowance", async () => {
    const { user, clock, customerId, subscriptionId } = await enterpriseUser(33);
    await use490(user.userId);
    expect((await put(user.accessToken, subscriptionId, { planId: 'starter' })).status).toBe(200);
    await h.local.idle();
    await advanceTestClock(h.local, clock!.id);

    const invoices = await stripe().invoices.list({ customer: customerId });
    expect(invoices.data.map((invoice) => [invoice.billing_reason, invoice.total, invoice.status]).reverse()).toEqual([
      ['subscription_create', 50000, 'paid'],
      ['subscription_cycle', 1000, 'paid'],
    ]);
    const billing = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(billing.body.data).toMatchObject({
      planId: 'starter',
      allowanceCents: 1000,
      usageCents: 0,
      subscription: { scheduledChange: null },
    });
    const row = await h.db.query('select plan_id, scheduled_plan_id from subscriptions where id = $1', [subscriptionId]);
    expect(row.rows).toEqual([{ plan_id: 'starter', scheduled_plan_id: null }]);
    // The old period keeps its usage and its Enterprise allowance (nothing forgiven, nothing refunded).
    const old = await h.db.query(
      'select plan_id, allowance_micros, used_micros from user_usage where user_id = $1 order by period_start limit 1',
      [user.userId],
    );
    expect(old.rows).toEqual([{ plan_id: expect.any(String), allowance_micros: 500_000_000, used_micros: 490_000_000 }]);
  });

  it('can be undone until then (PUT the current plan): the renewal stays Enterprise', async () => {
    const { user, clock, customerId, subscriptionId } = await enterpriseUser(33);
    expect((await put(user.accessToken, subscriptionId, { planId: 'starter' })).status).toBe(200);
    const undone = await put(user.accessToken, subscriptionId, { planId: 'enterprise' });
    expect(undone.status).toBe(200);
    expect(undone.body.data).toMatchObject({
      planId: 'enterprise',
      scheduledChange: null,
      preview: { amountDueNowCents: 0, effectiveAt: null },
    });
    expect((await stripe().subscriptions.retrieve(subscriptionId)).schedule).toBeNull();
    // Undoing twice is "already on that plan".
    expect((await put(user.accessToken, subscriptionId, { planId: 'enterprise' })).body.error?.code).toBe('conflict');
    // Downgrading again in the same period makes a new schedule, and undoing it works again.
    const again = await put(user.accessToken, subscriptionId, { planId: 'pro' });
    expect(again.body.data).toMatchObject({ planId: 'enterprise', scheduledChange: { planId: 'pro' } });
    expect((await put(user.accessToken, subscriptionId, { planId: 'enterprise' })).body.data).toMatchObject({ scheduledChange: null });
    await h.local.idle();
    await advanceTestClock(h.local, clock!.id);
    const invoices = await stripe().invoices.list({ customer: customerId });
    expect(invoices.data.map((invoice) => invoice.total)).toEqual([50000, 50000]);
    const billing = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(billing.body.data).toMatchObject({ planId: 'enterprise', subscription: { scheduledChange: null } });
  });

  it('a second downgrade replaces the first; two at the same moment make one schedule', async () => {
    const { user, subscriptionId, customerId } = await enterpriseUser();
    const both = await Promise.all([
      put(user.accessToken, subscriptionId, { planId: 'starter' }),
      put(user.accessToken, subscriptionId, { planId: 'starter' }),
    ]);
    expect(both.map((answer) => answer.status)).toEqual([200, 200]);
    const again = await put(user.accessToken, subscriptionId, { planId: 'pro' });
    expect(again.body.data).toMatchObject({ planId: 'enterprise', scheduledChange: { planId: 'pro' } });
    const schedules = await stripe().subscriptionSchedules.list({ customer: customerId });
    expect(schedules.data).toHaveLength(1);
    expect(schedules.data[0]!.phases.map((phase) => phase.items[0]!.price)).toEqual(['price_enterprise_plan_id', 'price_pro_plan_id']);
  });

  it('an upgrade replaces a scheduled downgrade and is charged at once', async () => {
    const { user, subscriptionId, customerId } = await enterpriseUser(undefined, 'pro');
    await put(user.accessToken, subscriptionId, { planId: 'starter' });
    const upgraded = await put(user.accessToken, subscriptionId, { planId: 'enterprise' });
    expect(upgraded.body.data).toMatchObject({ planId: 'enterprise', scheduledChange: null, preview: { effectiveAt: null } });
    expect(upgraded.body.data.preview.amountDueNowCents).toBeGreaterThan(40000);
    const atStripe = await stripe().subscriptions.retrieve(subscriptionId);
    expect([atStripe.items.data[0]!.price.id, atStripe.schedule]).toEqual(['price_enterprise_plan_id', null]);
    const invoices = await stripe().invoices.list({ customer: customerId });
    expect(invoices.data.map((invoice) => invoice.billing_reason)).toEqual(['subscription_update', 'subscription_create']);
  });

  it('cancelling at period end drops a scheduled downgrade; resuming does not bring it back', async () => {
    const { user, subscriptionId } = await enterpriseUser();
    await put(user.accessToken, subscriptionId, { planId: 'starter' });
    const canceled = await api(deleteSubscription, 'DELETE', `/api/payments/subscriptions/${subscriptionId}`, {
      token: user.accessToken,
      params: { subscriptionId },
    });
    expect(canceled.body.data).toMatchObject({ planId: 'enterprise', cancelAtPeriodEnd: true, scheduledChange: null });
    const resumed = await put(user.accessToken, subscriptionId, { cancelAtPeriodEnd: false });
    expect(resumed.body.data).toMatchObject({ cancelAtPeriodEnd: false, scheduledChange: null });
    // A downgrade and a cancellation in one request: the cancellation (the downgrade would never apply).
    const both = await put(user.accessToken, subscriptionId, { planId: 'starter', cancelAtPeriodEnd: true });
    expect(both.body.data).toMatchObject({ planId: 'enterprise', cancelAtPeriodEnd: true, scheduledChange: null });
  });

  it("someone else's subscription: 404, and their scheduled change stays", async () => {
    const owner = await enterpriseUser();
    await put(owner.user.accessToken, owner.subscriptionId, { planId: 'starter' });
    const other = await h.auth.signUp();
    for (const planId of ['enterprise', 'starter']) {
      const answer = await put(other.accessToken, owner.subscriptionId, { planId });
      expect(answer).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'Subscription not found' } } });
    }
    const row = await h.db.query('select scheduled_plan_id from subscriptions where id = $1', [owner.subscriptionId]);
    expect(row.rows).toEqual([{ scheduled_plan_id: 'starter' }]);
  });

  it('events in any order end in the same state: the schedule events re-read the subscription', async () => {
    const { user, subscriptionId } = await enterpriseUser();
    await put(user.accessToken, subscriptionId, { planId: 'starter' });
    await h.local.idle();
    // Wipe our copy of the scheduled change, then replay the schedule's events from Stripe.
    await h.db.query(
      'update subscriptions set scheduled_plan_id = null, scheduled_change_at = null, stripe_updated_at = null where id = $1',
      [subscriptionId],
    );
    const scheduleEvents = h.local.local
      .events()
      .filter(
        (event) =>
          event.type.startsWith('subscription_schedule.') &&
          (event.data.object as Stripe.SubscriptionSchedule).subscription === subscriptionId,
      );
    expect(scheduleEvents.length).toBeGreaterThan(0);
    await h.db.query('delete from webhook_events where id = any($1::text[])', [scheduleEvents.map((event) => event.id)]);
    for (const event of [...scheduleEvents].reverse()) await processEvent(h.db, event);
    const row = await h.db.query('select scheduled_plan_id from subscriptions where id = $1', [subscriptionId]);
    expect(row.rows).toEqual([{ scheduled_plan_id: 'starter' }]);
  });
});
