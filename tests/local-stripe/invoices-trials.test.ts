// Invoice items and one-off invoices, trials, pauses and the documented test
// cards and tokens, through the real SDK over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { TEST_CARDS } from '../../local/stripe/cards.js';
import { DAY, advanceClock, startHarness, stripeError, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const typesSince = (n: number) =>
  h.local
    .events()
    .slice(n)
    .map((e) => e.type);

async function cardCustomer(pm = 'pm_card_visa'): Promise<Stripe.Customer> {
  return h.stripe.customers.create({ payment_method: pm, invoice_settings: { default_payment_method: pm } });
}

describe('invoice items and one-off invoices', () => {
  it('pending items join a new invoice only with pending_invoice_items_behavior=include', async () => {
    const c = await h.stripe.customers.create({ email: 'oneoff@example.com' });
    const a = await h.stripe.invoiceItems.create({ customer: c.id, amount: 1500, currency: 'usd', description: 'Setup fee' });
    expect(a).toMatchObject({ object: 'invoiceitem', amount: 1500, invoice: null, customer: c.id, quantity: 1 });
    const empty = await h.stripe.invoices.create({ customer: c.id });
    expect(empty).toMatchObject({ status: 'draft', total: 0, billing_reason: 'manual', auto_advance: false });
    expect(empty.lines.data).toHaveLength(0);
    const inv = await h.stripe.invoices.create({ customer: c.id, pending_invoice_items_behavior: 'include', description: 'One-off' });
    expect(inv).toMatchObject({ status: 'draft', total: 1500, amount_due: 1500, description: 'One-off' });
    expect(inv.lines.data.map((l) => [l.amount, l.description, l.parent?.invoice_item_details?.invoice_item])).toEqual([
      [1500, 'Setup fee', a.id],
    ]);
    expect((await h.stripe.invoiceItems.retrieve(a.id)).invoice).toBe(inv.id);
    // Items added to the draft directly, by amount and by price x quantity.
    await h.stripe.invoiceItems.create({ customer: c.id, invoice: inv.id, amount: 250, currency: 'usd' });
    const byPrice = await h.stripe.invoiceItems.create({
      customer: c.id,
      invoice: inv.id,
      pricing: { price: 'price_starter_plan_id' },
      quantity: 2,
    });
    expect(byPrice.amount).toBe(2000);
    const withItems = await h.stripe.invoices.retrieve(inv.id);
    expect([withItems.total, withItems.lines.data.length]).toEqual([3750, 3]);
    await h.stripe.invoiceItems.del(byPrice.id);
    expect((await h.stripe.invoices.retrieve(inv.id)).total).toBe(1750);
    const pending = await h.stripe.invoiceItems.list({ customer: c.id, pending: true });
    expect(pending.data).toHaveLength(0);
  });

  it('finalize numbers it; pay charges the card; paid items cannot change', async () => {
    const c = await cardCustomer();
    const item = await h.stripe.invoiceItems.create({ customer: c.id, amount: 4200, currency: 'usd' });
    const inv = await h.stripe.invoices.create({ customer: c.id, pending_invoice_items_behavior: 'include' });
    const n = h.local.events().length;
    const open = await h.stripe.invoices.finalizeInvoice(inv.id);
    expect(open.status).toBe('open');
    expect(open.number).toMatch(/^[A-Z0-9]+-0001$/);
    const paid = await h.stripe.invoices.pay(inv.id);
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 4200, amount_remaining: 0 });
    expect(typesSince(n)).toEqual(
      expect.arrayContaining(['invoice.finalized', 'charge.succeeded', 'invoice.paid', 'invoice.payment_succeeded']),
    );
    expect((await stripeError(() => h.stripe.invoiceItems.update(item.id, { amount: 1 }))).statusCode).toBe(400);
    expect((await stripeError(() => h.stripe.invoices.pay(inv.id))).statusCode).toBe(400);
  });

  it('pay on a draft finalizes it first; a failing card leaves it open with invoice.payment_failed', async () => {
    const c = await cardCustomer('pm_card_chargeCustomerFail');
    await h.stripe.invoiceItems.create({ customer: c.id, amount: 900, currency: 'usd' });
    const inv = await h.stripe.invoices.create({ customer: c.id, pending_invoice_items_behavior: 'include' });
    const n = h.local.events().length;
    const err = await stripeError(() => h.stripe.invoices.pay(inv.id));
    expect(err).toMatchObject({ type: 'StripeCardError', code: 'card_declined' });
    expect(await h.stripe.invoices.retrieve(inv.id)).toMatchObject({ status: 'open', attempt_count: 1, attempted: true });
    expect(typesSince(n)).toEqual(expect.arrayContaining(['invoice.finalized', 'charge.failed', 'invoice.payment_failed']));
  });

  it('void, mark_uncollectible (then still payable), delete a draft, paid_out_of_band', async () => {
    const c = await cardCustomer();
    const mk = async (amount: number) => {
      await h.stripe.invoiceItems.create({ customer: c.id, amount, currency: 'usd' });
      return h.stripe.invoices.create({ customer: c.id, pending_invoice_items_behavior: 'include' });
    };
    const v = await mk(100);
    await h.stripe.invoices.finalizeInvoice(v.id);
    expect((await h.stripe.invoices.voidInvoice(v.id)).status).toBe('void');
    expect((await stripeError(() => h.stripe.invoices.pay(v.id))).statusCode).toBe(400);

    const u = await mk(200);
    await h.stripe.invoices.finalizeInvoice(u.id);
    const unc = await h.stripe.invoices.markUncollectible(u.id);
    expect(unc.status).toBe('uncollectible');
    expect(unc.status_transitions.marked_uncollectible_at).toEqual(expect.any(Number));
    expect(h.local.events('invoice.marked_uncollectible').some((e) => (e.data.object as Stripe.Invoice).id === u.id)).toBe(true);
    expect((await h.stripe.invoices.pay(u.id)).status).toBe('paid');

    const d = await mk(300);
    const item = (await h.stripe.invoiceItems.list({ invoice: d.id })).data[0];
    expect(await h.stripe.invoices.del(d.id)).toMatchObject({ id: d.id, deleted: true });
    expect((await h.stripe.invoiceItems.retrieve(item?.id ?? '')).invoice).toBeNull();

    const oob = await mk(0);
    await h.stripe.invoiceItems.create({ customer: c.id, invoice: oob.id, amount: 400, currency: 'usd' });
    const n = h.local.events('charge.succeeded').length;
    expect((await h.stripe.invoices.pay(oob.id, { paid_out_of_band: true })).status).toBe('paid');
    expect(h.local.events('charge.succeeded')).toHaveLength(n);
  });

  it('send_invoice needs a due date; updates after finalization are limited', async () => {
    const c = await h.stripe.customers.create({});
    const inv = await h.stripe.invoices.create({
      customer: c.id,
      collection_method: 'send_invoice',
      days_until_due: 30,
      metadata: { order: '7' },
    });
    expect(inv.due_date).toBe(inv.created + 30 * DAY);
    const updated = await h.stripe.invoices.update(inv.id, { description: 'Consulting', footer: 'Thanks' });
    expect(updated).toMatchObject({ description: 'Consulting', footer: 'Thanks', metadata: { order: '7' } });
    await h.stripe.invoices.finalizeInvoice(inv.id);
    expect((await stripeError(() => h.stripe.invoices.update(inv.id, { days_until_due: 5 }))).statusCode).toBe(400);
    expect((await h.stripe.invoices.update(inv.id, { metadata: { order: '8' } })).metadata).toEqual({ order: '8' });
  });

  it('a subscription renewal bills the pending items of its subscription', async () => {
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: 1_767_225_600 });
    const c = await h.stripe.customers.create({
      test_clock: clock.id,
      payment_method: 'pm_card_visa',
      invoice_settings: { default_payment_method: 'pm_card_visa' },
    });
    const sub = await h.stripe.subscriptions.create({ customer: c.id, items: [{ price: 'price_starter_plan_id' }] });
    await h.stripe.invoiceItems.create({ customer: c.id, subscription: sub.id, amount: 333, currency: 'usd', description: 'Extra seats' });
    await advanceClock(h.stripe, clock.id, 1_767_225_600 + 32 * DAY);
    const renewal = (await h.stripe.invoices.list({ subscription: sub.id })).data.find((i) => i.billing_reason === 'subscription_cycle');
    expect(renewal?.total).toBe(1000 + 333);
    expect(renewal?.status).toBe('paid');
  });
});

