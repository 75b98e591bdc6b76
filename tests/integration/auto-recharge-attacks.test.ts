import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '@/lib/http/errors';
import { cancelAutoRecharge, chargeAutoRecharge, getAutoRecharge, getRechargeForConfirmation } from '@/lib/payments/auto-recharge';
import { reconcile } from '@/lib/payments/reconcile';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { autoRechargeKit, type AutoRechargeTestUser } from '@/tests/helpers/auto-recharge';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { GET as getSettings, PUT as putSettings } from '@/app/api/payments/auto-recharge/route';
import { POST as checkUsageLimit } from '@/app/api/payments/check-usage-limit/route';
import { POST as createPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as events } from '@/pages/api/usage/events';
import { POST as reserve } from '@/pages/api/usage/reserve';

// Red-team tests of auto-recharge (issue 14, point 4): what an attacker, a careless user, a flaky
// network or a late webhook would try first. Real PostgreSQL, the local Stripe through the SDK
// with its signed webhooks, route handlers in-process. Starter: $10 allowance, $0.001 a token,
// so 1,000 tokens = $1. Tests whose comment starts FOUND showed a bug when written (now fixed).

const h = paymentsHarness();
const RUNNER_KEY = 'tr_auto_recharge_attacks_key_1';
const { runner, newUser, defaultCard, settings, turnOn, commitTask, recharges, intentsAtStripe, remainingCents } = autoRechargeKit(
  h,
  RUNNER_KEY,
);
type TestUser = AutoRechargeTestUser;

beforeAll(() => {
  process.env.TASK_RUNNER_API_KEY = RUNNER_KEY;
});

// Whatever a test did to the local Stripe's delivery, the next one starts clean.
afterEach(async () => {
  h.local.local.faults.clear();
  h.local.local.webhooks.setChaos({ duplicate: false, reorder: false });
  h.local.local.webhooks.resume();
  await h.local.idle();
});

const batchOf = (user: TestUser, count: number, dollars: number) =>
  api(events, 'POST', '/api/usage/events', {
    ...runner,
    body: {
      events: Array.from({ length: count }, () => ({
        userId: user.userId,
        agent: 'batch',
        tokens: Math.round(dollars * 1000),
        executionMs: 0,
        idempotencyKey: randomUUID(),
      })),
    },
  });

const check = (user: TestUser, estimatedCost: number) =>
  api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', { ...runner, body: { userId: user.userId, estimatedCost } });

/** What Stripe charged the user and kept: succeeded charges, net of refunds and lost disputes. */
async function netChargedAtStripe(user: TestUser): Promise<number> {
  let net = 0;
  for await (const charge of stripe().charges.list({ customer: user.customerId, limit: 100 })) {
    if (charge.status !== 'succeeded') continue;
    let lost = 0;
    if (charge.disputed)
      for await (const dispute of stripe().disputes.list({ charge: charge.id })) if (dispute.status === 'lost') lost += dispute.amount;
    net += charge.amount - charge.amount_refunded - lost;
  }
  return net;
}

/** Credits granted from payments, net of what refunds and lost disputes took back, in cents. */
async function netCreditedCents(user: TestUser): Promise<number> {
  const { rows } = await h.db.query<{ micros: string }>(
    'select coalesce(sum(amount_micros - refunded_micros), 0)::text as micros from credit_grants where user_id = $1',
    [user.userId],
  );
  return Number(rows[0]!.micros) / 10_000;
}

async function expectMoneyConserved(user: TestUser) {
  await h.local.idle();
  expect(await netCreditedCents(user)).toBe(await netChargedAtStripe(user));
}

async function notificationKinds(user: TestUser): Promise<string[]> {
  const { rows } = await h.db.query<{ kind: string }>(
    "select kind from notifications where user_id = $1 and kind like 'auto_recharge%' order by created_at, kind",
    [user.userId],
  );
  return rows.map((row) => row.kind);
}

/** Pretends the lease on a recharge (and its start) is older than a minute, as after a crash. */
const leaseExpired = (rechargeId: string) =>
  h.db.query(
    "update auto_recharges set claimed_at = now() - interval '2 minutes', created_at = now() - interval '3 minutes' where id = $1",
    [rechargeId],
  );

