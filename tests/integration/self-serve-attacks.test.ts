import { describe, expect, it } from 'vitest';
import type { Actor } from '@/lib/auth/actor';
import { getBillingOverview } from '@/lib/payments/billing';
import { paymentDocumentUrl } from '@/lib/payments/documents';
import { AppError } from '@/lib/http/errors';
import { ensureCustomerId } from '@/lib/payments/customers';
import { listPaymentMethods, removePaymentMethod, setDefaultPaymentMethod } from '@/lib/payments/payment-methods';
import { getPastDue, payPastDueInvoice, waitForRecovery } from '@/lib/payments/recovery';
import { exportTaskReceiptsCsv, listTaskReceipts } from '@/lib/billing/task-receipts';
import { getTaskReceiptsQuerySchema } from '@/lib/billing/task-receipt-schemas';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { advanceTestClock, TEST_WEBHOOK_SECRET } from '@/tests/helpers/stripe';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as postWebhook } from '@/app/api/payments/webhook/route';
import { GET as tasksRoute } from '@/app/api/payments/tasks/route';
import { GET as exportRoute } from '@/app/api/payments/tasks/export/route';

// Red-team tests of self-serve billing (issue 14): the tests an attacker or a careless user would
// write first against payment methods, "Update card and pay", invoice/receipt links and task
// receipts. Real PostgreSQL, the local Stripe through the SDK, lib functions and route handlers
// in-process. Comments starting "Found (fixed)" mark the four bugs these tests found; all hold as
// regressions.

const DAY = 86_400;
const h = paymentsHarness();

const actorOf = (user: { userId: string; email: string }): Actor => ({
  kind: 'user',
  userId: user.userId,
  claims: { sub: user.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 3600, email: user.email },
});

async function expectAppError(work: Promise<unknown>, code: string, message?: string) {
  const error = await work.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  if (message) expect((error as AppError).message).toBe(message);
}

const attach = async (customer: string, testCard: string) => (await stripe().paymentMethods.attach(testCard, { customer })).id;

async function defaults(customerId: string, subscriptionId?: string) {
  const customer = await stripe().customers.retrieve(customerId);
  const customerDefault = 'deleted' in customer ? null : customer.invoice_settings.default_payment_method;
  const subscriptionDefault = subscriptionId ? (await stripe().subscriptions.retrieve(subscriptionId)).default_payment_method : null;
  return { customer: customerDefault as string | null, subscription: subscriptionDefault as string | null };
}

/** A signed-up user with a row and a Stripe customer (no clock). */
async function userWithCustomer() {
  const signed = await h.auth.signUp();
  await h.db.query('insert into users (id, email) values ($1, $2)', [signed.userId, signed.email]);
  const customerId = await ensureCustomerId(h.db, signed.userId);
  return { ...signed, actor: actorOf(signed), customerId };
}

/** An active Pro subscription paid with a saved Visa. */
async function subscribedToPro(user: Awaited<ReturnType<typeof userWithCustomer>>) {
  const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId: 'pro' } });
  expect(created.status).toBe(200);
  const card = await attach(user.customerId, 'pm_card_visa');
  await stripe().paymentIntents.confirm(created.body.data.clientSecret.split('_secret_')[0], { payment_method: card });
  await h.local.idle();
  return { subscriptionId: created.body.data.subscriptionId as string, card };
}

/** A Pro subscriber on a test clock whose renewal failed on 0341: past due, with an open invoice. */
async function pastDueProUser() {
  const user = await h.auth.signUp();
  const clock = await stripe().testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) - 32 * DAY });
  const customer = await stripe().customers.create({ email: user.email, test_clock: clock.id, metadata: { userId: user.userId } });
  await h.db.query('insert into users (id, email, stripe_customer_id) values ($1, $2, $3)', [user.userId, user.email, customer.id]);
  const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId: 'pro' } });
  await stripe().paymentIntents.confirm(created.body.data.clientSecret.split('_secret_')[0], { payment_method: 'pm_card_visa' });
  await h.local.idle();
  const subscriptionId = created.body.data.subscriptionId as string;
  const firstCard = (await stripe().customers.listPaymentMethods(customer.id, { type: 'card' })).data[0]!.id;
  const failing = await attach(customer.id, 'pm_card_chargeCustomerFail');
  await stripe().subscriptions.update(subscriptionId, { default_payment_method: failing });
  await stripe().customers.update(customer.id, { invoice_settings: { default_payment_method: failing } });
  await h.local.idle();
  await advanceTestClock(h.local, clock.id);
  const pastDue = await getPastDue(h.db, actorOf(user));
  expect(pastDue).not.toBeNull();
  const firstStart = (await h.db.query<{ s: Date }>('select current_period_start as s from subscriptions where id = $1', [subscriptionId]))
    .rows[0]!.s;
  return {
    user,
    actor: actorOf(user),
    clock,
    customerId: customer.id,
    subscriptionId,
    firstCard,
    failingCard: failing,
    invoiceId: pastDue!.invoiceId,
    firstStart,
  };
}