describe('trials', () => {
  const T0 = 1_767_225_600;

  it('trial_period_days: trialing with a $0 invoice and no card, trial_will_end 3 days before, then billed', async () => {
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0 });
    const c = await h.stripe.customers.create({ test_clock: clock.id });
    const sub = await h.stripe.subscriptions.create({ customer: c.id, items: [{ price: 'price_pro_plan_id' }], trial_period_days: 14 });
    expect(sub).toMatchObject({ status: 'trialing', trial_start: T0, trial_end: T0 + 14 * DAY, billing_cycle_anchor: T0 + 14 * DAY });
    expect(sub.items.data[0]?.current_period_end).toBe(T0 + 14 * DAY);
    const first = await h.stripe.invoices.retrieve(String(sub.latest_invoice));
    expect(first).toMatchObject({ status: 'paid', total: 0, billing_reason: 'subscription_create' });
    expect(first.lines.data[0]?.description).toMatch(/^Trial period for /);
    const willEnd = () =>
      h.local.events('customer.subscription.trial_will_end').filter((e) => (e.data.object as Stripe.Subscription).id === sub.id);
    expect(willEnd()).toHaveLength(0);

    await advanceClock(h.stripe, clock.id, T0 + 11 * DAY - 60);
    expect(willEnd()).toHaveLength(0);
    await advanceClock(h.stripe, clock.id, T0 + 11 * DAY + 3600);
    expect(willEnd()).toHaveLength(1);
    expect(willEnd()[0]?.created).toBe(T0 + 11 * DAY);
    expect((await h.stripe.subscriptions.retrieve(sub.id)).status).toBe('trialing');

    // Card added during the trial; at its end the first period is billed.
    await h.stripe.paymentMethods
      .attach('pm_card_visa', { customer: c.id })
      .then((pm) => h.stripe.customers.update(c.id, { invoice_settings: { default_payment_method: pm.id } }));
    await advanceClock(h.stripe, clock.id, T0 + 15 * DAY);
    const after = await h.stripe.subscriptions.retrieve(sub.id);
    expect(after.status).toBe('active');
    expect(after.items.data[0]?.current_period_start).toBe(T0 + 14 * DAY);
    const bill = await h.stripe.invoices.retrieve(String(after.latest_invoice));
    expect(bill).toMatchObject({ status: 'paid', total: 5000, billing_reason: 'subscription_cycle' });
    expect(willEnd()).toHaveLength(1);
  });

  it('a trial shorter than 3 days sends trial_will_end at once; trial_end=now ends it and bills', async () => {
    const c = await cardCustomer();
    const n = h.local.events().length;
    const sub = await h.stripe.subscriptions.create({
      customer: c.id,
      items: [{ price: 'price_starter_plan_id' }],
      trial_end: Math.floor(Date.now() / 1000) + 2 * DAY,
    });
    expect(typesSince(n)).toContain('customer.subscription.trial_will_end');
    const ended = await h.stripe.subscriptions.update(sub.id, { trial_end: 'now' });
    expect(ended.status).toBe('active');
    expect(ended.trial_end).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect((await h.stripe.invoices.retrieve(String(ended.latest_invoice))).status).toBe('paid');
  });

  it('without a card at the trial end: pause (customer.subscription.paused), then resume bills a new period', async () => {
    const c = await h.stripe.customers.create({});
    const sub = await h.stripe.subscriptions.create({
      customer: c.id,
      items: [{ price: 'price_starter_plan_id' }],
      trial_period_days: 7,
      trial_settings: { end_behavior: { missing_payment_method: 'pause' } },
    });
    const n = h.local.events().length;
    const paused = await h.stripe.subscriptions.update(sub.id, { trial_end: 'now' });
    expect(paused.status).toBe('paused');
    expect(typesSince(n)).toEqual(expect.arrayContaining(['customer.subscription.trial_will_end', 'customer.subscription.paused']));
    expect((await stripeError(() => h.stripe.subscriptions.update(sub.id, { trial_end: 'now' }))).param).toBe('trial_end');
    const pm = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: c.id });
    await h.stripe.customers.update(c.id, { invoice_settings: { default_payment_method: pm.id } });
    const resumed = await h.stripe.subscriptions.resume(sub.id);
    expect(resumed.status).toBe('active');
    expect(await h.stripe.invoices.retrieve(String(resumed.latest_invoice))).toMatchObject({ status: 'paid', total: 1000 });
    expect((await stripeError(() => h.stripe.subscriptions.resume(sub.id))).statusCode).toBe(400);
    expect(h.local.events('customer.subscription.resumed').some((e) => (e.data.object as Stripe.Subscription).id === sub.id)).toBe(true);
  });

  it('refuses bad trials', async () => {
    const c = await cardCustomer();
    const base = { customer: c.id, items: [{ price: 'price_starter_plan_id' }] };
    expect((await stripeError(() => h.stripe.subscriptions.create({ ...base, trial_period_days: 731 }))).param).toBe('trial_period_days');
    expect((await stripeError(() => h.stripe.subscriptions.create({ ...base, trial_end: 1000 }))).param).toBe('trial_end');
    const active = await h.stripe.subscriptions.create(base);
    expect((await stripeError(() => h.stripe.subscriptions.update(active.id, { trial_end: 'now' }))).param).toBe('trial_end');
  });
});