/** The charge call reaches Stripe and is done, but both answers (the SDK retries once) are lost. */
const loseChargeAnswers = () =>
  h.local.local.faults.inject({ type: 'timeout', afterProcessing: true, method: 'POST', path: '/v1/payment_intents', count: 2 });

async function errorOf(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => null,
    (caught: unknown) => caught,
  );
}

/** A user whose card needs the bank's challenge, with one recharge held back (requires_action). */
async function heldBackRecharge() {
  const user = await newUser();
  const card = await defaultCard(user, 'pm_card_authenticationRequired');
  await turnOn(user, 2, 5, 100);
  await commitTask(user, 9); // $1 left: below $2
  await h.local.idle();
  const [recharge] = await recharges(user);
  expect(recharge).toMatchObject({ status: 'requires_action' });
  return { user, card, recharge: recharge!, intentId: recharge!.payment_intent_id! };
}

describe('double charges: one crossing, one charge', () => {
  it('a commit while the recharge is charged but not yet credited starts nothing more; the credit then lands once', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 3, 5, 100);
    h.local.local.webhooks.pause();
    const crossing = await commitTask(user, 8); // $2 left
    expect(crossing.body.data).toMatchObject({ rechargePending: true });
    expect((await recharges(user)).map((r) => r.status)).toEqual(['processing']);
    // The balance is still below $3 while the credit is on its way: commits, batches and checks
    // all see the recharge pending and none starts a second one.
    const [single, batch] = await Promise.all([commitTask(user, 0.5), batchOf(user, 5, 0.1)]);
    expect(single.body.data).toMatchObject({ rechargePending: true });
    expect(batch.status).toBe(200);
    expect((await check(user, 5)).body.data).toMatchObject({ allowed: false, requiresPayment: false, rechargeStatus: 'processing' });
    expect(await recharges(user)).toHaveLength(1);
    h.local.local.webhooks.resume();
    await h.local.idle();
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded']);
    expect(await intentsAtStripe(user)).toHaveLength(1);
    expect(await remainingCents(user)).toBe(600); // $10 - $8 - $0.50 - 5 x $0.10 + $5
    await expectMoneyConserved(user);
  });

  it('webhooks duplicated and reordered credit a recharge exactly once', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 3, 5, 100);
    h.local.local.webhooks.setChaos({ duplicate: true, reorder: true });
    await Promise.all([commitTask(user, 8), commitTask(user, 0.5), batchOf(user, 3, 0.1)]);
    await h.local.idle();
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded']);
    expect(await intentsAtStripe(user)).toHaveLength(1);
    expect(await netCreditedCents(user)).toBe(500);
    expect(await notificationKinds(user)).toEqual(['auto_recharge_succeeded']);
    await expectMoneyConserved(user);
  });

  it('a lost success webhook: reconcile credits it once, commits meanwhile start nothing, the late delivery changes nothing', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 3, 5, 100);
    const since = new Date(Date.now() - 60_000);
    h.local.local.webhooks.pause(); // the app is down: every delivery waits
    await commitTask(user, 8);
    await commitTask(user, 0.5);
    expect((await recharges(user)).map((r) => r.status)).toEqual(['processing']);

    const report = await reconcile(h.db, since);
    expect(report.eventsFailed).toBe(0);
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded']);
    expect(await netCreditedCents(user)).toBe(500);

    h.local.local.webhooks.resume(); // the deliveries arrive after all
    await h.local.idle();
    expect(await netCreditedCents(user)).toBe(500);
    expect(await intentsAtStripe(user)).toHaveLength(1);
    expect(await notificationKinds(user)).toEqual(['auto_recharge_succeeded']);
    await expectMoneyConserved(user);
  });

  it('the charge answer lost: the webhook records the success, the retry after the lease charges nothing more', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 3, 5, 100);
    loseChargeAnswers();
    const crossing = await commitTask(user, 8);
    expect(crossing.status).toBe(200);
    await h.local.idle();
    const [recharge] = await recharges(user);
    // Stripe charged; the webhook told us, though the answer never came back.
    expect(recharge).toMatchObject({ status: 'succeeded' });
    await leaseExpired(recharge!.id);
    expect(await chargeAutoRecharge(h.db, recharge!.id)).toBeNull();
    await commitTask(user, 0.1); // $6.90 left: above $3
    await h.local.idle();
    expect(await recharges(user)).toHaveLength(1);
    expect(await intentsAtStripe(user)).toHaveLength(1);
    await expectMoneyConserved(user);
  });

  it('the charge answer and the webhook both lost: the next commit after the lease retries under the same key, Stripe charges once', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 3, 5, 100);
    h.local.local.webhooks.pause();
    loseChargeAnswers();
    await commitTask(user, 8);
    const [recharge] = await recharges(user);
    expect(recharge).toMatchObject({ status: 'pending', payment_intent_id: null });
    // Within the lease, another commit leaves it to the attempt that holds it.
    await commitTask(user, 0.1);
    expect((await recharges(user)).map((r) => r.status)).toEqual(['pending']);
    await leaseExpired(recharge!.id);
    const retry = await commitTask(user, 0.1);
    expect(retry.body.data).toMatchObject({ rechargePending: true });
    expect((await recharges(user)).map((r) => r.status)).toEqual(['processing']);
    h.local.local.webhooks.resume();
    await h.local.idle();
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded']);
    expect(await intentsAtStripe(user)).toHaveLength(1);
    expect(await netCreditedCents(user)).toBe(500);
    await expectMoneyConserved(user);
  });

  it('two concurrent batches and two single commits on both sides of the crossing start one recharge', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 4, 5, 100);
    await commitTask(user, 5); // $5 left
    const answers = await Promise.all([batchOf(user, 4, 0.25), batchOf(user, 4, 0.25), commitTask(user, 0.3), commitTask(user, 0.3)]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    await h.local.idle();
    // $2.60 spent: $2.40 left (below $4) then +$5 = $7.40, above: exactly one recharge.
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded']);
    expect(await intentsAtStripe(user)).toHaveLength(1);
    expect(await remainingCents(user)).toBe(740);
    await expectMoneyConserved(user);
  });
});

