// Customers, catalog, payment methods, payment intents with the test cards,
// publishable-key access, refunds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { sdk, startHarness, stripeError, type Harness } from './helpers.js';

let h: Harness;
let customer: Stripe.Customer;
beforeAll(async () => {
  h = await startHarness({ deliverWebhooks: false });
  customer = await h.stripe.customers.create({ email: 'payer@example.com', name: 'Pat Payer', metadata: { userId: 'user-1' } });
});
afterAll(async () => {
  await h.close();
});

describe('customers', () => {
  it('creates, retrieves and updates with Stripe semantics', async () => {
    expect(customer).toMatchObject({ object: 'customer', email: 'payer@example.com', balance: 0, livemode: false, test_clock: null });
    const updated = await h.stripe.customers.update(customer.id, { name: 'Pat', metadata: { plan: 'pro', userId: '' } });
    expect(updated.name).toBe('Pat');
    expect(updated.metadata).toEqual({ plan: 'pro' });
    const again = (await h.stripe.customers.retrieve(customer.id)) as Stripe.Customer;
    expect(again.metadata).toEqual({ plan: 'pro' });
    const updatedEvent = h.local.events('customer.updated').at(-1);
    expect(updatedEvent?.data.previous_attributes).toMatchObject({ name: 'Pat Payer' });
  });

  it('refuses a default payment method not attached to the customer', async () => {
    const pm = await h.stripe.paymentMethods.retrieve('pm_card_visa');
    const err = await stripeError(() => h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm.id } }));
    expect(err.param).toBe('invoice_settings[default_payment_method]');
  });
});

describe('products and prices', () => {
  it('seeds the three monthly plans', async () => {
    const prices = await h.stripe.prices.list({ active: true });
    const plans = prices.data.map((p) => [p.id, p.unit_amount, p.currency, p.recurring?.interval, p.type]).sort();
    expect(plans).toEqual([
      ['price_enterprise_plan_id', 50000, 'usd', 'month', 'recurring'],
      ['price_pro_plan_id', 5000, 'usd', 'month', 'recurring'],
      ['price_starter_plan_id', 1000, 'usd', 'month', 'recurring'],
    ]);
    const pro = await h.stripe.prices.retrieve('price_pro_plan_id', { expand: ['product'] });
    expect((pro.product as Stripe.Product).name).toBe('Pro');
    expect(String(pro.unit_amount_decimal)).toBe('5000');
    const byKey = await h.stripe.prices.list({ lookup_keys: ['starter'] });
    expect(byKey.data.map((p) => p.id)).toEqual(['price_starter_plan_id']);
    const products = await h.stripe.products.list();
    expect(products.data).toHaveLength(3);
  });
});

describe('payment methods', () => {
  it('attaches a test card (a fresh pm_ each time) and lists it', async () => {
    const pm = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    expect(pm.id).toMatch(/^pm_1/);
    expect(pm.customer).toBe(customer.id);
    expect(pm.card).toMatchObject({ brand: 'visa', last4: '4242' });
    const list = await h.stripe.paymentMethods.list({ customer: customer.id, type: 'card' });
    expect(list.data.map((x) => x.id)).toContain(pm.id);
    const viaCustomer = await h.stripe.customers.listPaymentMethods(customer.id);
    expect(viaCustomer.data.map((x) => x.id)).toContain(pm.id);
  });

  it('0341 attaches, 0002 does not', async () => {
    const failing = await h.stripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
    expect(failing.card?.last4).toBe('0341');
    const err = await stripeError(() => h.stripe.paymentMethods.attach('pm_card_visa_chargeDeclined', { customer: customer.id }));
    expect(err).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(err.decline_code).toBe('generic_decline');
  });
});