const succeededCharges = async (customerId: string, amount: number) =>
  (await stripe().charges.list({ customer: customerId, limit: 100 })).data.filter(
    (charge) => charge.status === 'succeeded' && charge.amount === amount,
  );

const periodsStarted = async (invoiceId: string) =>
  (
    await h.db.query<{ n: number }>(
      "select count(*)::int as n from audit_log where action = 'usage_period.started' and details->>'invoice' = $1",
      [invoiceId],
    )
  ).rows[0]!.n;

/** Every counter equals its ledger: grants from credit movements, owed, and each period's usage from its tasks. */
async function expectCountersEqualLedgers(userId: string) {
  const grants = await h.db.query(
    `select g.left_micros = coalesce(sum(m.left_micros), 0) and g.frozen_micros = coalesce(sum(m.frozen_micros), 0)
              and g.refunded_micros = coalesce(sum(m.refunded_micros), 0) as ok
     from credit_grants g left join credit_movements m on m.grant_id = g.id where g.user_id = $1 group by g.id`,
    [userId],
  );
  for (const row of grants.rows) expect(row).toEqual({ ok: true });
  const owed = await h.db.query(
    `select coalesce((select owed_micros from credit_accounts where user_id = $1), 0)::text as counter,
            coalesce((select sum(owed_micros) from credit_movements where user_id = $1), 0)::text as ledger`,
    [userId],
  );
  expect(owed.rows[0]!.counter).toBe(owed.rows[0]!.ledger);
  const usage = await h.db.query<{ counter: string; ledger: string }>(
    `select u.used_micros::text as counter, coalesce(sum(e.cost_micros), 0)::text as ledger
     from user_usage u left join usage_events e on e.user_id = u.user_id and e.period_start = u.period_start
     where u.user_id = $1 group by u.period_start, u.used_micros`,
    [userId],
  );
  for (const row of usage.rows) expect(row.counter).toBe(row.ledger);
}

/** Posts a signed event to the webhook route, as Stripe would (for late or re-sent events). */
async function deliver(event: object) {
  const payload = JSON.stringify(event);
  const signature = stripe().webhooks.generateTestHeaderString({ payload, secret: TEST_WEBHOOK_SECRET });
  const response = await postWebhook(
    new Request('http://app.test/api/payments/webhook', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      body: payload,
    }),
  );
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

// ---------------------------------------------------------------------------------------------