describe('pause_collection', () => {
  it.each([
    ['keep_as_draft', 'draft'],
    ['mark_uncollectible', 'uncollectible'],
    ['void', 'void'],
  ] as const)('%s: the subscription stays active, its renewal invoice is %s, nothing is charged', async (behavior, status) => {
    const T0 = 1_767_225_600;
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0 });
    const c = await h.stripe.customers.create({
      test_clock: clock.id,
      payment_method: 'pm_card_visa',
      invoice_settings: { default_payment_method: 'pm_card_visa' },
    });
    const sub = await h.stripe.subscriptions.create({ customer: c.id, items: [{ price: 'price_starter_plan_id' }] });
    const updated = await h.stripe.subscriptions.update(sub.id, { pause_collection: { behavior } });
    expect(updated.pause_collection).toEqual({ behavior, resumes_at: null });
    const charges = h.local.events('charge.succeeded').length;
    await advanceClock(h.stripe, clock.id, T0 + 32 * DAY);
    const after = await h.stripe.subscriptions.retrieve(sub.id);
    expect(after.status).toBe('active');
    expect((await h.stripe.invoices.retrieve(String(after.latest_invoice))).status).toBe(status);
    expect(h.local.events('charge.succeeded')).toHaveLength(charges);
    // Clearing it: the next renewal is charged again.
    await h.stripe.subscriptions.update(sub.id, { pause_collection: '' });
    await advanceClock(h.stripe, clock.id, T0 + 62 * DAY);
    const next = await h.stripe.subscriptions.retrieve(sub.id);
    expect((await h.stripe.invoices.retrieve(String(next.latest_invoice))).status).toBe('paid');
  });

  it('ends by itself at resumes_at', async () => {
    const T0 = 1_767_225_600;
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: T0 });
    const c = await h.stripe.customers.create({
      test_clock: clock.id,
      payment_method: 'pm_card_visa',
      invoice_settings: { default_payment_method: 'pm_card_visa' },
    });
    const sub = await h.stripe.subscriptions.create({ customer: c.id, items: [{ price: 'price_starter_plan_id' }] });
    await h.stripe.subscriptions.update(sub.id, { pause_collection: { behavior: 'void', resumes_at: T0 + 40 * DAY } });
    await advanceClock(h.stripe, clock.id, T0 + 62 * DAY);
    const invoices = (await h.stripe.invoices.list({ subscription: sub.id })).data.filter((i) => i.billing_reason === 'subscription_cycle');
    expect(invoices.map((i) => i.status).sort()).toEqual(['paid', 'void']);
    expect((await h.stripe.subscriptions.retrieve(sub.id)).pause_collection).toBeNull();
  });
});

