// The clock of every customer without a test clock: /_local/clock/advance,
// the in-process advanceClock, persistence of the offset, and the CLI's durations.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { startLocalStripe } from '../../local/stripe/server.js';
import { durationSeconds } from '../../local/stripe/billing/wall-clock.js';
import { DAY, sdk, startHarness, type Harness } from './helpers.js';

async function control(
  h: Harness,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${h.local.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A wall-clock customer (no test clock) paying `price` with `card` saved as default. */
async function subscriber(
  h: Harness,
  card = 'pm_card_visa',
  price = 'price_pro_plan_id',
): Promise<{ customer: Stripe.Customer; sub: Stripe.Subscription }> {
  const customer = await h.stripe.customers.create({ email: 'clock@example.com' });
  const pm = await h.stripe.paymentMethods.attach(card, { customer: customer.id });
  await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
  const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price }] });
  return { customer, sub };
}

function periodEnd(sub: Stripe.Subscription): number {
  return sub.items.data[0]?.current_period_end ?? 0;
}

describe('POST /_local/clock/advance', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('starts at offset 0 and refuses bad input without moving', async () => {
    expect((await control(h, 'GET', '/_local/clock')).json.offset).toBe(0);
    for (const seconds of [0, -5, 1.5, 'soon', null, 60 * 365 * DAY]) {
      const r = await control(h, 'POST', '/_local/clock/advance', { seconds });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({ type: 'invalid_request_error' });
    }
    expect((await control(h, 'POST', '/_local/clock/advance/now', { seconds: 10 })).status).toBe(404);
    expect((await control(h, 'GET', '/_local/clock/now')).status).toBe(404);
    expect((await control(h, 'GET', '/_local/clock')).json.offset).toBe(0);
    expect(h.local.clockOffset()).toBe(0);
  });

  it('renews a wall-clock subscription at its period end and answers after the webhooks were delivered', async () => {
    const { customer, sub } = await subscriber(h);
    expect(sub.status).toBe('active');
    const end = periodEnd(sub);
    h.receiver.clear();
    const r = await control(h, 'POST', '/_local/clock/advance', { seconds: end - sub.created + 3600 });
    expect(r.status).toBe(200);
    const events = r.json.events as Array<{ id: string; type: string }>;
    const types = events.map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['invoice.created', 'invoice.finalized', 'invoice.paid', 'customer.subscription.updated']),
    );
    // Every resulting event reached the app before the answer.
    const received = new Set(h.receiver.received.map((x) => x.event.id));
    expect(events.filter((e) => !received.has(e.id))).toEqual([]);
    expect(r.json.deliveries).toEqual({ ok: events.length, failed: 0 });

    const renewed = await h.stripe.subscriptions.retrieve(sub.id);
    expect(renewed.status).toBe('active');
    expect(renewed.items.data[0]?.current_period_start).toBe(end);
    const invoices = await h.stripe.invoices.list({ customer: customer.id });
    const cycle = invoices.data.find((i) => i.billing_reason === 'subscription_cycle');
    expect(cycle).toMatchObject({
      status: 'paid',
      amount_paid: 5000,
      created: end,
      period_start: sub.items.data[0]?.current_period_start,
      period_end: end,
    });
    // The renewal's event carries the shifted time, not the real one.
    const paid = h.receiver.ofType('invoice.paid').find((x) => (x.event.data.object as Stripe.Invoice).id === cycle?.id);
    expect(paid?.event.created).toBe(end);
    expect(paid?.event.created).toBeGreaterThan(Date.now() / 1000 + 25 * DAY);

    const offset = (await control(h, 'GET', '/_local/clock')).json;
    expect(offset.offset).toBe(r.json.offset);
    expect(offset.now).toBeGreaterThanOrEqual(end + 3600);
    // Objects created afterwards are created at the shifted time too.
    const later = await h.stripe.customers.create({});
    expect(later.created).toBeGreaterThanOrEqual(end + 3600);
  });

  it('leaves customers on a test clock alone', async () => {
    const now = (await control(h, 'GET', '/_local/clock')).json.now as number;
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: now });
    const customer = await h.stripe.customers.create({ test_clock: clock.id });
    const pm = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_starter_plan_id' }],
      default_payment_method: pm.id,
    });
    const r = await h.local.advanceClock(40 * DAY);
    expect(
      r.events.filter((e) =>
        h.local.events().find((x) => x.id === e.id && (x.data.object as { customer?: string }).customer === customer.id),
      ),
    ).toEqual([]);
    const same = await h.stripe.subscriptions.retrieve(sub.id);
    expect(same.items.data[0]?.current_period_start).toBe(sub.items.data[0]?.current_period_start);
    expect((await h.stripe.testHelpers.testClocks.retrieve(clock.id)).frozen_time).toBe(now);
  });

  it('retries a failed renewal every 3 days, then cancels; expires an unpaid first invoice after 23 hours', async () => {
    // 0341 fails the first charge too: the subscription starts incomplete, and expires unpaid.
    const { sub } = await subscriber(h, 'pm_card_chargeCustomerFail', 'price_starter_plan_id');
    expect(sub.status).toBe('incomplete');
    const early = await h.local.advanceClock(22 * 3600);
    expect(early.events.map((e) => e.type)).not.toContain('customer.subscription.updated');
    const r = await h.local.advanceClock(2 * 3600);
    expect(r.events.map((e) => e.type)).toEqual(expect.arrayContaining(['invoice.voided', 'customer.subscription.updated']));
    expect((await h.stripe.subscriptions.retrieve(sub.id)).status).toBe('incomplete_expired');

    // A renewal that fails: pay the first invoice with 4242, then switch the default to 0341.
    const customer = await h.stripe.customers.create({});
    const good = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const bad = await h.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
    const active = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_starter_plan_id' }],
      default_payment_method: good.id,
    });
    expect(active.status).toBe('active');
    await h.stripe.subscriptions.update(active.id, { default_payment_method: bad.id });
    const first = await h.local.advanceClock(periodEnd(active) - active.created + 60);
    expect(first.events.map((e) => e.type)).toContain('invoice.payment_failed');
    expect((await h.stripe.subscriptions.retrieve(active.id)).status).toBe('past_due');
    const retry = await h.local.advanceClock(3 * DAY);
    expect(retry.events.map((e) => e.type)).toContain('invoice.payment_failed');
    const open = (await h.stripe.invoices.list({ customer: customer.id, status: 'open' })).data[0];
    expect(open?.attempt_count).toBe(2);
    await h.local.advanceClock(7 * DAY);
    expect((await h.stripe.subscriptions.retrieve(active.id)).status).toBe('canceled');
  });
});

