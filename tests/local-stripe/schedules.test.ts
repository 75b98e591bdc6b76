// Subscription schedules through the real SDK: a change at the end of the period (Stripe's
// downgrade recipe), its undo (release), and what the local Stripe refuses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { advanceClock, startHarness, stripeError, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ deliverWebhooks: false });
});
afterAll(async () => {
  await h.close();
});

const START = Date.UTC(2030, 0, 15, 12) / 1000; // 15 Jan 2030, 12:00 UTC
const FEB_15 = Date.UTC(2030, 1, 15, 12) / 1000;
const MAR_15 = Date.UTC(2030, 2, 15, 12) / 1000;
const APR_15 = Date.UTC(2030, 3, 15, 12) / 1000;

/** An active Enterprise subscription on a fresh test clock, paid with 4242. */
async function enterprise(): Promise<{ clock: Stripe.TestHelpers.TestClock; customer: Stripe.Customer; sub: Stripe.Subscription }> {
  const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: START });
  const customer = await h.stripe.customers.create({ email: 'schedule@example.com', test_clock: clock.id });
  const pm = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
  await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
  const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_enterprise_plan_id' }] });
  expect(sub.status).toBe('active');
  return { clock, customer, sub };
}

/** Stripe's recipe: the running phase as it is, then the cheaper price from the period end. */
async function downgradeAtPeriodEnd(sub: Stripe.Subscription, price = 'price_starter_plan_id') {
  const created = await h.stripe.subscriptionSchedules.create({ from_subscription: sub.id });
  const running = created.phases[0]!;
  return h.stripe.subscriptionSchedules.update(created.id, {
    end_behavior: 'release',
    proration_behavior: 'none',
    phases: [
      { items: [{ price: 'price_enterprise_plan_id', quantity: 1 }], start_date: running.start_date, end_date: running.end_date },
      { items: [{ price, quantity: 1 }], duration: { interval: 'month', interval_count: 1 } },
    ],
  });
}

const invoicesOf = async (customer: string) =>
  (await h.stripe.invoices.list({ customer })).data.map((i) => ({ reason: i.billing_reason, total: i.total, status: i.status })).reverse();

