// SetupIntents and the cards a customer keeps: confirm with the test cards
// (4242, 3155 with its 3-D Secure challenge, declines), the publishable-key
// path Stripe.js uses, cancel/list, and a card swap that the next renewal uses.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { completeAuthentication } from '../../local/stripe/client.js';
import { DAY, advanceClock, sdk, startHarness, stripeError, type Harness } from './helpers.js';

let h: Harness;
let pk: Stripe;
beforeAll(async () => {
  h = await startHarness();
  pk = sdk(h.local, 'pk_test_local');
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.receiver.clear();
});

function typesFor(id: string): string[] {
  return h.local
    .events()
    .filter((e) => (e.data.object as { id?: string }).id === id)
    .map((e) => e.type);
}

async function publishableConfirm(
  seti: Stripe.SetupIntent,
  body: Record<string, string>,
): Promise<{
  status: number;
  json: { error?: { code?: string; type?: string; setup_intent?: Stripe.SetupIntent } } & Partial<Stripe.SetupIntent>;
}> {
  const res = await fetch(`${h.local.url}/v1/setup_intents/${seti.id}/confirm`, {
    method: 'POST',
    headers: { Authorization: 'Bearer pk_test_local', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body).toString(),
  });
  return { status: res.status, json: (await res.json()) as never };
}

