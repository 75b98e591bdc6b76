// Subscriptions, invoices, proration previews, and renewals driven by test clocks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { DAY, advanceClock, startHarness, stripeError, type Harness } from './helpers.js';

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

/** A customer on a fresh test clock with `card` attached as default. */
async function clockCustomer(
  card = 'pm_card_visa',
): Promise<{ clock: Stripe.TestHelpers.TestClock; customer: Stripe.Customer; pm: Stripe.PaymentMethod }> {
  const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: START, name: 'billing test' });
  const customer = await h.stripe.customers.create({ email: 'sub@example.com', test_clock: clock.id });
  const pm = await h.stripe.paymentMethods.attach(card, { customer: customer.id });
  await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
  return { clock, customer, pm };
}

function eventsFor(objectId: string): string[] {
  return h.local
    .events()
    .filter((e) => (e.data.object as { id?: string }).id === objectId)
    .map((e) => e.type);
}

describe('first payment: payment_behavior=default_incomplete', () => {
  it('creates an incomplete subscription whose invoice carries the confirmation secret; paying it activates', async () => {
    const customer = await h.stripe.customers.create({ email: 'new-sub@example.com' });
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_pro_plan_id' }],
      payment_behavior: 'default_incomplete',
      payment_settings: { save_default_payment_method: 'on_subscription' },
      metadata: { userId: 'u-42' },
      expand: ['latest_invoice.confirmation_secret'],
    });
    expect(sub.status).toBe('incomplete');
    const item = sub.items.data[0];
    expect(item?.price.id).toBe('price_pro_plan_id');
    expect((item?.current_period_end ?? 0) - (item?.current_period_start ?? 0)).toBeGreaterThanOrEqual(28 * DAY);
    const invoice = sub.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({ status: 'open', amount_due: 5000, billing_reason: 'subscription_create', customer: customer.id });
    expect(invoice.parent?.subscription_details?.subscription).toBe(sub.id);
    const secret = invoice.confirmation_secret?.client_secret ?? '';
    expect(invoice.confirmation_secret?.type).toBe('payment_intent');

    const plain = await h.stripe.invoices.retrieve(invoice.id);
    expect(plain.confirmation_secret).toBeUndefined();

    const piId = secret.split('_secret_')[0] ?? '';
    const pi = await h.stripe.paymentIntents.confirm(piId, { payment_method: 'pm_card_visa' });
    expect(pi.status).toBe('succeeded');
    const paid = await h.stripe.invoices.retrieve(invoice.id, { expand: ['payments'] });
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 5000, amount_remaining: 0 });
    expect(paid.payments?.data[0]?.payment.payment_intent).toBe(piId);
    const active = await h.stripe.subscriptions.retrieve(sub.id);
    expect(active.status).toBe('active');
    expect(active.default_payment_method).toBe(pi.payment_method);
    expect(eventsFor(sub.id)).toEqual(['customer.subscription.created', 'customer.subscription.updated']);
    expect(eventsFor(invoice.id)).toEqual(['invoice.created', 'invoice.finalized', 'invoice.paid', 'invoice.payment_succeeded']);
    const updated = h.local.events('customer.subscription.updated').find((e) => (e.data.object as Stripe.Subscription).id === sub.id);
    expect(updated?.data.previous_attributes).toMatchObject({ status: 'incomplete' });
  });

  it('a declined first payment leaves the subscription incomplete and emits invoice.payment_failed', async () => {
    const customer = await h.stripe.customers.create({});
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_starter_plan_id' }],
      payment_behavior: 'default_incomplete',
      expand: ['latest_invoice.confirmation_secret'],
    });
    const invoice = sub.latest_invoice as Stripe.Invoice;
    const piId = invoice.confirmation_secret?.client_secret.split('_secret_')[0] ?? '';
    const err = await stripeError(() =>
      h.stripe.paymentIntents.confirm(piId, { payment_method: 'pm_card_visa_chargeDeclinedInsufficientFunds' }),
    );
    expect(err.decline_code).toBe('insufficient_funds');
    expect((await h.stripe.subscriptions.retrieve(sub.id)).status).toBe('incomplete');
    expect(eventsFor(invoice.id)).toContain('invoice.payment_failed');
  });

  it('charges the default card at once without default_incomplete, and refuses without any card', async () => {
    const { customer } = await clockCustomer();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_plan_id' }] });
    expect(sub.status).toBe('active');
    const bare = await h.stripe.customers.create({});
    const err = await stripeError(() => h.stripe.subscriptions.create({ customer: bare.id, items: [{ price: 'price_starter_plan_id' }] }));
    expect(err.message).toMatch(/no attached payment source or default payment method/);
  });
});