describe('declines', () => {
  it('a decline told only by the webhook (the answer lost) counts once; three of them turn auto-recharge off', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_chargeCustomerFail');
    await turnOn(user, 100, 5, 100);
    for (let i = 0; i < 3; i++) {
      loseChargeAnswers();
      await commitTask(user, 0.1);
      await h.local.idle();
      const last = (await recharges(user)).at(-1)!;
      expect(last).toMatchObject({ status: 'failed', failure_code: 'generic_decline' });
      // The attempt that lost its answer, retried after the lease, finds nothing to do.
      await leaseExpired(last.id);
      expect(await chargeAutoRecharge(h.db, last.id)).toBeNull();
      expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ declinesInARow: i + 1 });
    }
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: false, disabledReason: 'declined', declinesInARow: 3 });
    await commitTask(user, 0.1);
    expect(await recharges(user)).toHaveLength(3);
    expect(await notificationKinds(user)).toEqual(['auto_recharge_failed', 'auto_recharge_failed', 'auto_recharge_disabled']);
    await expectMoneyConserved(user);
  });

  it('a manual top-up that succeeds between declines neither resets the count nor is taken for a recharge', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_chargeCustomerFail');
    await turnOn(user, 100, 7, 100);
    await commitTask(user, 0.1);
    await h.local.idle();
    // The user pays a top-up by hand with another card (a different amount from the recharge).
    const topUp = await api(createPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 12 } });
    expect(topUp.status).toBe(200);
    await stripe().paymentIntents.confirm(topUp.body.data.id, { payment_method: 'pm_card_visa' });
    await h.local.idle();
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ declinesInARow: 1, enabled: true });
    expect((await recharges(user)).map((r) => r.status)).toEqual(['failed']);
    await expectMoneyConserved(user);
  });

  // FOUND (fixed): a declined recharge leaves its PaymentIntent payable at Stripe (requires_payment_method)
  // and its payment_attempts row 'failed', which reusableIntent (lib/payments/payment-intents.ts)
  // hands back for any later top-up of the same amount. The user's hand-made top-up then pays the
  // *recharge's* intent: the webhook marks the failed recharge succeeded, says "Auto-recharge
  // added $5 ... with your default card, as you asked", labels the payment "Auto-recharge" in the
  // history, resets the decline count, and counts it against the monthly cap, which the month's
  // recharges then pass (here $10 against a $5 cap).
  it('a manual top-up never pays a declined recharge intent, so the monthly cap and the history stay right', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_chargeCustomerFail');
    await turnOn(user, 100, 5, 5);
    await commitTask(user, 0.1);
    await h.local.idle();
    const [declined] = await recharges(user);
    expect(declined).toMatchObject({ status: 'failed' });

    // A working card: the next commit's recharge fills this month's cap.
    await defaultCard(user, 'pm_card_visa');
    await commitTask(user, 0.1);
    await h.local.idle();
    expect((await recharges(user)).map((r) => r.status)).toEqual(['failed', 'succeeded']);

    // The user tops up $5 by hand from the dashboard.
    const topUp = await api(createPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 5 } });
    expect(topUp.status).toBe(200);
    const paidByHand = topUp.body.data.id as string;
    await stripe().paymentIntents.confirm(paidByHand, { payment_method: 'pm_card_visa' });
    await h.local.idle();
    await expectMoneyConserved(user);

    expect(paidByHand).not.toBe(declined!.payment_intent_id);
    expect((await recharges(user)).map((r) => r.status)).toEqual(['failed', 'succeeded']);
    const answer = await getAutoRecharge(h.db, user.actor);
    expect(answer!.thisMonthCents).toBeLessThanOrEqual(answer!.monthlyCapCents);
  });

  // FOUND (fixed): setAutoRecharge (lib/payments/auto-recharge.ts) resets declines_in_a_row whenever the
  // saved settings say enabled (`case when excluded.enabled then 0`), not only when the user turns
  // it back on after it turned itself off. Editing the threshold, the amount or the cap while it
  // is on wipes the count, so a card that keeps declining is charged 4, 5, ... times in a row
  // without auto-recharge ever turning itself off.
  it('editing the amounts while it is on does not wipe the count of declines in a row', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_chargeCustomerFail');
    await turnOn(user, 100, 5, 100);
    for (let i = 0; i < 2; i++) {
      await commitTask(user, 0.1);
      await h.local.idle();
    }
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: true, declinesInARow: 2 });
    await turnOn(user, 90, 5, 100); // the user only lowers the threshold
    await commitTask(user, 0.1);
    await h.local.idle();
    expect((await recharges(user)).map((r) => r.status)).toEqual(['failed', 'failed', 'failed']);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: false, disabledReason: 'declined', declinesInARow: 3 });
  });

  it('turning it back on with the same declining card is allowed and starts counting again from zero', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_chargeCustomerFail');
    await turnOn(user, 100, 5, 100);
    for (let i = 0; i < 3; i++) {
      await commitTask(user, 0.1);
      await h.local.idle();
    }
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: false, disabledReason: 'declined' });
    expect(await turnOn(user, 100, 5, 100)).toMatchObject({ enabled: true, declinesInARow: 0, disabledReason: null });
    await commitTask(user, 0.1);
    await h.local.idle();
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: true, declinesInARow: 1 });
    expect((await intentsAtStripe(user)).filter((intent) => intent.status === 'succeeded')).toEqual([]);
    await expectMoneyConserved(user);
  });
});