describe("payment methods: someone else's ids and races", () => {
  it("another user's card, a removed card and a made-up id: set default, remove and pay are all not found, nothing changes", async () => {
    const a = await userWithCustomer();
    const b = await userWithCustomer();
    const aCard = await attach(a.customerId, 'pm_card_visa');
    await setDefaultPaymentMethod(h.db, a.actor, aCard);
    const bCard = await attach(b.customerId, 'pm_card_mastercard');
    await setDefaultPaymentMethod(h.db, b.actor, bCard);
    const aOld = await attach(a.customerId, 'pm_card_amex');
    await removePaymentMethod(h.db, a.actor, aOld);

    for (const id of [bCard, aOld, 'pm_card_visa', 'pm_1', '../customers/' + b.customerId]) {
      await expectAppError(setDefaultPaymentMethod(h.db, a.actor, id), 'not_found');
      await expectAppError(removePaymentMethod(h.db, a.actor, id), 'not_found');
    }
    expect((await stripe().paymentMethods.retrieve(bCard)).customer).toBe(b.customerId);
    expect(await defaults(a.customerId)).toMatchObject({ customer: aCard });
    expect(await defaults(b.customerId)).toMatchObject({ customer: bCard });
    // No past-due invoice: paying with anybody's card finds nothing owed.
    await expectAppError(payPastDueInvoice(h.db, a.actor, { invoiceId: 'in_x', paymentMethodId: bCard }), 'not_found');
  });

  it('two tabs: "Make default" and "Remove" on the same card at once leave the subscriber with a default card', async () => {
    // Found (fixed): setDefaultPaymentMethod does not take the removal's advisory lock. The
    // removal reads the default (A), then the other tab makes B the default, then the removal
    // detaches B, which clears the customer's and the subscription's default: A is left and
    // nothing pays the renewals. The removal's first detach call is held (a timeout the SDK
    // retries), which lets the "Make default" run in that gap deterministically.
    const user = await userWithCustomer();
    const { subscriptionId, card: a } = await subscribedToPro(user);
    await setDefaultPaymentMethod(h.db, user.actor, a);
    const b = await attach(user.customerId, 'pm_card_mastercard');

    h.local.local.faults.inject({ type: 'timeout', method: 'POST', path: `/v1/payment_methods/${b}/detach`, count: 1 });
    let removal: Promise<unknown>;
    try {
      removal = removePaymentMethod(h.db, user.actor, b).catch((error: unknown) => error);
      // Wait until the removal's detach is being held.
      for (let i = 0; i < 400 && h.local.local.faults.pending().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
      // The other tab's "Make default" (it may be refused if it comes after the detach).
      await setDefaultPaymentMethod(h.db, user.actor, b).catch(() => null);
      await removal;
    } finally {
      h.local.local.faults.clear();
    }
    const left = await stripe().customers.listPaymentMethods(user.customerId, { type: 'card' });
    expect(left.data.map((card) => card.id)).toEqual([a]);
    // Whatever the order, the card left pays the subscription.
    expect(await defaults(user.customerId, subscriptionId)).toEqual({ customer: a, subscription: a });
  });

  it('removing the card being used to pay a past-due invoice at the same moment: paid once or not at all, and the defaults stay cards of the customer', async () => {
    const { actor, customerId, subscriptionId, firstCard, invoiceId } = await pastDueProUser();
    const [paid, removed] = await Promise.allSettled([
      payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard }),
      removePaymentMethod(h.db, actor, firstCard),
    ]);
    if (paid.status === 'rejected') expect(paid.reason).toBeInstanceOf(AppError);
    if (removed.status === 'rejected') expect(removed.reason).toBeInstanceOf(AppError);
    await h.local.idle();
    const invoice = await stripe().invoices.retrieve(invoiceId);
    expect(await succeededCharges(customerId, 5000)).toHaveLength(invoice.status === 'paid' ? 2 : 1);
    const attached = new Set((await stripe().customers.listPaymentMethods(customerId, { type: 'card' })).data.map((card) => card.id));
    const now = await defaults(customerId, subscriptionId);
    for (const id of [now.customer, now.subscription]) if (id) expect(attached.has(id)).toBe(true);
    if (invoice.status === 'paid') {
      expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
      expect(await periodsStarted(invoiceId)).toBe(1);
    }
  });
});

describe('"Update card and pay": stale pages, double clicks, other users', () => {
  it("another user's past-due invoice cannot be paid, not with my card nor with theirs, and theirs stays open", async () => {
    const victim = await pastDueProUser();
    const attacker = await userWithCustomer();
    const mine = await attach(attacker.customerId, 'pm_card_visa');
    await expectAppError(
      payPastDueInvoice(h.db, attacker.actor, { invoiceId: victim.invoiceId, paymentMethodId: mine }),
      'not_found',
      'You have no unpaid invoice with that id. It may have been paid already.',
    );
    await expectAppError(
      payPastDueInvoice(h.db, attacker.actor, { invoiceId: victim.invoiceId, paymentMethodId: victim.firstCard }),
      'not_found',
    );
    // The victim, with the attacker's card: not theirs.
    await expectAppError(
      payPastDueInvoice(h.db, victim.actor, { invoiceId: victim.invoiceId, paymentMethodId: mine }),
      'not_found',
      'That card is not one of yours.',
    );
    expect((await stripe().invoices.retrieve(victim.invoiceId)).status).toBe('open');
    expect(await stripe().charges.list({ customer: attacker.customerId })).toMatchObject({ data: [] });
    // Nor can the attacker open it, its PDF, or read its tasks.
    await expectAppError(paymentDocumentUrl(h.db, attacker.actor, 'invoice_page', victim.invoiceId), 'not_found');
    await expectAppError(paymentDocumentUrl(h.db, attacker.actor, 'invoice_pdf', victim.invoiceId), 'not_found');
    const tasks = await api(tasksRoute, 'GET', `/api/payments/tasks?payment=${victim.invoiceId}`, { token: attacker.accessToken });
    expect(tasks.status).toBe(404);
  });

  it('two cards at once (two tabs): the invoice is charged once, both answers say paid, one new period', async () => {
    const { actor, customerId, subscriptionId, firstCard, invoiceId, firstStart } = await pastDueProUser();
    const second = await attach(customerId, 'pm_card_mastercard');
    const answers = await Promise.all([
      payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard }),
      payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: second }),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual(['paid', 'paid']);
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    await h.local.idle();
    expect(await succeededCharges(customerId, 5000)).toHaveLength(2); // the first payment + one renewal
    expect((await stripe().invoices.retrieve(invoiceId)).amount_paid).toBe(5000);
    expect(await periodsStarted(invoiceId)).toBe(1);
    const overview = await getBillingOverview(h.db, actor);
    expect(new Date(overview.periodStart).getTime()).toBeGreaterThan(firstStart.getTime());
    expect(overview).toMatchObject({ allowanceCents: 5000, usageCents: 0, remainingCents: 5000 });
  });

  it("a stale page after Stripe's own collection already paid it: no second charge, answered as paid, one period", async () => {
    const { actor, customerId, subscriptionId, firstCard, invoiceId } = await pastDueProUser();
    h.local.local.webhooks.pause();
    try {
      // Stripe collects by itself (its retry, the hosted page) before our webhook is in.
      await stripe().invoices.pay(invoiceId, { payment_method: firstCard });
      // The page still shows the invoice as owed; the user clicks.
      expect((await getPastDue(h.db, actor))?.invoiceId).toBe(invoiceId);
      expect(await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard })).toEqual({ invoiceId, status: 'paid' });
    } finally {
      h.local.local.webhooks.resume();
    }
    await h.local.idle();
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    expect(await succeededCharges(customerId, 5000)).toHaveLength(2);
    expect(await periodsStarted(invoiceId)).toBe(1);
    await expectAppError(payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard }), 'not_found');
  });

  it('a decline, then another card within the same minute: the second card is really charged (no replayed decline)', async () => {
    // The idempotency key names the card, so a decline on one card is not replayed for another.
    const { actor, failingCard, firstCard, invoiceId, subscriptionId } = await pastDueProUser();
    await expectAppError(payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: failingCard }), 'unprocessable');
    expect(await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard })).toEqual({ invoiceId, status: 'paid' });
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
  });
  it('a card that needs the bank first is refused in words; the invoice stays open and another card still pays it', async () => {
    const { actor, customerId, firstCard, invoiceId, subscriptionId } = await pastDueProUser();
    const needs3ds = await attach(customerId, 'pm_card_authenticationRequired');
    const refused = await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: needs3ds }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe('unprocessable');
    expect((await stripe().invoices.retrieve(invoiceId)).status).toBe('open');
    expect((await getPastDue(h.db, actor))?.invoiceId).toBe(invoiceId);
    expect(await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard })).toEqual({ invoiceId, status: 'paid' });
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    expect(await succeededCharges(customerId, 5000)).toHaveLength(2);
  });
});