describe("Stripe's documented test cards and tokens", () => {
  const declines = TEST_CARDS.filter((c) => !['succeed', 'authenticate', 'authenticate_always', 'attach_then_fail'].includes(c.behaviour));
  it.each(declines.flatMap((c) => [c.token ?? '', ...(c.aliases ?? []).filter((a) => a.startsWith('pm_'))]))(
    '%s declines with its code',
    async (pm) => {
      const err = await stripeError(() =>
        h.stripe.paymentIntents.create({ amount: 500, currency: 'usd', payment_method: pm, confirm: true }),
      );
      expect(err.type).toBe('StripeCardError');
      const card = TEST_CARDS.find((c) => c.token === pm || c.aliases?.includes(pm));
      const expected = {
        lost_card: 'lost_card',
        stolen_card: 'stolen_card',
        velocity_exceeded: 'card_velocity_exceeded',
        fraudulent: 'fraudulent',
        insufficient_funds: 'insufficient_funds',
        decline: 'generic_decline',
      } as Record<string, string>;
      if (card && expected[card.behaviour]) expect([err.code, err.decline_code]).toEqual(['card_declined', expected[card.behaviour]]);
      else expect(err.code).toBe(card?.behaviour);
    },
  );

  it('3184 asks for authentication on every charge (off-session: declined with authentication_required); 3155 only on-session', async () => {
    const customer = await h.stripe.customers.create({});
    const always = await h.stripe.paymentMethods.attach('pm_card_authenticationRequired', { customer: customer.id });
    const onSetup = await h.stripe.paymentMethods.attach('pm_card_authenticationRequiredOnSetup', { customer: customer.id });
    expect([always.card?.last4, onSetup.card?.last4]).toEqual(['3184', '3155']);
    const offSession = (payment_method: string) =>
      h.stripe.paymentIntents.create({
        amount: 500,
        currency: 'usd',
        customer: customer.id,
        payment_method,
        off_session: true,
        confirm: true,
      });

    const err = await stripeError(() => offSession(always.id));
    expect(err).toMatchObject({ type: 'StripeCardError', code: 'authentication_required', decline_code: 'authentication_required' });
    const held = err.payment_intent!;
    expect(held.status).toBe('requires_payment_method');
    // The customer comes back and confirms on-session: the challenge, then paid.
    const onSession = await h.stripe.paymentIntents.confirm(held.id, { payment_method: always.id });
    expect(onSession.status).toBe('requires_action');
    expect((await offSession(onSetup.id)).status).toBe('succeeded');
  });

  it('refuses a card detached from its customer: it can be neither charged nor attached again', async () => {
    const customer = await h.stripe.customers.create({});
    const card = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await h.stripe.paymentMethods.detach(card.id);
    const charge = await stripeError(() =>
      h.stripe.paymentIntents.create({ amount: 500, currency: 'usd', customer: customer.id, payment_method: card.id, confirm: true }),
    );
    expect(charge).toMatchObject({ type: 'StripeInvalidRequestError', param: 'payment_method' });
    expect(charge.message).toMatch(/may not be used again/);
    const attach = await stripeError(() => h.stripe.paymentMethods.attach(card.id, { customer: customer.id }));
    expect(attach).toMatchObject({ type: 'StripeInvalidRequestError' });
    expect((await h.stripe.paymentIntents.list({ customer: customer.id })).data).toHaveLength(0);
  });

  it.each(TEST_CARDS.filter((c) => c.behaviour === 'succeed').map((c) => [c.token ?? '', c.brand, c.number.slice(-4)]))(
    '%s pays (%s ...%s)',
    async (pm, brand, last4) => {
      const pi = await h.stripe.paymentIntents.create({
        amount: 500,
        currency: 'usd',
        payment_method: pm,
        confirm: true,
        expand: ['payment_method'],
      });
      expect(pi.status).toBe('succeeded');
      expect((pi.payment_method as Stripe.PaymentMethod).card).toMatchObject({ brand, last4 });
    },
  );

  it('tok_* tokens through card[token] on POST /v1/payment_methods, refusing unknown ones', async () => {
    const visa = await h.stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' }, billing_details: { name: 'Jenny' } });
    expect(visa.card).toMatchObject({ brand: 'visa', last4: '4242' });
    expect(visa.billing_details.name).toBe('Jenny');
    const fail = await h.stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_chargeCustomerFail' } });
    expect(fail.card?.last4).toBe('0341');
    const err = await stripeError(() => h.stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_unknown' } }));
    expect(err).toMatchObject({ statusCode: 404, param: 'card[token]' });
  });

  it('the same test PaymentMethod named twice in one request is one PaymentMethod', async () => {
    const c = await h.stripe.customers.create({
      payment_method: 'pm_card_visa',
      invoice_settings: { default_payment_method: 'pm_card_visa' },
    });
    const pms = await h.stripe.customers.listPaymentMethods(c.id);
    expect(pms.data).toHaveLength(1);
    expect(c.invoice_settings.default_payment_method).toBe(pms.data[0]?.id);
    // Across requests each use is a new one, as on Stripe.
    const again = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: c.id });
    expect(again.id).not.toBe(pms.data[0]?.id);
  });

  it('documented PaymentIntent params are stored: shipping, transfer_group', async () => {
    const shipping = {
      name: 'Jenny Rosen',
      phone: '+15555550100',
      address: { line1: '510 Townsend St', city: 'San Francisco', state: 'CA', postal_code: '94103', country: 'US' },
    };
    const pi = await h.stripe.paymentIntents.create({ amount: 700, currency: 'usd', shipping, transfer_group: 'ORDER_7' });
    expect(pi.shipping).toEqual({ ...shipping, address: { ...shipping.address, line2: null }, carrier: null, tracking_number: null });
    expect(pi.transfer_group).toBe('ORDER_7');
    const cleared = await h.stripe.paymentIntents.update(pi.id, { shipping: '' });
    expect(cleared.shipping).toBeNull();
  });
});

