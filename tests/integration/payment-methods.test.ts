import { describe, expect, it } from 'vitest';
import type { Actor } from '@/lib/auth/actor';
import { AppError } from '@/lib/http/errors';
import { ensureCustomerId } from '@/lib/payments/customers';
import { listPaymentMethods, removePaymentMethod, setDefaultPaymentMethod } from '@/lib/payments/payment-methods';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';

// Saved cards against the local Stripe through the real SDK, on PostgreSQL 15: what the list
// shows, which card pays the subscription, and the removal rule, with someone else's card ids
// and two removals at once.

const h = paymentsHarness();

async function userWithCustomer() {
  const signed = await h.auth.signUp();
  const actor: Actor = {
    kind: 'user',
    userId: signed.userId,
    claims: {
      sub: signed.userId,
      aud: 'authenticated',
      role: 'authenticated',
      exp: Math.floor(Date.now() / 1000) + 3600,
      email: signed.email,
    },
  };
  await h.db.query('insert into users (id, email) values ($1, $2)', [signed.userId, signed.email]);
  const customerId = await ensureCustomerId(h.db, signed.userId);
  return { ...signed, actor, customerId };
}

const attach = async (customer: string, testCard: string) => (await stripe().paymentMethods.attach(testCard, { customer })).id;

/** An active Pro subscription paid with a saved Visa (the way checkout saves it), returned with that card. */
async function subscribedToPro(user: Awaited<ReturnType<typeof userWithCustomer>>) {
  const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId: 'pro' } });
  expect(created.status).toBe(200);
  const card = await attach(user.customerId, 'pm_card_visa');
  await stripe().paymentIntents.confirm(created.body.data.clientSecret.split('_secret_')[0], { payment_method: card });
  await h.local.idle();
  const subscriptionId = created.body.data.subscriptionId as string;
  expect((await stripe().subscriptions.retrieve(subscriptionId)).status).toBe('active');
  return { subscriptionId, card };
}

async function expectAppError(work: Promise<unknown>, code: string, message?: string) {
  const error = await work.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  if (message) expect((error as AppError).message).toBe(message);
}