describe('the monthly cap', () => {
  // FOUND (fixed): chargeAutoRecharge (lib/payments/auto-recharge.ts) re-checks only `enabled` before
  // charging a recharge left pending by a crash; it never re-checks the cap (or the amount) in
  // force. A user who lowers the cap meanwhile is charged past it by the next commit or by
  // reconcile: here $10 in a month whose cap is now $5.
  it('a recharge left pending by a crash is not charged past a cap the user lowered meanwhile', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 100, 5, 10);
    await commitTask(user, 0.1); // $5 recharge, succeeded
    await h.local.idle();
    // The next crossing's recharge is started, then the server stops before charging it.
    await h.db.query(
      `insert into auto_recharges (user_id, amount_cents, cap_month, created_at)
       values ($1, 500, date_trunc('month', now() at time zone 'UTC')::date, now() - interval '5 minutes')`,
      [user.userId],
    );
    // The user lowers the cap to one recharge a month.
    await turnOn(user, 100, 5, 5);
    await reconcile(h.db, new Date(Date.now() - 3_600_000));
    await h.local.idle();
    const answer = await getAutoRecharge(h.db, user.actor);
    const charged = (await intentsAtStripe(user)).filter((intent) => intent.status === 'succeeded');
    expect(charged.reduce((sum, intent) => sum + intent.amount, 0)).toBeLessThanOrEqual(answer!.monthlyCapCents);
    expect(answer!.thisMonthCents).toBeLessThanOrEqual(answer!.monthlyCapCents);
  });

  it('raising the amount while a recharge is open: the open one keeps its amount, the next is refused when it would pass the cap', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 3, 5, 12);
    h.local.local.webhooks.pause();
    await commitTask(user, 8); // $2 left, a $5 recharge charged
    await turnOn(user, 100, 10, 12); // now: below $100 add $10, at most $12
    h.local.local.webhooks.resume();
    await h.local.idle();
    expect((await recharges(user)).map((r) => [r.status, r.amount_cents])).toEqual([['succeeded', 500]]);
    await commitTask(user, 0.1); // $5 + $10 would pass $12
    await h.local.idle();
    expect(await recharges(user)).toHaveLength(1);
    expect(await notificationKinds(user)).toEqual(['auto_recharge_succeeded', 'auto_recharge_cap']);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ thisMonthCents: 500, monthlyCapCents: 1200 });
    await expectMoneyConserved(user);
  });

  it('a cap lowered below what this month already charged stops further recharges until next month', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 100, 5, 20);
    await commitTask(user, 0.1);
    await h.local.idle();
    await commitTask(user, 0.1);
    await h.local.idle();
    expect(await recharges(user)).toHaveLength(2);
    await turnOn(user, 100, 5, 5);
    await commitTask(user, 0.1);
    await h.local.idle();
    expect(await recharges(user)).toHaveLength(2);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ thisMonthCents: 1000, monthlyCapCents: 500 });
  });

  it('the month boundary: last month’s recharges do not count, but last month’s held-back recharge still blocks a new one', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 100, 5, 5);
    const lastMonth = "(date_trunc('month', now() at time zone 'UTC') - interval '1 month')::date";
    await h.db.query(
      `insert into auto_recharges (user_id, amount_cents, cap_month, status, created_at)
       values ($1, 500, ${lastMonth}, 'requires_action', now() - interval '40 days')`,
      [user.userId],
    );
    await commitTask(user, 0.1);
    await h.local.idle();
    expect(await recharges(user)).toHaveLength(1); // one open at a time, whatever its month
    await h.db.query("update auto_recharges set status = 'succeeded' where user_id = $1", [user.userId]);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ thisMonthCents: 0 });
    await commitTask(user, 0.1);
    await h.local.idle();
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ thisMonthCents: 500 });
  });

  it('a refunded recharge: its credit is taken back, it still counts against the cap, and money agrees with Stripe', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 3, 5, 10);
    await commitTask(user, 8); // $2 left, +$5
    await h.local.idle();
    const [first] = await recharges(user);
    await stripe().refunds.create({ payment_intent: first!.payment_intent_id! });
    await h.local.idle();
    expect(await remainingCents(user)).toBe(200);
    await expectMoneyConserved(user);

    await commitTask(user, 0.1); // $1.90: a second recharge (this month: $5 + $5 = cap)
    await h.local.idle();
    const second = (await recharges(user))[1]!;
    expect(second).toMatchObject({ status: 'succeeded' });
    await stripe().refunds.create({ payment_intent: second.payment_intent_id!, amount: 200 });
    await h.local.idle();
    await expectMoneyConserved(user);

    // The cap counts what auto-recharge charged, refunded or not: no third charge this month.
    await commitTask(user, 5);
    await h.local.idle();
    expect(await recharges(user)).toHaveLength(2);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ thisMonthCents: 1000 });
    expect(await notificationKinds(user)).toContain('auto_recharge_cap');
    await expectMoneyConserved(user);
  });

  // Found as a design question: a card whose holder disputed every charge kept being charged
  // off-session, one recharge per crossing, up to the month's cap, each dispute with a fee. Now
  // the first dispute of a recharge's payment turns auto-recharge off and tells the user.
  it('a disputed recharge turns auto-recharge off: no second charge to that card; money agrees with Stripe', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_createDispute');
    await turnOn(user, 3, 5, 15);
    await commitTask(user, 8);
    await h.local.idle();
    for (let i = 0; i < 4; i++) {
      await commitTask(user, 0.1);
      await h.local.idle();
    }
    const all = await recharges(user);
    expect(all.map((r) => [r.status, r.amount_cents])).toEqual([['succeeded', 500]]);
    expect(await getAutoRecharge(h.db, user.actor)).toMatchObject({ enabled: false, disabledReason: 'disputed', thisMonthCents: 500 });
    expect(await notificationKinds(user)).toContain('auto_recharge_disabled');
    for (const dispute of (await stripe().disputes.list({ limit: 100 })).data) {
      if (all.some((r) => r.payment_intent_id === dispute.payment_intent) && dispute.status !== 'lost')
        await stripe().disputes.close(dispute.id);
    }
    await h.local.idle();
    await expectMoneyConserved(user);
  });
});