describe('SetupIntents', () => {
  it('create -> confirm with 4242 succeeds and attaches the card to the customer', async () => {
    const customer = await h.stripe.customers.create({ email: 'cards@example.com' });
    const seti = await h.stripe.setupIntents.create({
      customer: customer.id,
      allowed_payment_method_types: ['card'],
      metadata: { userId: 'u1' },
    });
    expect(seti).toMatchObject({
      object: 'setup_intent',
      status: 'requires_payment_method',
      customer: customer.id,
      usage: 'off_session',
      payment_method: null,
      metadata: { userId: 'u1' },
    });
    expect(seti.client_secret).toMatch(new RegExp(`^${seti.id}_secret_`));
    const done = await h.stripe.setupIntents.confirm(seti.id, { payment_method: 'pm_card_visa' });
    expect(done.status).toBe('succeeded');
    const pmId = String(done.payment_method);
    const pm = await h.stripe.paymentMethods.retrieve(pmId);
    expect(pm).toMatchObject({ customer: customer.id, card: { last4: '4242' } });
    expect(typesFor(seti.id)).toEqual(['setup_intent.created', 'setup_intent.succeeded']);
    expect(typesFor(pmId)).toEqual(['payment_method.attached']);
    expect((await h.stripe.customers.listPaymentMethods(customer.id)).data.map((x) => x.id)).toEqual([pmId]);
    expect((await h.stripe.paymentMethods.list({ customer: customer.id, type: 'card' })).data.map((x) => x.id)).toEqual([pmId]);
    await h.receiver.waitForType('setup_intent.succeeded', seti.id);
    // Done is done.
    const again = await stripeError(() => h.stripe.setupIntents.confirm(seti.id, { payment_method: 'pm_card_visa' }));
    expect(again.code).toBe('setup_intent_unexpected_state');
    expect((await stripeError(() => h.stripe.setupIntents.cancel(seti.id))).code).toBe('setup_intent_unexpected_state');
  });

  it('3155 through the publishable key: requires_action, then the challenge decides', async () => {
    const customer = await h.stripe.customers.create({});
    const seti = await h.stripe.setupIntents.create({ customer: customer.id });
    const card = {
      'payment_method_data[type]': 'card',
      'payment_method_data[card][number]': '4000002500003155',
      'payment_method_data[card][exp_month]': '12',
      'payment_method_data[card][exp_year]': '2034',
      'payment_method_data[card][cvc]': '123',
    };
    const r = await publishableConfirm(seti, { ...card, client_secret: seti.client_secret ?? '', use_stripe_sdk: 'true' });
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('requires_action');
    expect(r.json.next_action?.type).toBe('use_stripe_sdk');
    expect(typesFor(seti.id)).toEqual(['setup_intent.created', 'setup_intent.requires_action']);
    // Not attached until authenticated.
    expect((await h.stripe.customers.listPaymentMethods(customer.id)).data).toEqual([]);

    const completed = (await completeAuthentication(h.local.url, seti.client_secret ?? '', 'succeed')) as unknown as Stripe.SetupIntent;
    expect(completed.status).toBe('succeeded');
    expect((await h.stripe.customers.listPaymentMethods(customer.id)).data.map((x) => x.card?.last4)).toEqual(['3155']);
    expect(typesFor(seti.id).at(-1)).toBe('setup_intent.succeeded');

    // The Fail button: setup_failed, the card is not saved.
    const other = await h.stripe.setupIntents.create({ customer: customer.id });
    const r2 = await publishableConfirm(other, { ...card, client_secret: other.client_secret ?? '', use_stripe_sdk: 'true' });
    expect(r2.json.status).toBe('requires_action');
    const failed = (await completeAuthentication(h.local.url, other.client_secret ?? '', 'fail')) as unknown as Stripe.SetupIntent;
    expect(failed).toMatchObject({
      status: 'requires_payment_method',
      payment_method: null,
      last_setup_error: { code: 'setup_intent_authentication_failure' },
    });
    expect(typesFor(other.id)).toEqual(['setup_intent.created', 'setup_intent.requires_action', 'setup_intent.setup_failed']);
    expect((await h.stripe.customers.listPaymentMethods(customer.id)).data).toHaveLength(1);
    // The wrong client secret cannot answer the challenge.
    await expect(completeAuthentication(h.local.url, `${other.id}_secret_wrong`, 'succeed')).rejects.toThrow(/400/);
  });

  it('3155 with a return_url: the redirect page and the return with setup_intent and redirect_status', async () => {
    const customer = await h.stripe.customers.create({});
    const seti = await h.stripe.setupIntents.create({
      customer: customer.id,
      payment_method: 'pm_card_authenticationRequired',
      confirm: true,
      return_url: 'http://app.test/cards',
    });
    expect(seti.status).toBe('requires_action');
    const url = seti.next_action?.redirect_to_url?.url ?? '';
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('3D Secure authentication');
    const done = await fetch(`${h.local.url}/_local/3ds/${seti.id}/complete`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_secret: seti.client_secret ?? '',
        outcome: 'succeed',
        return_url: 'http://app.test/cards',
      }).toString(),
    });
    expect(done.status).toBe(303);
    const back = new URL(done.headers.get('location') ?? '');
    expect(Object.fromEntries(back.searchParams)).toEqual({
      setup_intent: seti.id,
      setup_intent_client_secret: seti.client_secret,
      redirect_status: 'succeeded',
    });
  });

  it('the in-process handle answers the challenge too', async () => {
    const customer = await h.stripe.customers.create({});
    const seti = await h.stripe.setupIntents.create({
      customer: customer.id,
      payment_method: 'pm_card_authenticationRequired',
      confirm: true,
      use_stripe_sdk: true,
    });
    expect(seti.next_action?.type).toBe('use_stripe_sdk');
    expect(h.local.completeSetupAuthentication(seti.id, 'succeed').status).toBe('succeeded');
    expect(() => h.local.completeSetupAuthentication(seti.id, 'succeed')).toThrow(/no authentication to complete/);
  });

  it('a declined card: 402 with the SetupIntent inside, setup_failed, nothing attached', async () => {
    const customer = await h.stripe.customers.create({});
    const seti = await h.stripe.setupIntents.create({ customer: customer.id });
    const err = await stripeError(() => h.stripe.setupIntents.confirm(seti.id, { payment_method: 'pm_card_visa_chargeDeclined' }));
    expect(err).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(err).toMatchObject({ statusCode: 402, code: 'card_declined', decline_code: 'generic_decline' });
    expect((err.raw as { setup_intent?: Stripe.SetupIntent }).setup_intent?.id).toBe(seti.id);
    const after = await h.stripe.setupIntents.retrieve(seti.id);
    expect(after).toMatchObject({
      status: 'requires_payment_method',
      last_setup_error: { code: 'card_declined', decline_code: 'generic_decline' },
    });
    expect(typesFor(seti.id)).toEqual(['setup_intent.created', 'setup_intent.setup_failed']);
    expect((await h.stripe.customers.listPaymentMethods(customer.id)).data).toEqual([]);
    // It can be tried again with a good card.
    expect((await h.stripe.setupIntents.confirm(seti.id, { payment_method: 'pm_card_visa' })).status).toBe('succeeded');
  });

  it('the publishable key needs the right client secret and cannot create or list', async () => {
    const customer = await h.stripe.customers.create({});
    const seti = await h.stripe.setupIntents.create({ customer: customer.id });
    const before = h.local.events().length;
    for (const secret of [undefined, `${seti.id}_secret_nope`]) {
      const r = await publishableConfirm(seti, { payment_method: 'pm_card_visa', ...(secret ? { client_secret: secret } : {}) });
      expect(r.status).toBe(400);
      expect(r.json.error?.type).toBe('invalid_request_error');
    }
    expect(h.local.events().length).toBe(before);
    expect((await h.stripe.setupIntents.retrieve(seti.id)).status).toBe('requires_payment_method');
    const seen = await pk.setupIntents.retrieve(seti.id, { client_secret: seti.client_secret ?? '' });
    expect(seen.id).toBe(seti.id);
    await expect(pk.setupIntents.retrieve(seti.id)).rejects.toThrow(/client_secret/);
    await expect(pk.setupIntents.create({ customer: customer.id })).rejects.toBeInstanceOf(Stripe.errors.StripeError);
    await expect(pk.setupIntents.list()).rejects.toBeInstanceOf(Stripe.errors.StripeError);
  });

  it('refused requests store nothing and emit nothing', async () => {
    const mine = await h.stripe.customers.create({});
    const theirs = await h.stripe.customers.create({});
    const theirCard = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: theirs.id });
    const count = () => h.local.events().length;
    const before = count();
    const listed = (await h.stripe.setupIntents.list({ limit: 100 })).data.length;
    const cases: Array<[() => Promise<unknown>, string | undefined]> = [
      [() => h.stripe.setupIntents.create({ customer: 'cus_nope' }), 'resource_missing'],
      [() => h.stripe.setupIntents.create({ customer: mine.id, payment_method: theirCard.id, confirm: true }), undefined],
      [() => h.stripe.setupIntents.create({ customer: mine.id, usage: 'sometimes' as 'on_session' }), undefined],
      [() => h.stripe.setupIntents.create({ customer: mine.id, allowed_payment_method_types: ['sepa_debit'] }), undefined],
      [() => h.stripe.setupIntents.create({ customer: mine.id, favourite: 1 } as Stripe.SetupIntentCreateParams), 'parameter_unknown'],
      [() => h.stripe.setupIntents.create({ customer: mine.id, payment_method: 'pm_nope' }), 'resource_missing'],
    ];
    for (const [call, code] of cases) {
      const err = await stripeError(call);
      expect(err.statusCode).toBe(code === 'resource_missing' ? 404 : 400);
      if (code) expect(err.code).toBe(code);
    }
    const seti = await h.stripe.setupIntents.create({ customer: mine.id });
    const wrongOwner = await stripeError(() => h.stripe.setupIntents.confirm(seti.id, { payment_method: theirCard.id }));
    expect(wrongOwner.statusCode).toBe(400);
    expect(count()).toBe(before + 1); // only setup_intent.created of the last one
    expect((await h.stripe.setupIntents.list({ limit: 100 })).data.length).toBe(listed + 1);
    expect((await h.stripe.paymentMethods.retrieve(theirCard.id)).customer).toBe(theirs.id);
  });

  it('cancel, list by customer, update', async () => {
    const customer = await h.stripe.customers.create({});
    const a = await h.stripe.setupIntents.create({ customer: customer.id });
    const b = await h.stripe.setupIntents.create({ customer: customer.id, description: 'second' });
    const canceled = await h.stripe.setupIntents.cancel(a.id, { cancellation_reason: 'abandoned' });
    expect(canceled).toMatchObject({ status: 'canceled', cancellation_reason: 'abandoned' });
    expect(typesFor(a.id)).toEqual(['setup_intent.created', 'setup_intent.canceled']);
    expect((await stripeError(() => h.stripe.setupIntents.confirm(a.id, { payment_method: 'pm_card_visa' }))).code).toBe(
      'setup_intent_unexpected_state',
    );
    const list = await h.stripe.setupIntents.list({ customer: customer.id });
    expect(list.data.map((s) => s.id)).toEqual([b.id, a.id]);
    const updated = await h.stripe.setupIntents.update(b.id, { payment_method: 'pm_card_mastercard', metadata: { k: 'v' } });
    expect(updated).toMatchObject({ status: 'requires_confirmation', metadata: { k: 'v' } });
    expect((await h.stripe.setupIntents.confirm(b.id)).status).toBe('succeeded');
    const other = await h.stripe.customers.create({});
    expect((await stripeError(() => h.stripe.setupIntents.update(b.id, { customer: other.id }))).statusCode).toBe(400);
  });
});

