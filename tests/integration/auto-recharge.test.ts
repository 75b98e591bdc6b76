import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '@/lib/http/errors';
import { cancelAutoRecharge, chargeAutoRecharge, getAutoRecharge, getRechargeForConfirmation } from '@/lib/payments/auto-recharge';
import { reconcile } from '@/lib/payments/reconcile';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { autoRechargeKit, type AutoRechargeTestUser } from '@/tests/helpers/auto-recharge';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { GET as getSettings, PUT as putSettings } from '@/app/api/payments/auto-recharge/route';
import { POST as checkUsageLimit } from '@/app/api/payments/check-usage-limit/route';
import { POST as events } from '@/pages/api/usage/events';
import { POST as reserve } from '@/pages/api/usage/reserve';

// Auto-recharge (issue 14, point 4) through the app's routes, the local Stripe over the real SDK
// and its signed webhooks, on PostgreSQL 15: one recharge per crossing under concurrent commits,
// the monthly cap, three declines, a card that needs the user, someone else's ids, a crash
// between a commit and its charge. Starter: $10 allowance, $0.001 a token, so 1,000 tokens = $1.

const h = paymentsHarness();
const RUNNER_KEY = 'tr_auto_recharge_test_key_01';
const { runner, newUser, defaultCard, settings, turnOn, commitTask, recharges, intentsAtStripe, remainingCents } = autoRechargeKit(
  h,
  RUNNER_KEY,
);
type TestUser = AutoRechargeTestUser;

beforeAll(() => {
  process.env.TASK_RUNNER_API_KEY = RUNNER_KEY;
});

async function creditedCents(user: TestUser): Promise<number> {
  const { rows } = await h.db.query<{ cents: number }>(
    "select coalesce(sum(amount_micros), 0)::bigint / 10000 as cents from credit_grants where user_id = $1 and source = 'payment_intent'",
    [user.userId],
  );
  return Number(rows[0]?.cents ?? 0);
}

async function notifications(user: TestUser) {
  const { rows } = await h.db.query<{ kind: string; data: Record<string, unknown> }>(
    "select kind, data from notifications where user_id = $1 and kind like 'auto_recharge%' order by created_at",
    [user.userId],
  );
  return rows;
}

describe('auto-recharge settings', () => {
  it('needs a default card to turn on, and refuses bad amounts with 400 and nothing saved', async () => {
    const user = await newUser();
    const noCard = await settings(user, { enabled: true, threshold: 5, amount: 20, monthlyCap: 100 });
    expect(noCard.status).toBe(422);
    expect(noCard.body.error?.message).toMatch(/Add a card/);

    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ enabled: true, threshold: 5, amount: 0.49, monthlyCap: 100 }, /amount must be between 0.5/],
      [{ enabled: true, threshold: 5, amount: 20, monthlyCap: 10 }, /monthlyCap must be at least/],
      [{ enabled: true, threshold: -1, amount: 20, monthlyCap: 100 }, /threshold must be between/],
      [{ enabled: true, threshold: 5, amount: '1e3', monthlyCap: 100 }, /amount must be a number/],
      [{ enabled: true, threshold: 5, amount: 20.001, monthlyCap: 100 }, /at most 2 decimal/],
      [{ enabled: 'yes', threshold: 5, amount: 20, monthlyCap: 100 }, /enabled must be true or false/],
      [{ enabled: true, threshold: 5, amount: 20, monthlyCap: 100, cardId: 'pm_card_visa' }, /cardId/],
    ];
    await defaultCard(user, 'pm_card_visa');
    for (const [body, message] of bad) {
      const answer = await settings(user, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error?.message).toMatch(message);
    }
    // Naming another user is refused outright.
    const forSomeoneElse = await settings(user, { enabled: true, threshold: 5, amount: 20, monthlyCap: 100, userId: randomUUID() });
    expect(forSomeoneElse.status).toBe(403);
    expect((await h.db.query('select 1 from auto_recharge_settings where user_id = $1', [user.userId])).rowCount).toBe(0);

    // The task runner cannot turn it on for a user.
    const asRunner = await api(putSettings, 'PUT', '/api/payments/auto-recharge', {
      ...runner,
      body: { enabled: true, threshold: 5, amount: 20, monthlyCap: 100 },
    });
    expect(asRunner.status).toBe(401);

    expect(await turnOn(user, 5, 20, 100)).toEqual({
      enabled: true,
      thresholdCents: 500,
      amountCents: 2000,
      monthlyCapCents: 10000,
      thisMonthCents: 0,
      declinesInARow: 0,
      disabledReason: null,
      openRecharge: null,
    });
  });

  it('cannot be written by the user straight through RLS, nor can recharges', async () => {
    const user = await newUser();
    const attempt = (sql: string) =>
      h.db.userTransaction(user.actor.kind === 'user' ? user.actor.claims : (null as never), (tx) => tx.query(sql, [user.userId]));
    await expect(
      attempt(
        'insert into auto_recharge_settings (user_id, enabled, threshold_cents, amount_cents, monthly_cap_cents) values ($1, true, 0, 50, 50)',
      ),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(
      attempt("insert into auto_recharges (user_id, amount_cents, cap_month) values ($1, 50, '2026-12-01')"),
    ).rejects.toMatchObject({
      code: '42501',
    });
  });
});

