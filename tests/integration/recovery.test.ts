import { describe, expect, it } from 'vitest';
import type { Actor } from '@/lib/auth/actor';
import { getBillingOverview } from '@/lib/payments/billing';
import { AppError } from '@/lib/http/errors';
import { setDefaultPaymentMethod } from '@/lib/payments/payment-methods';
import { getPastDue, payPastDueInvoice, recoveryCards, waitForRecovery } from '@/lib/payments/recovery';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { advanceTestClock } from '@/tests/helpers/stripe';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';

// Recovery from a failed renewal, against the local Stripe on test clocks and PostgreSQL 15: a
// renewal charged to pm_card_chargeCustomerFail leaves the plan past due with an open invoice;
// paying it with a saved card makes the subscription active again and starts the new period.
// Also what the user may spend meanwhile, and what happens when Stripe gives up.

const DAY = 86_400;
const h = paymentsHarness();

const actorOf = (user: { userId: string; email: string }): Actor => ({
  kind: 'user',
  userId: user.userId,
  claims: { sub: user.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 3600, email: user.email },
});

/** A Pro subscriber on a test clock started `daysAgo` days ago whose renewal card then fails. */
async function failingProUser(daysAgo: number) {
  const user = await h.auth.signUp();
  const clock = await stripe().testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) - daysAgo * DAY });
  const customer = await stripe().customers.create({ email: user.email, test_clock: clock.id, metadata: { userId: user.userId } });
  await h.db.query('insert into users (id, email, stripe_customer_id) values ($1, $2, $3)', [user.userId, user.email, customer.id]);
  const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId: 'pro' } });
  await stripe().paymentIntents.confirm(created.body.data.clientSecret.split('_secret_')[0], { payment_method: 'pm_card_visa' });
  await h.local.idle();
  const subscriptionId = created.body.data.subscriptionId as string;
  const failing = await stripe().paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
  await stripe().subscriptions.update(subscriptionId, { default_payment_method: failing.id });
  await stripe().customers.update(customer.id, { invoice_settings: { default_payment_method: failing.id } });
  await h.local.idle();
  return { user, actor: actorOf(user), clock, customerId: customer.id, subscriptionId, failingCard: failing.id };
}

const subscriptionRow = async (id: string) =>
  (
    await h.db.query<{ status: string; current_period_start: Date }>(
      'select status, current_period_start from subscriptions where id = $1',
      [id],
    )
  ).rows[0]!;

async function expectAppError(work: Promise<unknown>, code: string, message?: string) {
  const error = await work.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  if (message) expect((error as AppError).message).toBe(message);
}