describe('a customer swaps cards; the next renewal uses the new default', () => {
  it('setup the new card, make it the default, detach the old one, renew', async () => {
    const start = Date.UTC(2031, 4, 10, 9) / 1000;
    const clock = await h.stripe.testHelpers.testClocks.create({ frozen_time: start });
    const customer = await h.stripe.customers.create({ test_clock: clock.id });
    const oldCard = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: oldCard.id } });
    const sub = await h.stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_pro_plan_id' }] });
    expect(sub.status).toBe('active');

    const seti = await h.stripe.setupIntents.create({ customer: customer.id, payment_method: 'pm_card_mastercard', confirm: true });
    expect(seti.status).toBe('succeeded');
    const newCard = String(seti.payment_method);
    const updated = await h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: newCard } });
    expect(updated.invoice_settings.default_payment_method).toBe(newCard);
    const detached = await h.stripe.paymentMethods.detach(oldCard.id);
    expect(detached.customer).toBeNull();
    expect(typesFor(oldCard.id)).toEqual(['payment_method.attached', 'payment_method.detached']);
    expect((await h.stripe.customers.listPaymentMethods(customer.id)).data.map((x) => x.id)).toEqual([newCard]);
    // A detached card cannot be the default.
    const err = await stripeError(() =>
      h.stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: oldCard.id } }),
    );
    expect(err.param).toBe('invoice_settings[default_payment_method]');

    await advanceClock(h.stripe, clock.id, start + 32 * DAY);
    const invoices = await h.stripe.invoices.list({ customer: customer.id, expand: ['data.payments'] });
    const renewal = invoices.data.find((i) => i.billing_reason === 'subscription_cycle');
    expect(renewal?.status).toBe('paid');
    const piId = String(renewal?.payments?.data[0]?.payment.payment_intent);
    expect((await h.stripe.paymentIntents.retrieve(piId)).payment_method).toBe(newCard);
  });
});