describe('payment methods', () => {
  it('lists brand, last 4, expiry and the default; a user without a customer has none', async () => {
    const fresh = await h.auth.signUp();
    await h.db.query('insert into users (id, email) values ($1, $2)', [fresh.userId, fresh.email]);
    expect(
      await listPaymentMethods(h.db, {
        kind: 'user',
        userId: fresh.userId,
        claims: { sub: fresh.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 600 },
      }),
    ).toEqual([]);

    const user = await userWithCustomer();
    const visa = await attach(user.customerId, 'pm_card_visa');
    const mastercard = await attach(user.customerId, 'pm_card_mastercard');
    const listed = await listPaymentMethods(h.db, user.actor);
    expect(listed).toHaveLength(2);
    expect(listed.find((card) => card.id === visa)).toMatchObject({ brand: 'visa', last4: '4242', isDefault: false });
    expect(listed.find((card) => card.id === mastercard)).toMatchObject({ brand: 'mastercard', last4: '4444', isDefault: false });
    for (const card of listed) {
      expect(card.expMonth).toBeGreaterThanOrEqual(1);
      expect(card.expYear).toBeGreaterThan(2025);
    }

    const after = await setDefaultPaymentMethod(h.db, user.actor, mastercard);
    expect(after[0]).toMatchObject({ id: mastercard, isDefault: true });
    expect(after[1]).toMatchObject({ id: visa, isDefault: false });
    const customer = await stripe().customers.retrieve(user.customerId);
    expect('deleted' in customer ? null : customer.invoice_settings.default_payment_method).toBe(mastercard);
  });

  it("refuses another user's card as not found and changes nothing at Stripe", async () => {
    const a = await userWithCustomer();
    const b = await userWithCustomer();
    const aCard = await attach(a.customerId, 'pm_card_visa');
    await setDefaultPaymentMethod(h.db, a.actor, aCard);
    const bCard = await attach(b.customerId, 'pm_card_mastercard');
    await expectAppError(setDefaultPaymentMethod(h.db, a.actor, bCard), 'not_found', 'That card is not one of yours.');
    await expectAppError(removePaymentMethod(h.db, a.actor, bCard), 'not_found', 'That card is not one of yours.');
    await expectAppError(removePaymentMethod(h.db, a.actor, 'pm_does_not_exist'), 'not_found');
    // An unattached test card is nobody's.
    const loose = await stripe().paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
    await expectAppError(setDefaultPaymentMethod(h.db, a.actor, loose.id), 'not_found');
    expect((await stripe().paymentMethods.retrieve(bCard)).customer).toBe(b.customerId);
    const aCustomer = await stripe().customers.retrieve(a.customerId);
    expect('deleted' in aCustomer ? null : aCustomer.invoice_settings.default_payment_method).toBe(aCard);
  });

  it('the default pays the subscription: setting it updates the subscription at Stripe', async () => {
    const user = await userWithCustomer();
    const { subscriptionId, card } = await subscribedToPro(user);
    const second = await attach(user.customerId, 'pm_card_mastercard');
    await setDefaultPaymentMethod(h.db, user.actor, second);
    const subscription = await stripe().subscriptions.retrieve(subscriptionId);
    expect(subscription.default_payment_method).toBe(second);
    const customer = await stripe().customers.retrieve(user.customerId);
    expect('deleted' in customer ? null : customer.invoice_settings.default_payment_method).toBe(second);
    expect((await listPaymentMethods(h.db, user.actor)).map((method) => [method.id, method.isDefault])).toEqual([
      [second, true],
      [card, false],
    ]);
  });

  it('the only card paying a subscription cannot be removed; with another card, removing the default promotes it', async () => {
    const user = await userWithCustomer();
    const { subscriptionId, card } = await subscribedToPro(user);
    await setDefaultPaymentMethod(h.db, user.actor, card);
    await expectAppError(
      removePaymentMethod(h.db, user.actor, card),
      'conflict',
      'This card pays your subscription and is your only card, so it cannot be removed. Add another card first, or cancel the subscription.',
    );
    expect((await stripe().paymentMethods.retrieve(card)).customer).toBe(user.customerId);

    const second = await attach(user.customerId, 'pm_card_mastercard');
    const left = await removePaymentMethod(h.db, user.actor, card);
    expect(left).toEqual([expect.objectContaining({ id: second, isDefault: true })]);
    expect((await stripe().paymentMethods.retrieve(card)).customer).toBeNull();
    expect((await stripe().subscriptions.retrieve(subscriptionId)).default_payment_method).toBe(second);
  });

  it('without a subscription the last card can go', async () => {
    const user = await userWithCustomer();
    const card = await attach(user.customerId, 'pm_card_visa');
    expect(await removePaymentMethod(h.db, user.actor, card)).toEqual([]);
  });

  it('two removals at once cannot take away both of the last two cards of a subscriber', async () => {
    const user = await userWithCustomer();
    const { card } = await subscribedToPro(user);
    const second = await attach(user.customerId, 'pm_card_mastercard');
    const outcomes = await Promise.allSettled([removePaymentMethod(h.db, user.actor, card), removePaymentMethod(h.db, user.actor, second)]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
    expect((refused.reason as AppError).code).toBe('conflict');
    const left = await stripe().customers.listPaymentMethods(user.customerId, { type: 'card' });
    expect(left.data).toHaveLength(1);
  });
});

describe('adding a card with a SetupIntent', () => {
  it('the first card becomes the default; a later one only when asked; the check happens at Stripe', async () => {
    const { cardAdded, createSetupIntent } = await import('@/lib/payments/payment-methods');
    const user = await userWithCustomer();
    const first = await createSetupIntent(h.db, user.actor);
    expect(first.clientSecret).toMatch(/^seti_.+_secret_/);
    // Not confirmed yet: nothing is saved, in words.
    await expectAppError(
      cardAdded(h.db, user.actor, { setupIntentId: first.setupIntentId, makeDefault: true }),
      'unprocessable',
      'The card was not saved. Please try again or use another card.',
    );
    await stripe().setupIntents.confirm(first.setupIntentId, { payment_method: 'pm_card_visa' });
    const added = await cardAdded(h.db, user.actor, { setupIntentId: first.setupIntentId, makeDefault: false });
    expect(added.methods).toEqual([expect.objectContaining({ id: added.paymentMethodId, last4: '4242', isDefault: true })]);

    const second = await createSetupIntent(h.db, user.actor);
    await stripe().setupIntents.confirm(second.setupIntentId, { payment_method: 'pm_card_mastercard' });
    const kept = await cardAdded(h.db, user.actor, { setupIntentId: second.setupIntentId, makeDefault: false });
    expect(kept.methods.map((card) => [card.last4, card.isDefault])).toEqual([
      ['4242', true],
      ['4444', false],
    ]);
    const third = await createSetupIntent(h.db, user.actor);
    await stripe().setupIntents.confirm(third.setupIntentId, { payment_method: 'pm_card_amex' });
    const switched = await cardAdded(h.db, user.actor, { setupIntentId: third.setupIntentId, makeDefault: true });
    expect(switched.methods[0]).toMatchObject({ brand: 'amex', isDefault: true });

    // Someone else's SetupIntent is not theirs, even confirmed.
    const other = await userWithCustomer();
    await expectAppError(
      cardAdded(h.db, other.actor, { setupIntentId: third.setupIntentId, makeDefault: true }),
      'not_found',
      'That card setup is not one of yours.',
    );
    await expectAppError(cardAdded(h.db, other.actor, { setupIntentId: 'seti_missing', makeDefault: true }), 'not_found');
    expect(await listPaymentMethods(h.db, other.actor)).toEqual([]);
  });
});

describe('documents', () => {
  it("opens an invoice's hosted page and PDF and a top-up's receipt at Stripe, only for their owner", async () => {
    const { paymentDocumentUrl } = await import('@/lib/payments/documents');
    const { POST: postPaymentIntent } = await import('@/app/api/payments/payment-intent/route');
    const user = await userWithCustomer();
    await subscribedToPro(user);
    const invoiceId = (
      await h.db.query<{ id: string }>("select id from invoices where user_id = $1 and billing_reason = 'subscription_create'", [
        user.userId,
      ])
    ).rows[0]!.id;
    const page = await paymentDocumentUrl(h.db, user.actor, 'invoice_page', invoiceId);
    const pageAnswer = await fetch(page);
    expect(pageAnswer.status).toBe(200);
    expect(await pageAnswer.text()).toContain('$50.00');
    const pdf = await fetch(await paymentDocumentUrl(h.db, user.actor, 'invoice_pdf', invoiceId));
    expect(pdf.headers.get('content-type')).toContain('application/pdf');
    expect(
      Buffer.from(await pdf.arrayBuffer())
        .subarray(0, 5)
        .toString(),
    ).toBe('%PDF-');

    const topUp = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 12 } });
    await stripe().paymentIntents.confirm(topUp.body.data.id, { payment_method: 'pm_card_visa' });
    await h.local.idle();
    const receipt = await fetch(await paymentDocumentUrl(h.db, user.actor, 'receipt', topUp.body.data.id));
    expect(receipt.status).toBe(200);
    expect(await receipt.text()).toContain('$12.00');

    const other = await userWithCustomer();
    await expectAppError(paymentDocumentUrl(h.db, other.actor, 'invoice_page', invoiceId), 'not_found', 'You have no invoice with that id');
    await expectAppError(paymentDocumentUrl(h.db, other.actor, 'invoice_pdf', invoiceId), 'not_found');
    await expectAppError(
      paymentDocumentUrl(h.db, other.actor, 'receipt', topUp.body.data.id),
      'not_found',
      'You have no payment with that id',
    );
    await expectAppError(paymentDocumentUrl(h.db, user.actor, 'receipt', 'javascript:alert(1)'), 'not_found');
  });
});