describe('payment intents', () => {
  it('create -> update -> confirm with 4242 succeeds, with a charge', async () => {
    const pi = await h.stripe.paymentIntents.create({
      amount: 1550,
      currency: 'usd',
      customer: customer.id,
      metadata: { kind: 'usage' },
      automatic_payment_methods: { enabled: true },
    });
    expect(pi).toMatchObject({
      status: 'requires_payment_method',
      amount: 1550,
      customer: customer.id,
      automatic_payment_methods: { enabled: true },
    });
    expect(pi.client_secret).toMatch(new RegExp(`^${pi.id}_secret_`));
    const updated = await h.stripe.paymentIntents.update(pi.id, { amount: 2000, metadata: { userId: 'user-1' } });
    expect(updated.amount).toBe(2000);
    expect(updated.metadata).toEqual({ kind: 'usage', userId: 'user-1' });
    const done = await h.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    expect(done).toMatchObject({ status: 'succeeded', amount_received: 2000, last_payment_error: null });
    const charge = await h.stripe.charges.retrieve(done.latest_charge as string);
    expect(charge).toMatchObject({ status: 'succeeded', paid: true, amount: 2000, payment_intent: pi.id });
    expect(charge.payment_method_details?.card?.last4).toBe('4242');
    const types = h.local
      .events()
      .filter((e) => (e.data.object as { id?: string }).id === pi.id)
      .map((e) => e.type);
    expect(types).toEqual(['payment_intent.created', 'payment_intent.succeeded']);
  });

  it.each([
    ['pm_card_visa_chargeDeclined', 'generic_decline', 'Your card was declined.'],
    ['pm_card_visa_chargeDeclinedInsufficientFunds', 'insufficient_funds', 'Your card has insufficient funds.'],
    ['pm_card_chargeCustomerFail', 'generic_decline', 'Your card was declined.'],
  ])('%s: 402 card_error with the intent inside, intent back to requires_payment_method', async (pm, declineCode, message) => {
    const pi = await h.stripe.paymentIntents.create({ amount: 1000, currency: 'usd', customer: customer.id });
    const err = (await stripeError(() => h.stripe.paymentIntents.confirm(pi.id, { payment_method: pm }))) as Stripe.errors.StripeCardError;
    expect(err).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect({ status: err.statusCode, type: err.rawType, code: err.code, decline: err.decline_code, message: err.message }).toEqual({
      status: 402,
      type: 'card_error',
      code: 'card_declined',
      decline: declineCode,
      message,
    });
    const inError = err.payment_intent as Stripe.PaymentIntent;
    expect(inError.id).toBe(pi.id);
    expect(inError.status).toBe('requires_payment_method');
    const after = await h.stripe.paymentIntents.retrieve(pi.id);
    expect(after.status).toBe('requires_payment_method');
    expect(after.last_payment_error).toMatchObject({ type: 'card_error', code: 'card_declined', decline_code: declineCode });
    expect(h.local.events('payment_intent.payment_failed').some((e) => (e.data.object as Stripe.PaymentIntent).id === pi.id)).toBe(true);
    // The customer can retry with another card.
    const retried = await h.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    expect(retried.status).toBe('succeeded');
  });

  it('3155 requires action; completing the challenge succeeds, failing it returns to requires_payment_method', async () => {
    const pi = await h.stripe.paymentIntents.create({
      amount: 3000,
      currency: 'usd',
      customer: customer.id,
      payment_method: 'pm_card_authenticationRequired',
      confirm: true,
    });
    expect(pi.status).toBe('requires_action');
    expect(pi.next_action?.type).toBe('use_stripe_sdk');
    expect(h.local.completeAuthentication(pi.id, 'succeed').status).toBe('succeeded');

    const other = await h.stripe.paymentIntents.create({
      amount: 3000,
      currency: 'usd',
      payment_method: 'pm_card_authenticationRequired',
      confirm: true,
      return_url: 'http://localhost/done',
    });
    expect(other.next_action?.type).toBe('redirect_to_url');
    const failed = h.local.completeAuthentication(other.id, 'fail');
    expect(failed.status).toBe('requires_payment_method');
    expect(failed.last_payment_error?.code).toBe('payment_intent_authentication_failure');
  });

  it('cancel, and the state rules around it', async () => {
    const pi = await h.stripe.paymentIntents.create({ amount: 900, currency: 'usd' });
    const canceled = await h.stripe.paymentIntents.cancel(pi.id, { cancellation_reason: 'requested_by_customer' });
    expect(canceled).toMatchObject({ status: 'canceled', cancellation_reason: 'requested_by_customer' });
    const confirmErr = await stripeError(() => h.stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' }));
    expect(confirmErr.code).toBe('payment_intent_unexpected_state');
    const again = await stripeError(() => h.stripe.paymentIntents.cancel(pi.id));
    expect(again.message).toMatch(/status of canceled/);
  });

  it('lists by customer', async () => {
    const other = await h.stripe.customers.create({});
    const pi = await h.stripe.paymentIntents.create({ amount: 600, currency: 'usd', customer: other.id });
    const list = await h.stripe.paymentIntents.list({ customer: other.id });
    expect(list.data.map((x) => x.id)).toEqual([pi.id]);
  });
});

describe('publishable key (what Stripe.js does)', () => {
  it('retrieves and confirms an intent with its client secret, nothing else', async () => {
    const pi = await h.stripe.paymentIntents.create({ amount: 1200, currency: 'usd' });
    const pk = sdk(h.local, 'pk_test_local');
    const seen = await pk.paymentIntents.retrieve(pi.id, { client_secret: pi.client_secret ?? '' });
    expect(seen.id).toBe(pi.id);
    const wrong = await stripeError(() => pk.paymentIntents.retrieve(pi.id, { client_secret: `${pi.id}_secret_wrong` }));
    expect(wrong.param).toBe('client_secret');
    const forbidden = await stripeError(() => pk.customers.list());
    expect(forbidden.statusCode).toBe(401);
    const res = await fetch(`${h.local.url}/v1/payment_intents/${pi.id}/confirm`, {
      method: 'POST',
      headers: {
        Authorization: 'Bearer pk_test_local',
        'Content-Type': 'application/x-www-form-urlencoded',
        Origin: 'http://localhost:3000',
      },
      body: `client_secret=${pi.client_secret}&payment_method_data[type]=card&payment_method_data[card][number]=4242424242424242&payment_method_data[card][exp_month]=12&payment_method_data[card][exp_year]=2040`,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(((await res.json()) as Stripe.PaymentIntent).status).toBe('succeeded');
  });

  it('creates a card payment method from a typed number, rejecting bad numbers', async () => {
    const pk = sdk(h.local, 'pk_test_local');
    const pm = await pk.paymentMethods.create({
      type: 'card',
      card: { number: '4000000000009995', exp_month: 1, exp_year: 2041, cvc: '123' },
    });
    expect(pm.card?.last4).toBe('9995');
    const bad = await stripeError(() =>
      pk.paymentMethods.create({ type: 'card', card: { number: '4242424242424241', exp_month: 1, exp_year: 2041 } }),
    );
    expect(bad.code).toBe('incorrect_number');
  });
});

describe('refunds', () => {
  it('refunds a payment intent in part, then the rest, then refuses more', async () => {
    const pi = await h.stripe.paymentIntents.create({
      amount: 5000,
      currency: 'usd',
      customer: customer.id,
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    const part = await h.stripe.refunds.create({ payment_intent: pi.id, amount: 2000, reason: 'requested_by_customer' });
    expect(part).toMatchObject({ object: 'refund', amount: 2000, status: 'succeeded', payment_intent: pi.id });
    const tooMuch = await stripeError(() => h.stripe.refunds.create({ payment_intent: pi.id, amount: 4000 }));
    expect(tooMuch.code).toBe('amount_too_large');
    await h.stripe.refunds.create({ payment_intent: pi.id });
    const charge = await h.stripe.charges.retrieve(pi.latest_charge as string);
    expect(charge).toMatchObject({ amount_refunded: 5000, refunded: true });
    const done = await stripeError(() => h.stripe.refunds.create({ payment_intent: pi.id }));
    expect(done.code).toBe('charge_already_refunded');
    const list = await h.stripe.refunds.list({ payment_intent: pi.id });
    expect(list.data.map((r) => r.amount)).toEqual([3000, 2000]);
  });

  it('refuses to refund an unpaid intent', async () => {
    const pi = await h.stripe.paymentIntents.create({ amount: 5000, currency: 'usd' });
    const err = await stripeError(() => h.stripe.refunds.create({ payment_intent: pi.id }));
    expect(err.message).toMatch(/does not have a successful charge/);
  });
});