describe('documented parameters are accepted and stored', () => {
  it('customers: address, shipping, tax_exempt, invoice_prefix, invoice_settings footer and custom fields', async () => {
    const address = { line1: '1 Main St', line2: null, city: 'Springfield', state: 'IL', postal_code: '62701', country: 'US' };
    const c = await h.stripe.customers.create({
      address: { ...address, line2: '' },
      shipping: { name: 'Pat', address: { line1: '2 Side St', country: 'US' } },
      tax_exempt: 'reverse',
      invoice_prefix: 'PAT42',
      invoice_settings: { footer: 'Thank you', custom_fields: [{ name: 'VAT', value: 'X1' }] },
    });
    expect(c.address).toEqual({ ...address, line2: null });
    expect(c.shipping).toMatchObject({ name: 'Pat', address: { line1: '2 Side St', country: 'US', city: null } });
    expect(c).toMatchObject({ tax_exempt: 'reverse', invoice_prefix: 'PAT42' });
    expect(c.invoice_settings).toMatchObject({ footer: 'Thank you', custom_fields: [{ name: 'VAT', value: 'X1' }] });
    const inv = await h.stripe.invoices.finalizeInvoice((await h.stripe.invoices.create({ customer: c.id })).id);
    expect(inv.number).toBe('PAT42-0001');
    expect((await stripeError(() => h.stripe.customers.update(c.id, { invoice_prefix: 'bad prefix' }))).param).toBe('invoice_prefix');
  });

  it('products and prices: fields stored, updates with events, default_price_data, product_data, lookup key transfer', async () => {
    const product = await h.stripe.products.create({
      name: 'Widget',
      images: ['https://example.com/w.png'],
      url: 'https://example.com/w',
      unit_label: 'seat',
      statement_descriptor: 'WIDGET',
      marketing_features: [{ name: 'Fast' }],
      default_price_data: { currency: 'usd', unit_amount: 1200, recurring: { interval: 'month' } },
    });
    expect(product).toMatchObject({
      images: ['https://example.com/w.png'],
      url: 'https://example.com/w',
      unit_label: 'seat',
      statement_descriptor: 'WIDGET',
      marketing_features: [{ name: 'Fast' }],
    });
    const dp = await h.stripe.prices.retrieve(String(product.default_price));
    expect(dp).toMatchObject({ unit_amount: 1200, product: product.id, type: 'recurring' });
    const renamed = await h.stripe.products.update(product.id, { name: 'Widget Pro', active: false });
    expect(renamed).toMatchObject({ name: 'Widget Pro', active: false });
    expect(h.local.events('product.updated').at(-1)?.data.previous_attributes).toMatchObject({ name: 'Widget', active: true });

    const a = await h.stripe.prices.create({
      product_data: { name: 'Inline' },
      unit_amount: 300,
      currency: 'usd',
      lookup_key: 'inline_key',
      tax_behavior: 'exclusive',
      nickname: 'A',
    });
    expect(a).toMatchObject({ lookup_key: 'inline_key', tax_behavior: 'exclusive', nickname: 'A' });
    expect((await h.stripe.products.retrieve(String(a.product))).name).toBe('Inline');
    expect(
      (await stripeError(() => h.stripe.prices.create({ product: product.id, unit_amount: 1, currency: 'usd', lookup_key: 'inline_key' })))
        .param,
    ).toBe('lookup_key');
    const b = await h.stripe.prices.create({
      product: product.id,
      unit_amount: 1,
      currency: 'usd',
      lookup_key: 'inline_key',
      transfer_lookup_key: true,
    });
    expect(b.lookup_key).toBe('inline_key');
    expect((await h.stripe.prices.retrieve(a.id)).lookup_key).toBeNull();
    expect((await h.stripe.prices.update(a.id, { active: false, metadata: { old: 'yes' } })).active).toBe(false);
    expect((await stripeError(() => h.stripe.products.del(product.id))).statusCode).toBe(400);
    const bare = await h.stripe.products.create({ name: 'Bare' });
    expect(await h.stripe.products.del(bare.id)).toMatchObject({ id: bare.id, deleted: true });
  });
});