describe('recovery webhooks: duplicated, reordered, late, and the card adopted', () => {
  it('duplicated and reordered webhooks start the new period exactly once, with one allowance; a late failure event changes nothing', async () => {
    const { user, actor, customerId, subscriptionId, firstCard, invoiceId, firstStart } = await pastDueProUser();
    await h.db.query("select * from app_private.commit_usage($1, null, 'writer', 20000, 0, 'grace-task')", [user.userId]);
    h.local.local.webhooks.setChaos({ duplicate: true, reorder: true });
    try {
      expect(await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard })).toMatchObject({ status: 'paid' });
      await h.local.idle();
    } finally {
      h.local.local.webhooks.setChaos({ duplicate: false, reorder: false });
    }
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    expect(await periodsStarted(invoiceId)).toBe(1);

    // Every invoice.paid / payment_succeeded event of it, re-sent: duplicates.
    const paidEvents = h.local.local
      .events()
      .filter((event) => ['invoice.paid', 'invoice.payment_succeeded'].includes(event.type))
      .filter((event) => (event.data.object as { id: string }).id === invoiceId);
    expect(paidEvents.length).toBeGreaterThan(0);
    for (const event of paidEvents) expect((await deliver(event)).body).toMatchObject({ outcome: 'duplicate' });

    // The failed attempt's event arriving again under a new id (late, or a second endpoint's copy).
    const failed = h.local.local.events('invoice.payment_failed').find((event) => (event.data.object as { id: string }).id === invoiceId)!;
    const late = await deliver({ ...failed, id: `evt_late_${invoiceId.slice(3)}` });
    expect(late.status).toBe(200);

    const sub = await h.db.query<{ status: string; current_period_start: Date }>(
      'select status, current_period_start from subscriptions where id = $1',
      [subscriptionId],
    );
    expect(sub.rows[0]!.status).toBe('active');
    expect(sub.rows[0]!.current_period_start.getTime()).toBeGreaterThan(firstStart.getTime());
    const invoice = await h.db.query('select status, amount_paid_cents from invoices where id = $1', [invoiceId]);
    expect(invoice.rows).toEqual([{ status: 'paid', amount_paid_cents: 5000 }]);
    expect(await getPastDue(h.db, actor)).toBeNull();
    expect(await periodsStarted(invoiceId)).toBe(1);
    // One allowance: the grace task stays in the old period; the new one is whole.
    expect(await getBillingOverview(h.db, actor)).toMatchObject({ allowanceCents: 5000, usageCents: 0, remainingCents: 5000 });
    expect(await succeededCharges(customerId, 5000)).toHaveLength(2);
  });

  it('after recovery the next renewal is charged to the card that paid, once, and starts one period', async () => {
    const { actor, clock, customerId, subscriptionId, firstCard, failingCard, invoiceId } = await pastDueProUser();
    await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard });
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    await h.local.idle();
    const periodEnd = (await stripe().subscriptions.retrieve(subscriptionId)).items.data[0]!.current_period_end;
    await advanceTestClock(h.local, clock.id, periodEnd + 3600);
    const invoices = (await stripe().invoices.list({ subscription: subscriptionId, limit: 10 })).data;
    const next = invoices.find(
      (invoice) => invoice.id !== invoiceId && invoice.billing_reason === 'subscription_cycle' && invoice.created > periodEnd - 7200,
    )!;
    expect(next.status).toBe('paid');
    expect(next.attempt_count).toBe(1);
    const paid = await stripe().invoices.retrieve(next.id, { expand: ['payments'] });
    const intent = await stripe().paymentIntents.retrieve(
      paid.payments!.data.find((p) => p.status === 'paid')!.payment.payment_intent as string,
    );
    expect(intent.payment_method).toBe(firstCard);
    expect(intent.payment_method).not.toBe(failingCard);
    expect(await periodsStarted(next.id)).toBe(1);
    expect(await getPastDue(h.db, actor)).toBeNull();
    expect(await succeededCharges(customerId, 5000)).toHaveLength(3);
  });

  it('a default chosen by the user after paying is not overwritten when the invoice.paid webhook comes late', async () => {
    // Found (fixed): adoptCardThatPaid (lib/payments/recovery.ts) makes the card that paid
    // the default whenever it is not already, with no regard to a choice the user made after the
    // payment. A delayed invoice.paid (the app was down; Stripe retries for days; an operator's
    // replay of a failed event) silently takes the user's new default away.
    const { actor, customerId, subscriptionId, firstCard, invoiceId } = await pastDueProUser();
    const chosen = await attach(customerId, 'pm_card_mastercard');
    h.local.local.webhooks.pause();
    try {
      await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard });
      // The dashboard says "payment pending"; the user goes to their cards and picks the Mastercard.
      await setDefaultPaymentMethod(h.db, actor, chosen);
      expect(await defaults(customerId, subscriptionId)).toEqual({ customer: chosen, subscription: chosen });
    } finally {
      h.local.local.webhooks.resume();
    }
    await h.local.idle();
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    expect(await defaults(customerId, subscriptionId)).toEqual({ customer: chosen, subscription: chosen });
  });

  it("adoption never picks a card that is not the customer's: the card that paid was removed before invoice.paid came", async () => {
    const { actor, customerId, subscriptionId, failingCard, firstCard, invoiceId } = await pastDueProUser();
    const spare = await attach(customerId, 'pm_card_mastercard');
    h.local.local.webhooks.pause();
    try {
      await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard });
      // Paid; the user removes that card at once (the webhook is not in yet).
      await removePaymentMethod(h.db, actor, firstCard);
    } finally {
      h.local.local.webhooks.resume();
    }
    await h.local.idle();
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    expect((await stripe().paymentMethods.retrieve(firstCard)).customer).toBeNull();
    const after = await defaults(customerId, subscriptionId);
    expect([after.customer, after.subscription]).not.toContain(firstCard);
    const attached = new Set((await stripe().customers.listPaymentMethods(customerId, { type: 'card' })).data.map((card) => card.id));
    expect([...attached].sort()).toEqual([failingCard, spare].sort());
    for (const id of [after.customer, after.subscription]) if (id) expect(attached.has(id)).toBe(true);
    expect(await periodsStarted(invoiceId)).toBe(1);
    const audit = await h.db.query("select 1 from audit_log where user_id = $1 and action = 'payment_method.default_changed'", [
      actor.userId,
    ]);
    expect(audit.rowCount).toBe(0);
  });

  it('a card from outside paying at Stripe (hosted page): whatever becomes the default is a card saved on the customer', async () => {
    const { actor, customerId, subscriptionId, invoiceId } = await pastDueProUser();
    const oneOff = await stripe().paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
    await stripe().invoices.pay(invoiceId, { payment_method: oneOff.id });
    await h.local.idle();
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    const attached = new Set((await stripe().customers.listPaymentMethods(customerId, { type: 'card' })).data.map((card) => card.id));
    const after = await defaults(customerId, subscriptionId);
    for (const id of [after.customer, after.subscription]) if (id) expect(attached.has(id)).toBe(true);
    // The list the user sees is exactly the customer's saved cards.
    expect(new Set((await listPaymentMethods(h.db, actor)).map((card) => card.id))).toEqual(attached);
    expect(await periodsStarted(invoiceId)).toBe(1);
  });

  it('a refunded and then disputed recovered renewal: recorded once each, no credit granted, no second period', async () => {
    const { user, actor, subscriptionId, firstCard, invoiceId } = await pastDueProUser();
    await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard });
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    await h.local.idle();
    const paid = await stripe().invoices.retrieve(invoiceId, { expand: ['payments'] });
    const intentId = paid.payments!.data.filter((payment) => payment.status === 'paid').at(-1)!.payment.payment_intent as string;
    const charge = (await stripe().charges.list({ payment_intent: intentId })).data.find((c) => c.status === 'succeeded')!;

    h.local.local.webhooks.setChaos({ duplicate: true, reorder: true });
    try {
      await stripe().refunds.create({ charge: charge.id, amount: 2000 });
      await h.local.idle();
      h.local.local.disputeCharge(charge.id);
      await h.local.idle();
    } finally {
      h.local.local.webhooks.setChaos({ duplicate: false, reorder: false });
    }
    const refunds = await h.db.query('select kind, amount_cents from charge_refunds where charge_id = $1', [charge.id]);
    expect(refunds.rows).toEqual([{ kind: 'subscription', amount_cents: 2000 }]);
    const disputes = await h.db.query<{ kind: string }>('select kind from disputes where charge_id = $1', [charge.id]);
    expect(disputes.rows).toEqual([{ kind: 'subscription' }]);
    const grants = await h.db.query('select count(*)::int as n from credit_grants where user_id = $1', [user.userId]);
    expect(grants.rows).toEqual([{ n: 0 }]);
    expect(await periodsStarted(invoiceId)).toBe(1);
    expect(await getBillingOverview(h.db, actor)).toMatchObject({ allowanceCents: 5000, creditsCents: 0 });
  });

  /** A past-due user who runs a task in the grace, recovers under duplicated/reordered webhooks, then runs one more. */
  async function graceThenRecovered() {
    const pastDue = await pastDueProUser();
    const { user, actor, firstCard, invoiceId, subscriptionId } = pastDue;
    await h.db.query("select * from app_private.commit_usage($1, null, 'grace-agent', 20000, 0, 'grace-1')", [user.userId]);
    h.local.local.webhooks.setChaos({ duplicate: true, reorder: true });
    try {
      await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard });
      await h.local.idle();
    } finally {
      h.local.local.webhooks.setChaos({ duplicate: false, reorder: false });
    }
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    await h.db.query("select * from app_private.commit_usage($1, null, 'new-agent', 10000, 0, 'after-1')", [user.userId]);
    return pastDue;
  }

  it('invariant: a task run in the grace counts in the old period, the new period starts whole, counters = ledgers', async () => {
    const { user, firstStart, invoiceId } = await graceThenRecovered();
    const periods = await h.db.query<{ period_start: Date; agents: string[]; used: string }>(
      `select u.period_start, array_agg(e.agent order by e.agent) as agents, u.used_micros::text as used
       from user_usage u join usage_events e on e.user_id = u.user_id and e.period_start = u.period_start
       where u.user_id = $1 group by u.period_start, u.used_micros order by 1`,
      [user.userId],
    );
    // Pro: 20,000 tokens = $10 in the grace, 10,000 = $5 after.
    expect(periods.rows.map((row) => [row.agents, row.used])).toEqual([
      [['grace-agent'], '10000000'],
      [['new-agent'], '5000000'],
    ]);
    expect(periods.rows[0]!.period_start.getTime()).toBe(firstStart.getTime());
    expect(await periodsStarted(invoiceId)).toBe(1);
    await expectCountersEqualLedgers(user.userId);
  });

  it('the receipts of a period and of the renewal invoice list the tasks counted in that period (a grace task is not moved to the next one)', async () => {
    // Found (fixed): task receipts (lib/billing/task-receipts.ts, resolveScope/windowOf)
    // scope a period and an invoice by created_at between the period's start and end. A task run
    // while past due counts in the last paid period (usage_events.period_start, used_micros), but
    // its time is after that period's end: the old period's receipt omits it ($0 against a $10
    // counter) and the recovered renewal's receipt claims it ("Tasks paid by the invoice of …",
    // $15 against a $5 counter).
    const { user, invoiceId } = await graceThenRecovered();
    const counters = await h.db.query<{ period_start: Date; used_micros: string }>(
      'select period_start, used_micros::text from user_usage where user_id = $1 order by period_start',
      [user.userId],
    );
    expect(counters.rows).toHaveLength(2);
    const seen: number[][] = [];
    for (const row of counters.rows) {
      const receipt = await api(tasksRoute, 'GET', `/api/payments/tasks?period=${encodeURIComponent(row.period_start.toISOString())}`, {
        token: user.accessToken,
      });
      expect(receipt.status).toBe(200);
      seen.push([Number(row.used_micros), receipt.body.data.totals.costMicros as number]);
    }
    const invoiceReceipt = await api(tasksRoute, 'GET', `/api/payments/tasks?payment=${invoiceId}`, { token: user.accessToken });
    expect({
      periods: seen,
      invoice: invoiceReceipt.body.data.tasks.map((task: { agent: string }) => task.agent),
    }).toEqual({
      periods: [
        [10_000_000, 10_000_000],
        [5_000_000, 5_000_000],
      ],
      invoice: ['new-agent'],
    });
  });

  it('invariant: money in at Stripe (net of refunds) = invoices paid + top-up credits granted, after a recovery and a top-up', async () => {
    const { user, actor, customerId, subscriptionId, firstCard, invoiceId } = await pastDueProUser();
    const topUp = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 12 } });
    expect(topUp.status).toBe(200);
    await stripe().paymentIntents.confirm(topUp.body.data.id, { payment_method: firstCard });
    h.local.local.webhooks.setChaos({ duplicate: true, reorder: true });
    try {
      await payPastDueInvoice(h.db, actor, { invoiceId, paymentMethodId: firstCard });
      await h.local.idle();
    } finally {
      h.local.local.webhooks.setChaos({ duplicate: false, reorder: false });
    }
    expect(await waitForRecovery(h.db, actor, subscriptionId)).toBe(true);
    const charges = (await stripe().charges.list({ customer: customerId, limit: 100 })).data.filter((c) => c.status === 'succeeded');
    const atStripe = charges.reduce((sum, c) => sum + c.amount - c.amount_refunded, 0);
    const ours = await h.db.query<{ invoices: number; credits: number }>(
      `select (select coalesce(sum(amount_paid_cents), 0)::int from invoices where user_id = $1 and status = 'paid') as invoices,
              (select coalesce(sum(amount_micros), 0)::bigint / 10000 from credit_grants where user_id = $1 and source = 'payment_intent')::int as credits`,
      [user.userId],
    );
    expect(atStripe).toBe(5000 + 5000 + 1200);
    expect(ours.rows[0]!.invoices + ours.rows[0]!.credits).toBe(atStripe);
  });
});

