import { describe, expect, it } from 'vitest';
import type { Database } from '@/lib/db';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { processEvent } from '@/lib/webhooks/inbox';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { advanceTestClock } from '@/tests/helpers/stripe';
import { openPostgresClone } from '@/tests/helpers/databases';
import { GET as getBilling } from '@/app/api/payments/billing/route';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';

// Renewals on Stripe test clocks (a paid renewal starts a new usage period, a failed one makes
// the subscription past_due and tells the user), then every event of this file replayed in
// order and shuffled into two fresh databases, which must end in the same state.

const DAY = 86_400;
const h = paymentsHarness();

/**
 * A user subscribed to Pro with 4242 on a test clock that started 33 days ago, so the first
 * period has ended by the real "now" and advancing the clock to now renews it.
 */
async function proUserOnClock() {
  const user = await h.auth.signUp();
  const clock = await stripe().testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) - 33 * DAY });
  const customer = await stripe().customers.create({ email: user.email, test_clock: clock.id, metadata: { userId: user.userId } });
  await h.db.query('insert into users (id, email, stripe_customer_id) values ($1, $2, $3)', [user.userId, user.email, customer.id]);
  const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId: 'pro' } });
  await stripe().paymentIntents.confirm(created.body.data.clientSecret.split('_secret_')[0], { payment_method: 'pm_card_visa' });
  await h.local.idle();
  return { user, clock, customer, subscriptionId: created.body.data.subscriptionId as string };
}

const subscriptionRow = async (id: string) =>
  (
    await h.db.query<{ status: string; current_period_start: Date }>(
      'select status, current_period_start from subscriptions where id = $1',
      [id],
    )
  ).rows[0]!;

describe('renewals', () => {
  it('a paid renewal invoice starts a new usage period, audited; usage of the old period stays on it', async () => {
    const { user, clock, subscriptionId } = await proUserOnClock();
    await h.db.query("select * from app_private.commit_usage($1, null, 'writer', 10000, 0, 'before-renewal')", [user.userId]);
    const firstStart = (await subscriptionRow(subscriptionId)).current_period_start;
    await advanceTestClock(h.local, clock.id);

    const renewed = await subscriptionRow(subscriptionId);
    expect(renewed.status).toBe('active');
    expect(renewed.current_period_start.getTime()).toBeGreaterThan(firstStart.getTime());
    const billing = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(billing.body.data).toMatchObject({
      planId: 'pro',
      periodStart: renewed.current_period_start.toISOString(),
      usageCents: 0,
      remainingCents: 5000,
    });
    const old = await h.db.query('select used_micros from user_usage where user_id = $1 and period_start = $2', [user.userId, firstStart]);
    expect(old.rows).toEqual([{ used_micros: 5_000_000 }]);
    const audit = await h.db.query(
      "select details->>'invoice' as invoice from audit_log where user_id = $1 and action = 'usage_period.started'",
      [user.userId],
    );
    expect(audit.rows).toHaveLength(1);
    const invoices = await h.db.query(
      'select billing_reason, status, amount_paid_cents from invoices where user_id = $1 order by stripe_created',
      [user.userId],
    );
    expect(invoices.rows).toEqual([
      { billing_reason: 'subscription_create', status: 'paid', amount_paid_cents: 5000 },
      { billing_reason: 'subscription_cycle', status: 'paid', amount_paid_cents: 5000 },
    ]);
  });

  // Issue 11, finding 5: $20 bought the day before renewal was gone after it.
  it('a top-up bought the day before the renewal survives it (test clock)', async () => {
    const { user, clock, subscriptionId } = await proUserOnClock();
    const periodEnd = (
      await h.db.query<{ end: Date }>('select current_period_end as end from subscriptions where id = $1', [subscriptionId])
    ).rows[0]!.end;
    await advanceTestClock(h.local, clock.id, Math.floor(periodEnd.getTime() / 1000) - DAY);
    const topUp = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 20 } });
    await stripe().paymentIntents.confirm(topUp.body.data.id, { payment_method: 'pm_card_visa' });
    await h.local.idle();
    const before = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(before.body.data).toMatchObject({ creditsCents: 2000, remainingCents: 7000 });

    await advanceTestClock(h.local, clock.id);
    const renewed = await subscriptionRow(subscriptionId);
    expect(renewed.current_period_start.getTime()).toBeGreaterThanOrEqual(periodEnd.getTime());
    const after = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(after.body.data).toMatchObject({
      periodStart: renewed.current_period_start.toISOString(),
      creditsCents: 2000,
      remainingCents: 7000,
    });
    const grant = await h.db.query<{ purchased_at: Date }>('select purchased_at from credit_grants where user_id = $1', [user.userId]);
    expect(grant.rows[0]!.purchased_at.getTime()).toBeLessThan(periodEnd.getTime());
  });

  it('a failed renewal marks the subscription past_due and notifies, without a new period', async () => {
    const { user, clock, customer, subscriptionId } = await proUserOnClock();
    const failing = await stripe().paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
    await stripe().subscriptions.update(subscriptionId, { default_payment_method: failing.id });
    await h.local.idle();
    const before = (await subscriptionRow(subscriptionId)).current_period_start;
    await advanceTestClock(h.local, clock.id);

    const row = await subscriptionRow(subscriptionId);
    expect(row).toEqual({ status: 'past_due', current_period_start: before });
    const notes = await h.db.query<{ kind: string; title: string }>('select kind, title from notifications where user_id = $1', [
      user.userId,
    ]);
    expect(notes.rows).toEqual([{ kind: 'invoice_payment_failed', title: 'We could not collect $50.00 for your subscription' }]);
    const invoice = await h.db.query(
      "select status, attempt_count from invoices where user_id = $1 and billing_reason = 'subscription_cycle'",
      [user.userId],
    );
    expect(invoice.rows).toEqual([{ status: 'open', attempt_count: 1 }]);
  });
});