describe('trials on the shared clock', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('sends trial_will_end three days before the end, then ends the trial with a paid invoice', async () => {
    const customer = await h.stripe.customers.create({});
    const pm = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } });
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_pro_plan_id' }],
      trial_period_days: 7,
    });
    expect(sub.status).toBe('trialing');
    const trialEnd = sub.trial_end ?? 0;
    const before = await h.local.advanceClock(3 * DAY);
    expect(before.events.map((e) => e.type)).not.toContain('customer.subscription.trial_will_end');
    const notice = await h.local.advanceClock(DAY + 60);
    expect(notice.events.map((e) => e.type)).toContain('customer.subscription.trial_will_end');
    const will = h.receiver
      .ofType('customer.subscription.trial_will_end')
      .find((r) => (r.event.data.object as Stripe.Subscription).id === sub.id);
    expect(will?.event.created).toBe(trialEnd - 3 * DAY);
    const end = await h.local.advanceClock(3 * DAY);
    expect(end.events.map((e) => e.type)).toEqual(expect.arrayContaining(['invoice.paid', 'customer.subscription.updated']));
    const after = await h.stripe.subscriptions.retrieve(sub.id);
    expect(after.status).toBe('active');
    expect(after.items.data[0]?.current_period_start).toBe(trialEnd);
  });
});

describe('the offset persists with the state', () => {
  it('survives a restart from the same data directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-stripe-clock-'));
    try {
      const first = await startLocalStripe({ port: 0, dataDir: dir, deliverWebhooks: false, billingSweepMs: 0 });
      const r = await first.advanceClock(10 * DAY);
      expect(r.offset).toBe(10 * DAY);
      await first.close();
      const second = await startLocalStripe({ port: 0, dataDir: dir, deliverWebhooks: false, billingSweepMs: 0 });
      try {
        expect(second.clockOffset()).toBe(10 * DAY);
        const customer = await sdk(second).customers.create({});
        expect(customer.created).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 10 * DAY);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('durations for `cli.ts advance`', () => {
  it('reads seconds, minutes, hours, days, weeks, and calendar months and years', () => {
    const jan31 = Date.UTC(2030, 0, 31, 12) / 1000;
    expect(durationSeconds('90', jan31)).toBe(90);
    expect(durationSeconds('2h', jan31)).toBe(7200);
    expect(durationSeconds('30m', jan31)).toBe(1800);
    expect(durationSeconds('7days', jan31)).toBe(7 * DAY);
    expect(durationSeconds('1w', jan31)).toBe(7 * DAY);
    expect(durationSeconds('1month', jan31)).toBe(28 * DAY);
    expect(durationSeconds('1y', jan31)).toBe(365 * DAY);
    for (const bad of ['', 'month', '1 fortnight', '-1d', '1.5h']) expect(durationSeconds(bad, jan31)).toBeNull();
  });
});