describe('auto-recharge', () => {
  it('starts one recharge when a commit takes the balance below the threshold, charges the default card off-session, and credits it through the top-up webhook', async () => {
    const user = await newUser();
    const card = await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 1, 5, 50);

    const above = await commitTask(user, 8); // $2 left: above $1
    expect(above.body.data).toMatchObject({ rechargePending: false });
    expect(await recharges(user)).toEqual([]);

    const crossing = await commitTask(user, 1.5); // $0.50 left
    expect(crossing.status).toBe(200);
    expect(crossing.body.data).toMatchObject({ duplicate: false, rechargePending: true });
    expect(crossing.body.data).not.toHaveProperty('dueRechargeId');
    await h.local.idle();

    const [recharge] = await recharges(user);
    expect(recharge).toMatchObject({ status: 'succeeded', amount_cents: 500 });
    const [intent] = await intentsAtStripe(user);
    expect(intent).toMatchObject({
      id: recharge!.payment_intent_id,
      amount: 500,
      status: 'succeeded',
      payment_method: card,
      metadata: { userId: user.userId, purpose: 'usage_topup', autoRechargeId: recharge!.id },
    });
    expect(await creditedCents(user)).toBe(500);
    expect(await remainingCents(user)).toBe(550);
    expect((await notifications(user)).map((n) => n.kind)).toEqual(['auto_recharge_succeeded']);
    // The top-up history shows it like any paid top-up.
    const { rows } = await h.db.query('select status, amount_cents from payment_attempts where payment_intent_id = $1', [intent!.id]);
    expect(rows).toEqual([{ status: 'succeeded', amount_cents: 500 }]);

    // A retried commit of the crossing task starts nothing more.
    const key = randomUUID();
    await commitTask(user, 0.1, key);
    await commitTask(user, 0.1, key);
    await h.local.idle();
    expect(await recharges(user)).toHaveLength(1);
  });

  it('starts exactly one recharge for a crossing under 20 concurrent commits and under concurrent batches', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 3, 50, 500);
    const answers = await Promise.all(Array.from({ length: 20 }, () => commitTask(user, 0.45))); // $9 in all: crosses $3 once
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    await h.local.idle();
    expect(await recharges(user)).toEqual([expect.objectContaining({ status: 'succeeded', amount_cents: 5000 })]);
    expect(await intentsAtStripe(user)).toHaveLength(1);

    const batched = await newUser();
    await defaultCard(batched, 'pm_card_visa');
    await turnOn(batched, 3, 50, 500);
    const batch = () =>
      api(events, 'POST', '/api/usage/events', {
        ...runner,
        body: {
          events: Array.from({ length: 10 }, () => ({
            userId: batched.userId,
            agent: 'batch',
            tokens: 450,
            executionMs: 0,
            idempotencyKey: randomUUID(),
          })),
        },
      });
    const batches = await Promise.all([batch(), batch(), commitTask(batched, 0.45), commitTask(batched, 0.45)]);
    expect(batches.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    await h.local.idle();
    expect(await recharges(batched)).toEqual([expect.objectContaining({ status: 'succeeded', amount_cents: 5000 })]);
    expect(await intentsAtStripe(batched)).toHaveLength(1);
    expect(await creditedCents(batched)).toBe(5000);
  });

  it('never passes the monthly cap, and says so once', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    // Below $100 always: every commit would want one; $5 each, at most $12 a month.
    await turnOn(user, 100, 5, 12);
    for (let i = 0; i < 5; i++) {
      await commitTask(user, 0.5);
      await h.local.idle();
    }
    expect((await recharges(user)).map((r) => [r.status, r.amount_cents])).toEqual([
      ['succeeded', 500],
      ['succeeded', 500],
    ]);
    expect(await creditedCents(user)).toBe(1000);
    expect((await notifications(user)).map((n) => n.kind)).toEqual([
      'auto_recharge_succeeded',
      'auto_recharge_succeeded',
      'auto_recharge_cap',
    ]);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ thisMonthCents: 1000, monthlyCapCents: 1200, enabled: true });
  });

  it('turns itself off after three declines in a row and tells the user; a success in between resets the count', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_chargeCustomerFail');
    await turnOn(user, 100, 5, 100);
    await commitTask(user, 0.1);
    await commitTask(user, 0.1);
    await h.local.idle();
    expect((await recharges(user)).map((r) => [r.status, r.failure_code])).toEqual([
      ['failed', 'generic_decline'],
      ['failed', 'generic_decline'],
    ]);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: true, declinesInARow: 2 });

    // A working card: the next one succeeds and the count starts again.
    await defaultCard(user, 'pm_card_visa');
    await commitTask(user, 0.1);
    await h.local.idle();
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: true, declinesInARow: 0 });

    await defaultCard(user, 'pm_card_chargeCustomerFail');
    for (let i = 0; i < 5; i++) {
      await commitTask(user, 0.1);
      await h.local.idle();
    }
    const all = await recharges(user);
    expect(all.map((r) => r.status)).toEqual(['failed', 'failed', 'succeeded', 'failed', 'failed', 'failed']);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: false, disabledReason: 'declined', declinesInARow: 3 });
    expect((await notifications(user)).map((n) => n.kind)).toEqual([
      'auto_recharge_failed',
      'auto_recharge_failed',
      'auto_recharge_succeeded',
      'auto_recharge_failed',
      'auto_recharge_failed',
      'auto_recharge_disabled',
    ]);
    // Only the one success took money.
    const charged = (await intentsAtStripe(user)).filter((intent) => intent.status === 'succeeded');
    expect(charged.map((intent) => intent.amount)).toEqual([500]);
    expect(await creditedCents(user)).toBe(500);

    // Turning it on again (after updating the card) clears the count.
    await defaultCard(user, 'pm_card_visa');
    expect(await turnOn(user, 100, 5, 100)).toMatchObject({ enabled: true, declinesInARow: 0, disabledReason: null });
  });

  it('waits for the user when the bank asks for authentication: the runner is told it is pending, the user confirms, the credit lands', async () => {
    const user = await newUser();
    const card = await defaultCard(user, 'pm_card_authenticationRequired');
    await turnOn(user, 2, 5, 100);
    const crossing = await commitTask(user, 9);
    expect(crossing.body.data).toMatchObject({ rechargePending: true });
    await h.local.idle();
    const [recharge] = await recharges(user);
    expect(recharge).toMatchObject({ status: 'requires_action', failure_code: 'authentication_required' });
    expect(await notifications(user)).toEqual([
      expect.objectContaining({
        kind: 'auto_recharge_action_required',
        data: expect.objectContaining({ retryUrl: `/billing/auto-recharge/${recharge!.id}` }),
      }),
    ]);

    // The runner sees it on check and reserve; no second recharge starts meanwhile.
    const reserved = await api(reserve, 'POST', '/api/usage/reserve', {
      ...runner,
      body: { userId: user.userId, estimatedCost: 5, idempotencyKey: randomUUID() },
    });
    expect(reserved.body.data).toMatchObject({ allowed: false, rechargePending: true });
    const checked = await api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', {
      ...runner,
      body: { userId: user.userId, estimatedCost: 5 },
    });
    // The held-back recharge covers the shortfall: its own intent is handed back to pay.
    expect(checked.body.data).toMatchObject({
      allowed: false,
      rechargePending: true,
      rechargeStatus: 'requires_action',
      requiresPayment: true,
    });
    expect(checked.body.data.paymentIntent.id).toBe(recharge!.payment_intent_id);
    await commitTask(user, 0.5);
    expect(await recharges(user)).toHaveLength(1);

    // The user confirms on-session with the same card and passes the bank's challenge.
    const confirmation = await getRechargeForConfirmation(h.db, user.actor, recharge!.id);
    expect(confirmation).toMatchObject({ state: 'payable', paymentMethodId: card, amountCents: 500 });
    const intentId = recharge!.payment_intent_id!;
    const confirmed = await stripe().paymentIntents.confirm(intentId, { payment_method: card });
    expect(confirmed.status).toBe('requires_action');
    h.local.local.completeAuthentication(intentId, 'succeed');
    await h.local.idle();
    expect((await recharges(user))[0]).toMatchObject({ status: 'succeeded' });
    expect(await creditedCents(user)).toBe(500);
    expect(await getRechargeForConfirmation(h.db, user.actor, recharge!.id)).toMatchObject({ state: 'paid' });
  });

  it('keeps other users out of a recharge, and lets its owner cancel one the bank held back', async () => {
    const owner = await newUser();
    const other = await newUser();
    await defaultCard(owner, 'pm_card_authenticationRequired');
    await turnOn(owner, 2, 5, 100);
    await commitTask(owner, 9);
    await h.local.idle();
    const [recharge] = await recharges(owner);

    const refused = async (work: Promise<unknown>) => {
      const error = await work.then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(isAppError(error) && error.code).toBe('not_found');
    };
    await refused(getRechargeForConfirmation(h.db, other.actor, recharge!.id));
    await refused(cancelAutoRecharge(h.db, other.actor, recharge!.id));
    await refused(getRechargeForConfirmation(h.db, other.actor, randomUUID()));
    expect((await recharges(owner))[0]).toMatchObject({ status: 'requires_action' });
    expect((await api(getSettings, 'GET', '/api/payments/auto-recharge', { token: other.accessToken })).body).toEqual({ data: null });

    await cancelAutoRecharge(h.db, owner.actor, recharge!.id);
    await h.local.idle();
    expect((await recharges(owner))[0]).toMatchObject({ status: 'canceled' });
    expect((await stripe().paymentIntents.retrieve(recharge!.payment_intent_id!)).status).toBe('canceled');
    expect(await creditedCents(owner)).toBe(0);
    // Cancelling pauses auto-recharge, so the next task below the threshold does not ask the bank
    // again; turning it on again does.
    expect(await getAutoRecharge(h.db, owner.actor)).toMatchObject({ enabled: false, disabledReason: 'canceled' });
    await commitTask(owner, 0.1);
    expect(await recharges(owner)).toHaveLength(1);
    await turnOn(owner, 2, 5, 100);
    await commitTask(owner, 0.1);
    expect(await recharges(owner)).toHaveLength(2);
  });

  it('charges a recharge left pending by a crash once, whether two workers, a retry after a crash or reconcile get there', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 1, 5, 100);
    // The server stopped after the commit that started a recharge, before charging it.
    const leftPending = async () =>
      (
        await h.db.query<{ id: string }>(
          `insert into auto_recharges (user_id, amount_cents, cap_month, created_at)
           values ($1, 500, date_trunc('month', now() at time zone 'UTC')::date, now() - interval '5 minutes') returning id`,
          [user.userId],
        )
      ).rows[0]!.id;

    // Two workers at once: one takes the lease, the other finds nothing to do.
    const first = await leftPending();
    const both = await Promise.all([chargeAutoRecharge(h.db, first), chargeAutoRecharge(h.db, first)]);
    expect(both.filter((status) => status === 'processing')).toHaveLength(1);
    expect(both.filter((status) => status === null)).toHaveLength(1);
    await h.local.idle();

    // Stripe charged, then the server stopped before the database heard (and the webhook is
    // late): the retry after the lease sends the same idempotency key and gets the same intent.
    h.local.local.webhooks.pause();
    const second = await leftPending();
    expect(await chargeAutoRecharge(h.db, second)).toBe('processing');
    await h.db.query("update auto_recharges set status = 'pending', claimed_at = now() - interval '2 minutes' where id = $1", [second]);
    expect(await chargeAutoRecharge(h.db, second)).toBe('processing');
    h.local.local.webhooks.resume();
    await h.local.idle();

    // Never charged at all: reconcile charges it.
    const third = await leftPending();
    expect((await reconcile(h.db, new Date(Date.now() - 3_600_000))).rechargesCharged).toBe(1);
    await h.local.idle();

    expect((await intentsAtStripe(user)).map((intent) => intent.metadata.autoRechargeId).sort()).toEqual([first, second, third].sort());
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(await creditedCents(user)).toBe(1500);

    // Turned off before the crashed one was charged: it is dropped, not charged.
    const fourth = await leftPending();
    await settings(user, { enabled: false, threshold: 1, amount: 5, monthlyCap: 100 });
    expect(await chargeAutoRecharge(h.db, fourth)).toBe('canceled');
    expect(await intentsAtStripe(user)).toHaveLength(3);
  });

  it('turns itself off at once when the default card is gone', async () => {
    const user = await newUser();
    const card = await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 100, 5, 100);
    await stripe().paymentMethods.detach(card);
    await commitTask(user, 0.1);
    expect((await recharges(user)).map((r) => [r.status, r.failure_code])).toEqual([['failed', 'no_card']]);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: false, disabledReason: 'no_card' });
    expect((await notifications(user)).map((n) => n.kind)).toEqual(['auto_recharge_disabled']);

    // A retried attempt whose card was detached after the first try: Stripe refuses the request,
    // which counts as a failed attempt rather than staying pending for ever.
    const second = await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 100, 5, 100);
    const { rows } = await h.db.query<{ id: string }>(
      `insert into auto_recharges (user_id, amount_cents, cap_month, payment_method_id)
       values ($1, 500, date_trunc('month', now() at time zone 'UTC')::date, $2) returning id`,
      [user.userId, second],
    );
    await stripe().paymentMethods.detach(second);
    expect(await chargeAutoRecharge(h.db, rows[0]!.id)).toBe('failed');
    expect(await intentsAtStripe(user)).toHaveLength(0);
  });
});