describe('subscription schedules', () => {
  it('from_subscription: one phase, the running period; the subscription names its schedule', async () => {
    const { sub } = await enterprise();
    const schedule = await h.stripe.subscriptionSchedules.create({ from_subscription: sub.id });
    expect(schedule).toMatchObject({
      object: 'subscription_schedule',
      status: 'active',
      subscription: sub.id,
      end_behavior: 'release',
      current_phase: { start_date: START, end_date: FEB_15 },
    });
    expect(schedule.phases).toHaveLength(1);
    expect(schedule.phases[0]!.items[0]!.price).toBe('price_enterprise_plan_id');
    expect((await h.stripe.subscriptions.retrieve(sub.id)).schedule).toBe(schedule.id);
    expect(await h.stripe.subscriptionSchedules.retrieve(schedule.id)).toEqual(schedule);
    const types = h.local
      .events()
      .filter((e) => (e.data.object as { id?: string }).id === schedule.id)
      .map((e) => e.type);
    expect(types).toEqual(['subscription_schedule.created']);
    // A second schedule for the same subscription is refused.
    const again = await stripeError(() => h.stripe.subscriptionSchedules.create({ from_subscription: sub.id }));
    expect(again.message).toContain('already attached to a schedule');
  });

  it('a downgrade phase: nothing is invoiced or credited now; the renewal bills the cheaper price; then the schedule releases', async () => {
    const { clock, customer, sub } = await enterprise();
    const schedule = await downgradeAtPeriodEnd(sub);
    expect(schedule.phases.map((p) => [p.start_date, p.end_date, p.items[0]!.price])).toEqual([
      [START, FEB_15, 'price_enterprise_plan_id'],
      [FEB_15, MAR_15, 'price_starter_plan_id'],
    ]);
    expect((await h.stripe.customers.retrieve(customer.id)) as Stripe.Customer).toMatchObject({ balance: 0 });
    expect((await h.stripe.subscriptions.retrieve(sub.id)).items.data[0]!.price.id).toBe('price_enterprise_plan_id');

    await advanceClock(h.stripe, clock.id, FEB_15 + 60);
    const renewed = await h.stripe.subscriptions.retrieve(sub.id);
    expect(renewed.items.data[0]).toMatchObject({
      price: { id: 'price_starter_plan_id' },
      current_period_start: FEB_15,
      current_period_end: MAR_15,
    });
    expect(await invoicesOf(customer.id)).toEqual([
      { reason: 'subscription_create', total: 50000, status: 'paid' },
      { reason: 'subscription_cycle', total: 1000, status: 'paid' },
    ]);
    expect(await h.stripe.subscriptionSchedules.retrieve(schedule.id)).toMatchObject({
      status: 'active',
      current_phase: { start_date: FEB_15, end_date: MAR_15 },
    });

    await advanceClock(h.stripe, clock.id, MAR_15 + 60);
    expect(await h.stripe.subscriptionSchedules.retrieve(schedule.id)).toMatchObject({
      status: 'released',
      released_subscription: sub.id,
      subscription: null,
    });
    const after = await h.stripe.subscriptions.retrieve(sub.id);
    expect([after.status, after.schedule, after.items.data[0]!.price.id]).toEqual(['active', null, 'price_starter_plan_id']);
    expect((await invoicesOf(customer.id)).map((i) => i.total)).toEqual([50000, 1000, 1000]);
    const types = h.local
      .events()
      .filter((e) => (e.data.object as { id?: string }).id === schedule.id)
      .map((e) => e.type);
    expect(types).toEqual([
      'subscription_schedule.created',
      'subscription_schedule.updated',
      'subscription_schedule.updated',
      'subscription_schedule.released',
    ]);
  });

  it('release undoes the downgrade: the renewal stays at the old price', async () => {
    const { clock, customer, sub } = await enterprise();
    const schedule = await downgradeAtPeriodEnd(sub);
    const released = await h.stripe.subscriptionSchedules.release(schedule.id);
    expect(released).toMatchObject({ status: 'released', released_subscription: sub.id });
    expect((await h.stripe.subscriptions.retrieve(sub.id)).schedule).toBeNull();
    await advanceClock(h.stripe, clock.id, FEB_15 + 60);
    expect((await h.stripe.subscriptions.retrieve(sub.id)).items.data[0]!.price.id).toBe('price_enterprise_plan_id');
    expect((await invoicesOf(customer.id)).map((i) => i.total)).toEqual([50000, 50000]);
    // A released schedule can be neither updated nor released again.
    expect((await stripeError(() => h.stripe.subscriptionSchedules.release(schedule.id))).message).toContain('`released` status');
    expect((await stripeError(() => h.stripe.subscriptionSchedules.update(schedule.id, { end_behavior: 'cancel' }))).message).toContain(
      '`released` status',
    );
  });

  it('end_behavior cancel ends the subscription when the last phase ends', async () => {
    const { clock, sub } = await enterprise();
    const created = await h.stripe.subscriptionSchedules.create({ from_subscription: sub.id });
    await h.stripe.subscriptionSchedules.update(created.id, { end_behavior: 'cancel' });
    await advanceClock(h.stripe, clock.id, FEB_15 + 60);
    expect((await h.stripe.subscriptions.retrieve(sub.id)).status).toBe('canceled');
    expect(await h.stripe.subscriptionSchedules.retrieve(created.id)).toMatchObject({ status: 'completed' });
  });

  it('refuses what Stripe refuses, and what the local Stripe cannot run', async () => {
    const { sub } = await enterprise();
    const schedule = await h.stripe.subscriptionSchedules.create({ from_subscription: sub.id });
    // Cancellation of a scheduled subscription goes through the schedule.
    const cancel = await stripeError(() => h.stripe.subscriptions.update(sub.id, { cancel_at_period_end: true }));
    expect(cancel.message).toContain('managed by the subscription schedule');
    const running = schedule.phases[0]!;
    const moved = await stripeError(() =>
      h.stripe.subscriptionSchedules.update(schedule.id, {
        phases: [{ items: [{ price: 'price_enterprise_plan_id' }], start_date: running.start_date - 10, end_date: running.end_date }],
      }),
    );
    expect(moved.param).toBe('phases[0][start_date]');
    const gap = await stripeError(() =>
      h.stripe.subscriptionSchedules.update(schedule.id, {
        phases: [
          { items: [{ price: 'price_enterprise_plan_id' }], start_date: running.start_date, end_date: running.end_date },
          { items: [{ price: 'price_pro_plan_id' }], start_date: APR_15 },
        ],
      }),
    );
    expect(gap.param).toBe('phases[1][start_date]');
    const missing = await stripeError(() => h.stripe.subscriptionSchedules.create({ from_subscription: 'sub_nope' }));
    expect(missing).toMatchObject({ code: 'resource_missing', param: 'from_subscription' });
    // Nothing above changed the schedule.
    expect((await h.stripe.subscriptionSchedules.retrieve(schedule.id)).phases).toEqual(schedule.phases);
  });

  it('canceling the subscription cancels its schedule', async () => {
    const { sub } = await enterprise();
    const schedule = await downgradeAtPeriodEnd(sub);
    await h.stripe.subscriptions.cancel(sub.id);
    expect(await h.stripe.subscriptionSchedules.retrieve(schedule.id)).toMatchObject({ status: 'canceled' });
    const listed = await h.stripe.subscriptionSchedules.list({
      customer: typeof sub.customer === 'string' ? sub.customer : sub.customer.id,
    });
    expect(listed.data.map((s) => s.id)).toEqual([schedule.id]);
  });
});