describe('event order', () => {
  // Money and subscription state, keyed by Stripe ids (notifications are what the user was told
  // at the time, so they are not compared).
  async function stateOf(target: Database) {
    const query = async (sql: string) => (await target.query(sql)).rows;
    return {
      subscriptions: await query(
        'select id, user_id, plan_id, status, current_period_start, current_period_end, cancel_at_period_end from subscriptions order by id',
      ),
      attempts: await query(
        'select payment_intent_id, user_id, amount_cents, status, refunded_cents, succeeded_at from payment_attempts order by payment_intent_id',
      ),
      credits: await query(
        'select source_id, user_id, amount_micros, left_micros, frozen_micros, refunded_micros, purchased_at, expires_at from credit_grants order by source_id',
      ),
      invoices: await query('select id, user_id, status, amount_due_cents, amount_paid_cents, period_start from invoices order by id'),
      // Usage itself is not an event; what is owed is.
      owed: await query('select user_id, owed_micros from credit_accounts where owed_micros > 0 order by user_id'),
    };
  }

  it('200+ events applied shuffled end in the same state as in order', async () => {
    // More activity: top-ups that succeed, fail, fail then succeed, or are abandoned.
    const cards = ['pm_card_visa', 'pm_card_visa_chargeDeclined', 'pm_card_visa_chargeDeclinedInsufficientFunds'];
    for (let index = 0; h.local.local.events().length < 220; index++) {
      const user = await h.auth.signUp();
      for (let payment = 0; payment < 3; payment++) {
        const created = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', {
          token: user.accessToken,
          body: { amount: 5 + index + payment },
        });
        const card = cards[(index + payment) % cards.length]!;
        await stripe()
          .paymentIntents.confirm(created.body.data.id, { payment_method: card })
          .catch(() => undefined);
        if (card !== 'pm_card_visa' && payment === 1) {
          await stripe().paymentIntents.confirm(created.body.data.id, { payment_method: 'pm_card_visa' });
        }
      }
    }
    await h.local.idle();

    const events: Stripe.Event[] = h.local.local.events();
    expect(events.length).toBeGreaterThanOrEqual(200);
    const users = (await h.db.query('select id, email, stripe_customer_id from users')).rows;
    const inOrder = await openPostgresClone(4);
    const shuffled = await openPostgresClone(4);
    try {
      for (const target of [inOrder, shuffled]) {
        for (const user of users)
          await target.query('insert into users (id, email, stripe_customer_id) values ($1, $2, $3)', [
            user.id,
            user.email,
            user.stripe_customer_id,
          ]);
      }
      for (const event of events) await processEvent(inOrder, event);
      const order = events.map((event, index) => ({ event, key: Math.sin(index * 7919) })).sort((a, b) => a.key - b.key);
      for (const { event } of order) await processEvent(shuffled, event);
      const expected = await stateOf(inOrder);
      expect(expected.credits.length).toBeGreaterThan(10);
      expect(expected.subscriptions.length).toBe(3);
      expect(await stateOf(shuffled)).toEqual(expected);
      // And the same as what the live deliveries produced.
      expect(await stateOf(h.db)).toEqual(expected);
    } finally {
      await inOrder.close();
      await shuffled.close();
    }
  }, 120_000);
});