describe('manual capture (capture_method=manual)', () => {
  it('authorizes on confirm, captures part, refunds only what was captured', async () => {
    const c = await h.stripe.customers.create({});
    const n = h.local.events().length;
    const pi = await h.stripe.paymentIntents.create({
      amount: 5000,
      currency: 'usd',
      customer: c.id,
      capture_method: 'manual',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    expect(pi).toMatchObject({ status: 'requires_capture', amount_capturable: 5000, amount_received: 0, capture_method: 'manual' });
    const auth = await h.stripe.charges.retrieve(String(pi.latest_charge));
    expect(auth).toMatchObject({ captured: false, amount_captured: 0, status: 'succeeded' });
    expect((await stripeError(() => h.stripe.refunds.create({ payment_intent: pi.id }))).statusCode).toBe(400);
    expect((await stripeError(() => h.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 6000 }))).param).toBe('amount_to_capture');
    const captured = await h.stripe.paymentIntents.capture(pi.id, { amount_to_capture: 3000 });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 3000, amount_capturable: 0 });
    expect(await h.stripe.charges.retrieve(String(pi.latest_charge))).toMatchObject({
      captured: true,
      amount_captured: 3000,
      amount_refunded: 2000,
      refunded: false,
    });
    expect(typesSince(n)).toEqual([
      'payment_intent.created',
      'charge.succeeded',
      'payment_intent.amount_capturable_updated',
      'charge.captured',
      'payment_intent.succeeded',
    ]);
    const refund = await h.stripe.refunds.create({ payment_intent: pi.id });
    expect(refund.amount).toBe(3000);
    expect((await stripeError(() => h.stripe.paymentIntents.capture(pi.id))).statusCode).toBe(400);
  });

  it('canceling an authorization releases it', async () => {
    const pi = await h.stripe.paymentIntents.create({
      amount: 1500,
      currency: 'usd',
      capture_method: 'manual',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    const canceled = await h.stripe.paymentIntents.cancel(pi.id);
    expect(canceled).toMatchObject({ status: 'canceled', amount_capturable: 0 });
    expect(await h.stripe.charges.retrieve(String(pi.latest_charge))).toMatchObject({
      refunded: true,
      amount_refunded: 1500,
      captured: false,
    });
  });
});