describe('invoice and receipt links', () => {
  it("another user's real invoice and top-up: the same not found as an id that does not exist (no existence leak)", async () => {
    const a = await userWithCustomer();
    const b = await userWithCustomer();
    await subscribedToPro(b);
    const bInvoice = (await h.db.query<{ id: string }>('select id from invoices where user_id = $1', [b.userId])).rows[0]!.id;
    const topUp = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: b.accessToken, body: { amount: 7 } });
    await stripe().paymentIntents.confirm(topUp.body.data.id, { payment_method: 'pm_card_visa' });
    await h.local.idle();
    const missing = { invoice: 'in_doesnotexist', receipt: 'pi_doesnotexist' };
    for (const document of ['invoice_page', 'invoice_pdf'] as const) {
      const theirs = await paymentDocumentUrl(h.db, a.actor, document, bInvoice).then(
        () => {
          throw new Error('expected a refusal');
        },
        (e: unknown) => e as AppError,
      );
      const none = await paymentDocumentUrl(h.db, a.actor, document, missing.invoice).then(
        () => {
          throw new Error('expected a refusal');
        },
        (e: unknown) => e as AppError,
      );
      expect([theirs.code, theirs.message]).toEqual([none.code, none.message]);
    }
    const theirs = await paymentDocumentUrl(h.db, a.actor, 'receipt', topUp.body.data.id).then(
      () => {
        throw new Error('expected a refusal');
      },
      (e: unknown) => e as AppError,
    );
    const none = await paymentDocumentUrl(h.db, a.actor, 'receipt', missing.receipt).then(
      () => {
        throw new Error('expected a refusal');
      },
      (e: unknown) => e as AppError,
    );
    expect([theirs.code, theirs.message]).toEqual([none.code, none.message]);
    // An invoice id where a receipt is asked, and the reverse, and tricks in the id.
    for (const id of [bInvoice, `${bInvoice}/../x`, `${topUp.body.data.id}?expand=customer`, ` ${bInvoice}`]) {
      await expectAppError(paymentDocumentUrl(h.db, a.actor, 'receipt', id), 'not_found');
      await expectAppError(paymentDocumentUrl(h.db, a.actor, 'invoice_page', id), 'not_found');
    }
    // B still can.
    expect(await paymentDocumentUrl(h.db, b.actor, 'invoice_pdf', bInvoice)).toMatch(/^https?:\/\//);
  });
});