describe('someone else’s ids', () => {
  it('the settings are read as the caller only: the task runner is refused, a userId in the query or body changes nothing', async () => {
    const victim = await newUser();
    const attacker = await newUser();
    await defaultCard(victim, 'pm_card_visa');
    await turnOn(victim, 5, 20, 100);

    const asRunner = await api(getSettings, 'GET', `/api/payments/auto-recharge?userId=${victim.userId}`, runner);
    expect(asRunner.status).toBe(401);
    const viaQuery = await api(getSettings, 'GET', `/api/payments/auto-recharge?userId=${victim.userId}`, { token: attacker.accessToken });
    // Naming anyone in the query is refused outright (unknown field), whoever it is.
    expect(viaQuery.status).toBe(400);
    expect(viaQuery.body.error?.code).toBe('validation_failed');
    expect(JSON.stringify(viaQuery.body)).not.toContain('thresholdCents');
    expect((await api(getSettings, 'GET', '/api/payments/auto-recharge', { token: attacker.accessToken })).body).toEqual({ data: null });

    // Turning the victim's off (or raising their cap) by naming them.
    const put = await settings(attacker, { enabled: false, threshold: 0, amount: 10000, monthlyCap: 100000, userId: victim.userId });
    expect(put.status).toBe(403);
    const asRunnerPut = await api(putSettings, 'PUT', '/api/payments/auto-recharge', {
      ...runner,
      body: { userId: victim.userId, enabled: false, threshold: 0, amount: 50, monthlyCap: 50 },
    });
    expect(asRunnerPut.status).toBe(401);
    expect(await getAutoRecharge(h.db, victim.actor)).toMatchObject({ enabled: true, thresholdCents: 500, monthlyCapCents: 10000 });
  });

  it('another user can neither read, cancel nor be handed a held-back recharge’s payment', async () => {
    const { user: owner, recharge, intentId } = await heldBackRecharge();
    const attacker = await newUser();

    for (const work of [
      () => getRechargeForConfirmation(h.db, attacker.actor, recharge.id),
      () => cancelAutoRecharge(h.db, attacker.actor, recharge.id),
      // The task runner acting for the attacker is still the attacker.
      () => getRechargeForConfirmation(h.db, { kind: 'task-runner', userId: attacker.userId, claims: null }, recharge.id),
    ]) {
      const error = await errorOf(work());
      expect(isAppError(error) && error.code).toBe('not_found');
    }

    // The limit check names the owner with the attacker's token: refused, no client secret leaks.
    const named = await api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', {
      token: attacker.accessToken,
      body: { userId: owner.userId, estimatedCost: 5 },
    });
    expect(named.status).toBe(403);
    expect(JSON.stringify(named.body)).not.toContain(intentId);
    // The attacker's own check hands them a payment of their own, never the owner's recharge.
    const own = await api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', {
      token: attacker.accessToken,
      body: { estimatedCost: 50 },
    });
    expect(own.status).toBe(200);
    expect(own.body.data.paymentIntent.id).not.toBe(intentId);
    // Nor does the attacker's own top-up of the same amount reuse it.
    const topUp = await api(createPaymentIntent, 'POST', '/api/payments/payment-intent', {
      token: attacker.accessToken,
      body: { amount: 5 },
    });
    expect(topUp.body.data.id).not.toBe(intentId);

    expect((await recharges(owner)).map((r) => r.status)).toEqual(['requires_action']);
    expect((await stripe().paymentIntents.retrieve(intentId)).status).toBe('requires_payment_method');
  });
});