describe('add_invoice_items on subscriptions', () => {
  it('bills one-time prices once: on the first invoice at create, on the next invoice at update', async () => {
    const setup = await h.stripe.prices.create({ product_data: { name: 'Setup fee' }, unit_amount: 2500, currency: 'usd' });
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: 1_767_225_600 });
    const c = await h.stripe.customers.create({
      test_clock: clock.id,
      payment_method: 'pm_card_visa',
      invoice_settings: { default_payment_method: 'pm_card_visa' },
    });
    const sub = await h.stripe.subscriptions.create({
      customer: c.id,
      items: [{ price: 'price_starter_plan_id' }],
      add_invoice_items: [{ price: setup.id, quantity: 2 }],
    });
    const first = await h.stripe.invoices.retrieve(String(sub.latest_invoice));
    expect(first).toMatchObject({ total: 1000 + 5000, status: 'paid' });
    await h.stripe.subscriptions.update(sub.id, { add_invoice_items: [{ price: setup.id }] });
    await advanceClock(h.stripe, clock.id, 1_767_225_600 + 32 * DAY);
    const renewal = (await h.stripe.invoices.list({ subscription: sub.id })).data.find((i) => i.billing_reason === 'subscription_cycle');
    expect(renewal?.total).toBe(1000 + 2500);
    expect(
      (await stripeError(() => h.stripe.subscriptions.update(sub.id, { add_invoice_items: [{ price: 'price_pro_plan_id' }] }))).param,
    ).toBe('add_invoice_items[0][price]');
  });
});