describe('renewals with test clocks', () => {
  it('advancing past the period end creates and pays the renewal invoice', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_plan_id' }] });
    expect(sub.items.data[0]?.current_period_end).toBe(FEB_15);
    await advanceClock(h.stripe, clock.id, FEB_15 + 3600);
    const renewed = await h.stripe.subscriptions.retrieve(sub.id);
    expect(renewed.status).toBe('active');
    expect(renewed.items.data[0]).toMatchObject({ current_period_start: FEB_15, current_period_end: MAR_15 });
    const invoices = await h.stripe.invoices.list({ subscription: sub.id });
    expect(invoices.data.map((i) => [i.billing_reason, i.status, i.amount_paid])).toEqual([
      ['subscription_cycle', 'paid', 1000],
      ['subscription_create', 'paid', 1000],
    ]);
    const cycle = invoices.data[0];
    expect(cycle?.created).toBe(FEB_15);
    expect(cycle?.lines.data[0]?.period).toEqual({ start: FEB_15, end: MAR_15 });
    expect(h.local.events('test_helpers.test_clock.ready').some((e) => (e.data.object as { id: string }).id === clock.id)).toBe(true);
  });

  it('a card that fails every charge (0341) makes the renewal fail: past_due, retried, then canceled', async () => {
    const { clock, customer } = await clockCustomer('pm_card_chargeCustomerFail');
    // The first invoice is paid with a good card; the saved default is the failing one.
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_starter_plan_id' }],
      payment_behavior: 'default_incomplete',
      expand: ['latest_invoice.confirmation_secret'],
    });
    const piId = (sub.latest_invoice as Stripe.Invoice).confirmation_secret?.client_secret.split('_secret_')[0] ?? '';
    await h.stripe.paymentIntents.confirm(piId, { payment_method: 'pm_card_visa' });
    await advanceClock(h.stripe, clock.id, FEB_15 + 60);
    const pastDue = await h.stripe.subscriptions.retrieve(sub.id);
    expect(pastDue.status).toBe('past_due');
    const failed = pastDue.latest_invoice as string;
    const invoice = await h.stripe.invoices.retrieve(failed);
    expect(invoice).toMatchObject({
      status: 'open',
      attempt_count: 1,
      billing_reason: 'subscription_cycle',
      next_payment_attempt: FEB_15 + 3 * DAY,
    });
    expect(eventsFor(failed)).toContain('invoice.payment_failed');

    await advanceClock(h.stripe, clock.id, FEB_15 + 10 * DAY);
    const ended = await h.stripe.subscriptions.retrieve(sub.id);
    expect(ended.status).toBe('canceled');
    expect(ended.cancellation_details?.reason).toBe('payment_failed');
    expect((await h.stripe.invoices.retrieve(failed)).attempt_count).toBe(4);
  });

  it('paying the open invoice with a new card brings a past_due subscription back to active', async () => {
    const { clock, customer } = await clockCustomer('pm_card_chargeCustomerFail');
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_starter_plan_id' }],
      payment_behavior: 'default_incomplete',
      expand: ['latest_invoice.confirmation_secret'],
    });
    const piId = (sub.latest_invoice as Stripe.Invoice).confirmation_secret?.client_secret.split('_secret_')[0] ?? '';
    await h.stripe.paymentIntents.confirm(piId, { payment_method: 'pm_card_visa' });
    await advanceClock(h.stripe, clock.id, FEB_15 + 60);
    const open = (await h.stripe.subscriptions.retrieve(sub.id)).latest_invoice as string;
    const good = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const paid = await h.stripe.invoices.pay(open, { payment_method: good.id });
    expect(paid.status).toBe('paid');
    expect((await h.stripe.subscriptions.retrieve(sub.id)).status).toBe('active');
  });

  it('an unpaid first invoice expires the subscription after 23 hours', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_pro_plan_id' }],
      payment_behavior: 'default_incomplete',
    });
    await advanceClock(h.stripe, clock.id, START + DAY);
    const expired = await h.stripe.subscriptions.retrieve(sub.id);
    expect(expired.status).toBe('incomplete_expired');
    expect((await h.stripe.invoices.retrieve(expired.latest_invoice as string)).status).toBe('void');
  });
});