describe('task receipts: crafted filters and cursors', () => {
  async function twoUsersWithTasks() {
    const a = await userWithCustomer();
    const b = await userWithCustomer();
    for (let i = 0; i < 3; i++) {
      await h.db.query("select * from app_private.commit_usage($1, null, 'a-agent', 100, 0, $2)", [a.userId, `a-${i}`]);
      await h.db.query("select * from app_private.commit_usage($1, null, 'b-secret', 100, 0, $2)", [b.userId, `b-${i}`]);
    }
    return { a, b };
  }
  const cursorOf = (at: string, id: string) => Buffer.from(`${at}|${id}`).toString('base64url');

  it("a cursor built from another user's task, their period and their agent never shows their rows", async () => {
    const { a, b } = await twoUsersWithTasks();
    const bRows = await h.db.query<{ id: string; at: string; period_start: Date }>(
      `select id, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, period_start
       from usage_events where user_id = $1 order by created_at desc`,
      [b.userId],
    );
    const bIds = new Set(bRows.rows.map((row) => row.id));
    const first = bRows.rows[0]!;
    const queries = [
      `?cursor=${cursorOf(first.at, first.id)}`,
      `?cursor=${cursorOf('9999-12-31T23:59:59.999999Z', 'ffffffff-ffff-ffff-ffff-ffffffffffff')}`,
      `?period=${encodeURIComponent(first.period_start.toISOString())}`,
      '?agent=b-secret',
      `?agent=${encodeURIComponent("b-secret' or '1'='1")}`,
    ];
    for (const search of queries) {
      const answer = await api(tasksRoute, 'GET', `/api/payments/tasks${search}`, { token: a.accessToken });
      expect(answer.status, search).toBeLessThan(500);
      if (answer.status === 200) {
        for (const task of answer.body.data.tasks as { id: string; agent: string }[]) {
          expect(bIds.has(task.id), search).toBe(false);
          expect(task.agent).toBe('a-agent');
        }
        expect(answer.body.data.agents).not.toContain('b-secret');
      }
    }
    const csv = await exportRoute(
      new Request('http://app.test/api/payments/tasks/export?agent=b-secret', {
        headers: { authorization: `Bearer ${a.accessToken}` },
      }),
    );
    const text = await csv.text();
    expect(text).not.toContain('b-secret');
    expect(text.trim().split('\r\n')).toHaveLength(1);
    // The lib functions, with B's claims but A's id (a mixed-up caller): RLS leaves nothing.
    const mixed: Actor = {
      kind: 'user',
      userId: a.userId,
      claims: { sub: b.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 600 },
    };
    expect((await listTaskReceipts(h.db, mixed, getTaskReceiptsQuerySchema.parse({}))).tasks).toEqual([]);
    const exported = await exportTaskReceiptsCsv(h.db, mixed, {});
    const lines: string[] = [];
    for await (const line of exported.lines) lines.push(line);
    expect(lines).toHaveLength(1);
  });

  it('a crafted cursor with an impossible date (Feb 30) is a 400, not a 500', async () => {
    // Found (fixed): decodeCursor (lib/billing/task-receipts.ts) checks the time with
    // Date.parse, which rolls Feb 30 over to Mar 2, so the cursor passes and PostgreSQL then
    // refuses '2026-02-30…' as a timestamptz: an unhandled error, answered 500.
    const { a } = await twoUsersWithTasks();
    const answer = await api(
      tasksRoute,
      'GET',
      `/api/payments/tasks?cursor=${cursorOf('2026-02-30T00:00:00.000000Z', '00000000-0000-0000-0000-000000000000')}`,
      {
        token: a.accessToken,
      },
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('validation_failed');
  });

  it('extreme but valid dates and cursors answer 2xx/4xx, never 5xx', async () => {
    const { a } = await twoUsersWithTasks();
    const searches = [
      '?from=0001-01-01&to=9999-12-31',
      '?from=9999-12-31',
      '?to=0001-01-01',
      `?cursor=${cursorOf('2026-01-01T24:00:00.000000Z', '00000000-0000-0000-0000-000000000000')}`,
      `?cursor=${cursorOf('0001-01-01T00:00:00.000000Z', '00000000-0000-0000-0000-000000000000')}`,
      '?period=2026-11-01T00:00:00%2B14:00',
      '?period=1970-01-01T00:00:00Z',
      '?payment=in_' + 'x'.repeat(250),
      '?payment=pi_' + 'x'.repeat(250),
    ];
    for (const search of searches) {
      const answer = await api(tasksRoute, 'GET', `/api/payments/tasks${search}`, { token: a.accessToken });
      expect(answer.status, search).toBeLessThan(500);
      if (answer.status >= 400) expect(answer.body.error?.code, search).toBeTruthy();
    }
  });
});