describe('recovery from a failed renewal', () => {
  it('past due: amount and next retry; a declined card changes nothing; a good card pays, the plan is active and the period moves on', async () => {
    const { user, actor, clock, customerId, subscriptionId, failingCard } = await failingProUser(32);
    const firstStart = (await subscriptionRow(subscriptionId)).current_period_start;
    expect(await getPastDue(h.db, actor)).toBeNull();
    // Usage in the paid period: $20 of Pro's $50.
    await h.db.query("select * from app_private.commit_usage($1, null, 'writer', 40000, 0, 'before-renewal')", [user.userId]);
    await advanceTestClock(h.local, clock.id);

    expect(await subscriptionRow(subscriptionId)).toEqual({ status: 'past_due', current_period_start: firstStart });
    const pastDue = await getPastDue(h.db, actor);
    const renewal = await stripe().invoices.retrieve(pastDue!.invoiceId);
    expect(pastDue).toEqual({
      subscriptionId,
      planId: 'pro',
      planName: 'Pro',
      invoiceId: renewal.id,
      amountDueCents: 5000,
      attemptCount: 1,
      nextRetryAt: new Date(renewal.next_payment_attempt! * 1000).toISOString(),
    });
    // Stripe retries three days after the failed attempt, on the customer's clock.
    expect(renewal.next_payment_attempt! - renewal.status_transitions.finalized_at!).toBeGreaterThanOrEqual(3 * DAY - 60);

    // The grace: while past due the last paid period stays in force with what is left of it.
    const during = await getBillingOverview(h.db, actor);
    expect(during).toMatchObject({ planId: 'pro', periodStart: firstStart.toISOString(), usageCents: 2000, remainingCents: 3000 });

    // Someone else's card, and a card that declines: nothing changes.
    const stranger = await stripe().customers.create({ email: 'stranger@example.test' });
    const strangersCard = (await stripe().paymentMethods.attach('pm_card_visa', { customer: stranger.id })).id;
    await expectAppError(
      payPastDueInvoice(h.db, actor, { invoiceId: renewal.id, paymentMethodId: strangersCard }),
      'not_found',
      'That card is not one of yours.',
    );
    await expectAppError(
      payPastDueInvoice(h.db, actor, { invoiceId: renewal.id, paymentMethodId: failingCard }),
      'unprocessable',
      'Your card was declined, so the invoice was not paid. Try another card or contact your bank.',
    );
    await h.local.idle();
    expect((await subscriptionRow(subscriptionId)).status).toBe('past_due');
    expect((await stripe().invoices.retrieve(renewal.id)).status).toBe('open');
    // Another user's invoice id is not theirs to pay.
    await expectAppError(payPastDueInvoice(h.db, actor, { invoiceId: 'in_someone_else', paymentMethodId: failingCard }), 'not_found');

    // A good card: paid at once, twice clicked, once charged.
    const visa = (await stripe().paymentMethods.attach('pm_card_visa', { customer: customerId })).id;
    const [first, second] = await Promise.all([
      payPastDueInvoice(h.db, actor, { invoiceId: renewal.id, paymentMethodId: visa }),
      payPastDueInvoice(h.db, actor, { invoiceId: renewal.id, paymentMethodId: visa }),
    ]);
    expect([first.status, second.status]).toEqual(['paid', 'paid']);
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    await h.local.idle();

    const recovered = await subscriptionRow(subscriptionId);
    expect(recovered.status).toBe('active');
    expect(recovered.current_period_start.getTime()).toBeGreaterThan(firstStart.getTime());
    const after = await getBillingOverview(h.db, actor);
    expect(after).toMatchObject({
      planId: 'pro',
      periodStart: recovered.current_period_start.toISOString(),
      usageCents: 0,
      remainingCents: 5000,
    });
    expect(await getPastDue(h.db, actor)).toBeNull();
    // At Stripe: the invoice paid once, and the new card pays from now on.
    const paid = await stripe().invoices.retrieve(renewal.id);
    expect(paid.status).toBe('paid');
    expect(paid.amount_paid).toBe(5000);
    const charges = await stripe().charges.list({ customer: customerId, limit: 100 });
    expect(charges.data.filter((charge) => charge.status === 'succeeded' && charge.amount === 5000)).toHaveLength(2); // first payment + this one
    expect((await stripe().subscriptions.retrieve(subscriptionId)).default_payment_method).toBe(visa);
    const customer = await stripe().customers.retrieve(customerId);
    expect('deleted' in customer ? null : customer.invoice_settings.default_payment_method).toBe(visa);
    // Paying again finds nothing owed.
    await expectAppError(payPastDueInvoice(h.db, actor, { invoiceId: renewal.id, paymentMethodId: visa }), 'not_found');
  });

  it('the card that pays a failed renewal becomes the default (an older saved card, and a payment whose answer was lost): at Stripe, on the dashboard, audited', async () => {
    const { actor, clock, customerId, subscriptionId, failingCard } = await failingProUser(32);
    const firstCard = (await stripe().customers.listPaymentMethods(customerId, { type: 'card' })).data.find(
      (card) => card.id !== failingCard,
    )!;
    await advanceTestClock(h.local, clock.id);
    const pastDue = (await getPastDue(h.db, actor))!;
    expect((await getBillingOverview(h.db, actor)).paymentMethod?.last4).toBe('0341');

    // Stripe pays the invoice, but the answer never reaches us (nor the SDK's retry): the user
    // sees an error, and the webhook still moves the default to the card that paid.
    h.local.local.faults.inject({
      type: 'timeout',
      afterProcessing: true,
      count: 2,
      method: 'POST',
      path: `/v1/invoices/${pastDue.invoiceId}/pay`,
    });
    try {
      await expectAppError(
        payPastDueInvoice(h.db, actor, { invoiceId: pastDue.invoiceId, paymentMethodId: firstCard.id }),
        'service_unavailable',
      );
    } finally {
      h.local.local.faults.clear();
    }
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    await h.local.idle();

    expect((await stripe().invoices.retrieve(pastDue.invoiceId)).status).toBe('paid');
    expect((await stripe().subscriptions.retrieve(subscriptionId)).default_payment_method).toBe(firstCard.id);
    const customer = await stripe().customers.retrieve(customerId);
    expect('deleted' in customer ? null : customer.invoice_settings.default_payment_method).toBe(firstCard.id);
    // The dashboard names the card that pays now (the default), not merely the newest (0341).
    expect((await getBillingOverview(h.db, actor)).paymentMethod).toMatchObject({ brand: 'visa', last4: '4242' });
    // In our database: the subscription active again, the renewal paid, the change audited once.
    expect((await subscriptionRow(subscriptionId)).status).toBe('active');
    const invoice = await h.db.query('select status, amount_paid_cents from invoices where id = $1', [pastDue.invoiceId]);
    expect(invoice.rows).toEqual([{ status: 'paid', amount_paid_cents: 5000 }]);
    const audit = await h.db.query(
      "select actor, entity_id, details from audit_log where action = 'payment_method.default_changed' and user_id = $1",
      [actor.userId],
    );
    expect(audit.rows).toEqual([
      {
        actor: 'stripe-webhook',
        entity_id: subscriptionId,
        details: { paymentMethod: firstCard.id, previous: failingCard, invoice: pastDue.invoiceId, reason: 'paid-renewal' },
      },
    ]);
  });

  it('"Update card and pay" preselects the default card when usable, else the newest card that did not fail, else none', async () => {
    const { actor, clock, customerId, failingCard } = await failingProUser(32);
    const firstCard = (await stripe().customers.listPaymentMethods(customerId, { type: 'card' })).data.find(
      (card) => card.id !== failingCard,
    )!;
    await advanceTestClock(h.local, clock.id);
    const pastDue = (await getPastDue(h.db, actor))!;
    const marks = (cards: { id: string; failed: boolean; isDefault: boolean }[]) =>
      Object.fromEntries(cards.map((card) => [card.id, { failed: card.failed, isDefault: card.isDefault }]));

    // The default (0341) is the card the renewal failed on: the other card, 4242.
    let offered = await recoveryCards(h.db, actor, pastDue);
    expect(marks(offered.cards)).toEqual({
      [failingCard]: { failed: true, isDefault: true },
      [firstCard.id]: { failed: false, isDefault: false },
    });
    expect(offered.preselectedId).toBe(firstCard.id);

    // A card added since is the newest usable one.
    const added = (await stripe().paymentMethods.attach('pm_card_mastercard', { customer: customerId })).id;
    offered = await recoveryCards(h.db, actor, pastDue);
    expect(offered.preselectedId).toBe(added);

    // A card declined on this page counts as failed too.
    const declining = (await stripe().paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customerId })).id;
    await expectAppError(payPastDueInvoice(h.db, actor, { invoiceId: pastDue.invoiceId, paymentMethodId: declining }), 'unprocessable');
    offered = await recoveryCards(h.db, actor, pastDue);
    expect(
      offered.cards
        .filter((card) => card.failed)
        .map((card) => card.id)
        .sort(),
    ).toEqual([declining, failingCard].sort());
    expect(offered.preselectedId).toBe(added);

    // A usable default wins over a newer card.
    await setDefaultPaymentMethod(h.db, actor, firstCard.id);
    expect((await recoveryCards(h.db, actor, pastDue)).preselectedId).toBe(firstCard.id);

    // Once every card has expired, none is preselected.
    offered = await recoveryCards(h.db, actor, pastDue, new Date('2040-01-01T00:00:00Z'));
    expect(offered.cards.every((card) => card.expired)).toBe(true);
    expect(offered.preselectedId).toBeNull();
  });

  it('when Stripe gives up after its retries the subscription ends and the user is back on Starter', async () => {
    const { user, actor, clock, subscriptionId } = await failingProUser(47);
    await h.db.query("select * from app_private.commit_usage($1, null, 'writer', 1000, 0, 'in-paid-period')", [user.userId]);
    await advanceTestClock(h.local, clock.id);
    await h.local.idle();
    expect((await subscriptionRow(subscriptionId)).status).toBe('canceled');
    expect(await getPastDue(h.db, actor)).toBeNull();
    const overview = await getBillingOverview(h.db, actor);
    expect(overview.planId).toBe('starter');
    expect(overview.allowanceCents).toBe(1000);
    // Nothing lost: the paid period's usage stays on record.
    const history = await h.db.query('select count(*)::int as tasks from usage_events where user_id = $1', [user.userId]);
    expect(history.rows).toEqual([{ tasks: 1 }]);
  });
});