describe('stale pages', () => {
  it('cancel after the user confirmed in another tab: refused, the payment stands and is credited once', async () => {
    const { user, card, recharge, intentId } = await heldBackRecharge();
    h.local.local.webhooks.pause(); // the database has not heard of the payment yet
    expect((await stripe().paymentIntents.confirm(intentId, { payment_method: card })).status).toBe('requires_action');
    h.local.local.completeAuthentication(intentId, 'succeed');
    const error = await errorOf(cancelAutoRecharge(h.db, user.actor, recharge.id));
    expect(isAppError(error) && error.code).toBe('conflict');
    h.local.local.webhooks.resume();
    await h.local.idle();
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded']);
    expect(await netCreditedCents(user)).toBe(500);
    await expectMoneyConserved(user);
  });

  it('cancel while the bank’s challenge is open in another tab: the challenge can no longer pay it', async () => {
    const { user, card, recharge, intentId } = await heldBackRecharge();
    expect((await stripe().paymentIntents.confirm(intentId, { payment_method: card })).status).toBe('requires_action');
    await cancelAutoRecharge(h.db, user.actor, recharge.id);
    expect(() => h.local.local.completeAuthentication(intentId, 'succeed')).toThrow();
    await h.local.idle();
    expect((await stripe().paymentIntents.retrieve(intentId)).status).toBe('canceled');
    expect((await recharges(user)).map((r) => r.status)).toEqual(['canceled']);
    expect(await netCreditedCents(user)).toBe(0);
    await expectMoneyConserved(user);
  });

  it('confirm after cancel (a stale confirmation page) charges nothing; the page says it was cancelled', async () => {
    const { user, card, recharge, intentId } = await heldBackRecharge();
    await cancelAutoRecharge(h.db, user.actor, recharge.id);
    const error = await errorOf(stripe().paymentIntents.confirm(intentId, { payment_method: card }));
    expect(error).toBeTruthy();
    await h.local.idle();
    expect(await getRechargeForConfirmation(h.db, user.actor, recharge.id)).toMatchObject({ state: 'canceled' });
    expect(await netChargedAtStripe(user)).toBe(0);
    // Cancelling again from the same stale page is a conflict, not an error page.
    const again = await errorOf(cancelAutoRecharge(h.db, user.actor, recharge.id));
    expect(isAppError(again) && again.code).toBe('conflict');
  });

  it('a double click on cancel cancels once and never fails with a server error', async () => {
    const { user, recharge, intentId } = await heldBackRecharge();
    const outcomes = await Promise.allSettled([
      cancelAutoRecharge(h.db, user.actor, recharge.id),
      cancelAutoRecharge(h.db, user.actor, recharge.id),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') expect(isAppError(outcome.reason) && outcome.reason.code).toBe('conflict');
    }
    await h.local.idle();
    expect((await recharges(user)).map((r) => r.status)).toEqual(['canceled']);
    expect((await stripe().paymentIntents.retrieve(intentId)).status).toBe('canceled');
  });

  it('a double click on save: both answers agree and the saved settings are one of the two, never a mix', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    const a = { enabled: true, threshold: 5, amount: 20, monthlyCap: 100 };
    const b = { enabled: false, threshold: 7, amount: 30, monthlyCap: 300 };
    const answers = await Promise.all([settings(user, a), settings(user, b), settings(user, a)]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    const saved = await getAutoRecharge(h.db, user.actor);
    const shapes = [
      { enabled: true, thresholdCents: 500, amountCents: 2000, monthlyCapCents: 10000 },
      { enabled: false, thresholdCents: 700, amountCents: 3000, monthlyCapCents: 30000 },
    ];
    expect(shapes).toContainEqual({
      enabled: saved!.enabled,
      thresholdCents: saved!.thresholdCents,
      amountCents: saved!.amountCents,
      monthlyCapCents: saved!.monthlyCapCents,
    });
  });
});

describe('the task runner’s answers', () => {
  // FOUND (fixed): a recharge whose charge failed for a passing reason (Stripe 5xx or unreachable) stays
  // 'pending'. Only a commit (start_auto_recharge) or `npm run reconcile` retries it; but a user
  // out of balance gets no commits: check-usage-limit answers { allowed: false, requiresPayment:
  // false, rechargePending: true } and reserve refuses, for ever ("ask again shortly"), and no
  // payment is offered. lib/payments/usage-payment.ts checkUsageLimitOrRequestPayment treats any
  // 'pending' recharge as on its way, even one whose lease expired and that nobody is charging.
  it('a recharge stuck pending after a Stripe outage does not leave the user unable to run or pay', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_visa');
    await turnOn(user, 3, 5, 100);
    h.local.local.faults.inject({ type: '500', method: 'POST', path: '/v1/payment_intents', count: 10 });
    const crossing = await commitTask(user, 9.5); // $0.50 left
    expect(crossing.status).toBe(200);
    h.local.local.faults.clear(); // Stripe is back
    const [recharge] = await recharges(user);
    expect(recharge).toMatchObject({ status: 'pending' });
    await leaseExpired(recharge!.id);

    // The runner asks before each task, as told, a few times.
    let answer = (await check(user, 2)).body.data;
    for (let i = 0; i < 3 && !answer.allowed && !answer.requiresPayment; i++) {
      await h.local.idle();
      answer = (await check(user, 2)).body.data;
    }
    const reserved = await api(reserve, 'POST', '/api/usage/reserve', {
      ...runner,
      body: { userId: user.userId, estimatedCost: 2, idempotencyKey: randomUUID() },
    });
    // Either the recharge was charged and the task fits, or the user is asked to pay.
    expect(answer.allowed || answer.requiresPayment || reserved.body.data.allowed).toBe(true);
  });

  it('check-usage-limit hands back the held-back recharge’s own intent, and paying it settles the recharge once', async () => {
    const { user, card, recharge, intentId } = await heldBackRecharge();
    const first = (await check(user, 3)).body.data;
    const second = (await check(user, 3.5)).body.data;
    expect(first).toMatchObject({ allowed: false, requiresPayment: true, rechargeStatus: 'requires_action' });
    expect([first.paymentIntent.id, second.paymentIntent.id]).toEqual([intentId, intentId]);
    // The user pays what the runner showed them (on-session, passing the challenge).
    await stripe().paymentIntents.confirm(intentId, { payment_method: card });
    h.local.local.completeAuthentication(intentId, 'succeed');
    await h.local.idle();
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded']);
    expect(await getRechargeForConfirmation(h.db, user.actor, recharge.id)).toMatchObject({ state: 'paid' });
    const after = (await check(user, 3)).body.data;
    expect(after).toMatchObject({ allowed: true, requiresPayment: false, rechargePending: false, paymentIntent: null });
    await expectMoneyConserved(user);
  });

  it('a shortfall larger than the held-back recharge gets a separate payment; paying both credits both, once each', async () => {
    const { user, card, intentId } = await heldBackRecharge();
    const big = (await check(user, 20)).body.data;
    expect(big).toMatchObject({ allowed: false, requiresPayment: true, rechargePending: true });
    expect(big.paymentIntent.id).not.toBe(intentId);
    expect(big.paymentIntent.amountCents).toBe(1900);
    await stripe().paymentIntents.confirm(big.paymentIntent.id, { payment_method: 'pm_card_visa' });
    await stripe().paymentIntents.confirm(intentId, { payment_method: card });
    h.local.local.completeAuthentication(intentId, 'succeed');
    await h.local.idle();
    expect(await netCreditedCents(user)).toBe(2400);
    expect((await recharges(user)).map((r) => r.status)).toEqual(['succeeded']);
    await expectMoneyConserved(user);
  });

  it('rechargePending is false when nothing is on its way: off, declined at once, or above the threshold', async () => {
    const user = await newUser();
    await defaultCard(user, 'pm_card_chargeCustomerFail');
    await turnOn(user, 3, 5, 100);
    expect((await commitTask(user, 1)).body.data).toMatchObject({ rechargePending: false }); // $9 left
    expect((await commitTask(user, 8)).body.data).toMatchObject({ rechargePending: false }); // declined at once
    await h.local.idle();
    expect((await check(user, 5)).body.data).toMatchObject({ rechargePending: false, rechargeStatus: null, requiresPayment: true });
    await settings(user, { enabled: false, threshold: 3, amount: 5, monthlyCap: 100 });
    expect((await commitTask(user, 0.1)).body.data).toMatchObject({ rechargePending: false });
    expect(await recharges(user)).toHaveLength(1);
  });
});