describe('plan changes and proration', () => {
  it('previews the proration of an upgrade, then bills it at once with always_invoice', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_plan_id' }] });
    const half = START + (FEB_15 - START) / 2;
    await advanceClock(h.stripe, clock.id, half);
    const itemId = sub.items.data[0]?.id ?? '';
    const preview = await h.stripe.invoices.createPreview({
      customer: customer.id,
      subscription: sub.id,
      subscription_details: {
        items: [{ id: itemId, price: 'price_pro_plan_id' }],
        proration_behavior: 'always_invoice',
        proration_date: half,
      },
    });
    expect(preview.id).toMatch(/^upcoming_in_/);
    expect(preview.lines.data.map((l) => [l.amount, l.parent?.subscription_item_details?.proration])).toEqual([
      [-500, true],
      [2500, true],
    ]);
    expect(preview.amount_due).toBe(2000);
    expect(preview.lines.data[0]?.description).toMatch(/^Unused time on Starter after/);

    const updated = await h.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemId, price: 'price_pro_plan_id' }],
      proration_behavior: 'always_invoice',
      proration_date: half,
      expand: ['latest_invoice'],
    });
    expect(updated.items.data[0]).toMatchObject({ id: itemId, price: { id: 'price_pro_plan_id' } });
    expect(updated.items.data[0]?.current_period_end).toBe(FEB_15);
    const invoice = updated.latest_invoice as Stripe.Invoice;
    expect(invoice).toMatchObject({ billing_reason: 'subscription_update', status: 'paid', amount_paid: 2000 });
    const change = h.local
      .events('customer.subscription.updated')
      .filter((e) => (e.data.object as Stripe.Subscription).id === sub.id)
      .at(-1);
    expect(change?.data.previous_attributes).toHaveProperty('items');
  });

  it('create_prorations adds pending items to the next renewal; a downgrade credit lowers it', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_pro_plan_id' }] });
    const half = START + (FEB_15 - START) / 2;
    await advanceClock(h.stripe, clock.id, half);
    const itemId = sub.items.data[0]?.id ?? '';
    await h.stripe.subscriptions.update(sub.id, {
      items: [{ id: itemId, price: 'price_starter_plan_id' }],
      proration_behavior: 'create_prorations',
    });
    const upcoming = await h.stripe.invoices.createPreview({ customer: customer.id, subscription: sub.id });
    expect(upcoming.lines.data.map((l) => l.amount)).toEqual([-2500, 500, 1000]);
    expect(upcoming.amount_due).toBe(0);
    await advanceClock(h.stripe, clock.id, FEB_15 + 60);
    const renewal = await h.stripe.invoices.retrieve((await h.stripe.subscriptions.retrieve(sub.id)).latest_invoice as string);
    expect(renewal).toMatchObject({ total: -1000, amount_due: 0, status: 'paid', ending_balance: -1000 });
    const credited = (await h.stripe.customers.retrieve(customer.id)) as Stripe.Customer;
    expect(credited.balance).toBe(-1000);
    await advanceClock(h.stripe, clock.id, MAR_15 + 60);
    const next = await h.stripe.invoices.retrieve((await h.stripe.subscriptions.retrieve(sub.id)).latest_invoice as string);
    expect(next).toMatchObject({ total: 1000, amount_due: 0, starting_balance: -1000, ending_balance: 0, status: 'paid' });
  });
});

describe('cancellation', () => {
  it('cancel_at_period_end ends the subscription when the clock passes the period end', async () => {
    const { clock, customer } = await clockCustomer();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_plan_id' }] });
    const scheduled = await h.stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
    expect(scheduled).toMatchObject({ cancel_at_period_end: true, cancel_at: FEB_15, status: 'active' });
    const preview = await stripeError(() => h.stripe.invoices.createPreview({ customer: customer.id, subscription: sub.id }));
    expect(preview.code).toBe('invoice_upcoming_none');
    await advanceClock(h.stripe, clock.id, FEB_15 + 60);
    const ended = await h.stripe.subscriptions.retrieve(sub.id);
    expect(ended).toMatchObject({ status: 'canceled', ended_at: FEB_15 });
    expect(eventsFor(sub.id).at(-1)).toBe('customer.subscription.deleted');
    expect((await h.stripe.invoices.list({ subscription: sub.id })).data).toHaveLength(1);
  });

  it('undoing cancel_at_period_end keeps it renewing', async () => {
    const { customer } = await clockCustomer();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_plan_id' }] });
    await h.stripe.subscriptions.update(sub.id, { cancel_at_period_end: true });
    const resumed = await h.stripe.subscriptions.update(sub.id, { cancel_at_period_end: false });
    expect(resumed).toMatchObject({ cancel_at_period_end: false, cancel_at: null, canceled_at: null });
  });

  it('cancel now, and list hides canceled unless status=all', async () => {
    const { customer } = await clockCustomer();
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_starter_plan_id' }] });
    const canceled = await h.stripe.subscriptions.cancel(sub.id);
    expect(canceled).toMatchObject({ status: 'canceled', ended_at: START });
    expect((await h.stripe.subscriptions.list({ customer: customer.id })).data).toHaveLength(0);
    expect((await h.stripe.subscriptions.list({ customer: customer.id, status: 'all' })).data.map((s) => s.id)).toEqual([sub.id]);
    const again = await stripeError(() => h.stripe.subscriptions.update(sub.id, { items: [{ price: 'price_pro_plan_id' }] }));
    expect(again.message).toMatch(/canceled subscription/);
  });
});
