import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitUsage, getUsageSnapshot, reserveUsage } from '@/lib/billing/usage';
import type { Database } from '@/lib/db';
import { backends } from '@/tests/helpers/databases';
import { subscribe } from '@/tests/helpers/subscriptions';
import { asTaskRunner, createUser } from '@/tests/helpers/users';

// The money model's SQL (issue 11): rates stored on reservations, credits as a balance of
// grants spent after the allowance, owed usage, refunds and disputes against grants. Every test
// ends by recomputing every counter from its ledger.

const TTL = 900;
const key = () => randomUUID();
const DOLLAR = 1_000_000;

/** Every counter equals its ledger: grants' left/frozen/refunded and owed from credit_movements, usage from usage_events. */
async function expectCountersEqualLedgers(db: Database, userId: string) {
  const grants = await db.query(
    `select g.id, g.left_micros = coalesce(sum(m.left_micros), 0) as left_ok,
            g.frozen_micros = coalesce(sum(m.frozen_micros), 0) as frozen_ok,
            g.refunded_micros = coalesce(sum(m.refunded_micros), 0) as refunded_ok
     from credit_grants g left join credit_movements m on m.grant_id = g.id
     where g.user_id = $1 group by g.id`,
    [userId],
  );
  for (const row of grants.rows) expect(row).toMatchObject({ left_ok: true, frozen_ok: true, refunded_ok: true });
  const owed = await db.query<{ counter: string; ledger: string }>(
    `select coalesce((select owed_micros from credit_accounts where user_id = $1), 0)::text as counter,
            coalesce((select sum(owed_micros) from credit_movements where user_id = $1), 0)::text as ledger`,
    [userId],
  );
  expect(owed.rows[0]!.counter).toBe(owed.rows[0]!.ledger);
  const usage = await db.query(
    `select u.period_start, u.used_micros::text as counter, coalesce(sum(e.cost_micros), 0)::text as ledger
     from user_usage u left join usage_events e on e.user_id = u.user_id and e.period_start = u.period_start
     where u.user_id = $1 group by u.period_start, u.used_micros`,
    [userId],
  );
  for (const row of usage.rows) expect(row.counter).toBe(row.ledger);
}

async function grant(db: Database, userId: string, dollars: number, purchasedAt = new Date()) {
  const source = `pi_${randomUUID()}`;
  await db.query('select * from app_private.grant_credit($1, $2, $3, $4, $5, $6)', [
    userId,
    dollars * DOLLAR,
    'payment_intent',
    source,
    'test',
    purchasedAt,
  ]);
  return source;
}

async function grants(db: Database, userId: string) {
  const { rows } = await db.query<{ amount: number; left: number; frozen: number }>(
    'select amount_micros as amount, left_micros as left, frozen_micros as frozen from credit_grants where user_id = $1 order by purchased_at',
    [userId],
  );
  return rows;
}

describe.each(backends())('credits and pricing on $name', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await backend.open();
  }, 60_000);
  afterAll(async () => db.close());

  const commit = (userId: string, tokens: number, reservationId?: string) =>
    commitUsage(db, asTaskRunner(userId), { reservationId, agent: 'writer', tokens, executionMs: 0, idempotencyKey: key() });

  // Issue 11, finding 4.
  it('prices a reserved task at the rates stored on its reservation: reserve on Pro, upgrade to Enterprise, commit at Pro rates', async () => {
    const user = await createUser(db);
    const pro = await subscribe(db, user.userId, 'pro');
    const onPro = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: DOLLAR, idempotencyKey: key() }, TTL);
    // The upgrade: the subscription's plan changes mid-period, and the next reserve brings the
    // period row in step with it.
    await db.query("update subscriptions set plan_id = 'enterprise' where id = $1", [pro.id]);
    const onEnterprise = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: DOLLAR, idempotencyKey: key() }, TTL);
    expect(await commit(user.userId, 1_000, onPro.reservationId!)).toMatchObject({ costMicros: 500_000, planId: 'pro' });
    expect(await commit(user.userId, 1_000, onEnterprise.reservationId!)).toMatchObject({ costMicros: 200_000, planId: 'enterprise' });
    expect(await commit(user.userId, 1_000)).toMatchObject({ costMicros: 200_000, planId: 'enterprise' });
    const { rows } = await db.query('select plan_id, token_rate_micros from usage_events where user_id = $1 order by created_at', [
      user.userId,
    ]);
    expect(rows).toEqual([
      { plan_id: 'pro', token_rate_micros: 500 },
      { plan_id: 'enterprise', token_rate_micros: 200 },
      { plan_id: 'enterprise', token_rate_micros: 200 },
    ]);
    await expectCountersEqualLedgers(db, user.userId);
  });

  // Issue 11, finding 5: a top-up bought the day before renewal was gone after it.
  it('keeps a top-up across a renewal, a plan change and calendar months until it is spent', async () => {
    const user = await createUser(db);
    const day = 86_400_000;
    const first = await subscribe(db, user.userId, 'pro', new Date(Date.now() - 29 * day));
    await grant(db, user.userId, 20);
    expect(await getUsageSnapshot(db, user)).toMatchObject({ creditsMicros: 20 * DOLLAR, remainingMicros: 70 * DOLLAR });
    // Renewal: the next period starts (as start_paid_period moves it).
    await db.query('update subscriptions set current_period_start = $2, current_period_end = $3 where id = $1', [
      first.id,
      first.periodEnd,
      new Date(first.periodEnd.getTime() + 30 * day),
    ]);
    await db.query("update subscriptions set current_period_start = now() - interval '1 hour' where id = $1", [first.id]);
    expect(await getUsageSnapshot(db, user)).toMatchObject({ usedMicros: 0, creditsMicros: 20 * DOLLAR, remainingMicros: 70 * DOLLAR });
    // A plan change keeps it too; cancelling (back to Starter's calendar month) as well.
    await db.query("update subscriptions set plan_id = 'enterprise' where id = $1", [first.id]);
    expect((await getUsageSnapshot(db, user)).creditsMicros).toBe(20 * DOLLAR);
    await db.query("update subscriptions set status = 'canceled' where id = $1", [first.id]);
    expect(await getUsageSnapshot(db, user)).toMatchObject({ planId: 'starter', creditsMicros: 20 * DOLLAR, remainingMicros: 30 * DOLLAR });
    await expectCountersEqualLedgers(db, user.userId);
  });

  it('spends the allowance first, then credits oldest grant first, then records what is owed, and a new grant pays it first', async () => {
    const user = await createUser(db); // Starter: $10 allowance, $0.001 a token
    const older = await grant(db, user.userId, 3, new Date(Date.now() - 60 * 86_400_000));
    await grant(db, user.userId, 5);
    await commit(user.userId, 9_000); // $9: allowance only
    expect(await grants(db, user.userId)).toEqual([
      { amount: 3 * DOLLAR, left: 3 * DOLLAR, frozen: 0 },
      { amount: 5 * DOLLAR, left: 5 * DOLLAR, frozen: 0 },
    ]);
    await commit(user.userId, 2_000); // $2: $1 of allowance, $1 from the older grant
    expect((await grants(db, user.userId)).map((g) => g.left)).toEqual([2 * DOLLAR, 5 * DOLLAR]);
    await commit(user.userId, 4_000); // $4: $2 older (now empty), $2 newer
    expect((await grants(db, user.userId)).map((g) => g.left)).toEqual([0, 3 * DOLLAR]);
    // A commit without a reservation, beyond everything: $3 from credits, $2 owed.
    await commit(user.userId, 5_000);
    expect(await getUsageSnapshot(db, user)).toMatchObject({
      usedMicros: 20 * DOLLAR,
      creditsMicros: 0,
      owedMicros: 2 * DOLLAR,
      remainingMicros: -2 * DOLLAR,
    });
    // The owed amount stops reservations, and a new grant pays it first.
    expect((await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 1, idempotencyKey: key() }, TTL)).allowed).toBe(false);
    await grant(db, user.userId, 5);
    expect(await getUsageSnapshot(db, user)).toMatchObject({ creditsMicros: 3 * DOLLAR, owedMicros: 0, remainingMicros: 3 * DOLLAR });
    const { rows } = await db.query(
      "select kind, left_micros, owed_micros from credit_movements where user_id = $1 and kind in ('usage_owed', 'owed_paid') order by id",
      [user.userId],
    );
    expect(rows).toEqual([
      { kind: 'usage_owed', left_micros: 0, owed_micros: 2 * DOLLAR },
      { kind: 'owed_paid', left_micros: -2 * DOLLAR, owed_micros: -2 * DOLLAR },
    ]);
    expect(older).toMatch(/^pi_/);
    await expectCountersEqualLedgers(db, user.userId);
  });

  it('records a late commit of a lapsed hold beyond everything as owed, never forgiven', async () => {
    const user = await createUser(db);
    const hold = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 10 * DOLLAR, idempotencyKey: key() }, TTL);
    await db.query("update usage_reservations set expires_at = now() - interval '1 second' where id = $1", [hold.reservationId]);
    await commit(user.userId, 10_000); // the allowance, spent by another task meanwhile
    await commit(user.userId, 12_000, hold.reservationId!); // the lapsed task reports $12
    expect(await getUsageSnapshot(db, user)).toMatchObject({
      usedMicros: 22 * DOLLAR,
      owedMicros: 12 * DOLLAR,
      remainingMicros: -12 * DOLLAR,
    });
    await expectCountersEqualLedgers(db, user.userId);
  });

  it('expires a grant 12 months after the purchase: what is left can no longer be spent', async () => {
    const user = await createUser(db);
    const thirteenMonthsAgo = new Date(Date.now() - 396 * 86_400_000);
    await grant(db, user.userId, 7, thirteenMonthsAgo);
    await grant(db, user.userId, 4, new Date(Date.now() - 300 * 86_400_000));
    expect((await getUsageSnapshot(db, user)).creditsMicros).toBe(4 * DOLLAR);
    const { rows } = await db.query(
      "select bool_and(expires_at = purchased_at + interval '12 months') as twelve_months from credit_grants where user_id = $1",
      [user.userId],
    );
    expect(rows[0]).toEqual({ twelve_months: true });
    await commit(user.userId, 12_000); // $2 beyond the allowance: from the unexpired grant
    expect((await grants(db, user.userId)).map((g) => g.left)).toEqual([7 * DOLLAR, 2 * DOLLAR]);
    await expectCountersEqualLedgers(db, user.userId);
  });

  it('refuses to change a grant other than through its counters, and keeps movements append-only', async () => {
    const user = await createUser(db);
    await grant(db, user.userId, 5);
    await expect(db.query('update credit_grants set amount_micros = 1 where user_id = $1', [user.userId])).rejects.toMatchObject({
      code: '42501',
    });
    await expect(db.query('delete from credit_grants where user_id = $1', [user.userId])).rejects.toMatchObject({ code: '42501' });
    await expect(db.query('delete from credit_movements where user_id = $1', [user.userId])).rejects.toMatchObject({ code: '42501' });
  });

  describe('refunds and disputes of a top-up', () => {
    const refund = (intent: string, userId: string, totalCents: number, charge = `ch_${intent}`) =>
      db.query('select * from app_private.record_charge_refund($1, $2, $3, $4, $5, $6, $7)', [
        charge,
        intent,
        userId,
        null,
        totalCents,
        'usd',
        'test',
      ]);
    const dispute = (id: string, intent: string, userId: string, cents: number, status: 'open' | 'won' | 'lost') =>
      db.query('select * from app_private.record_dispute($1, $2, $3, $4, $5, $6, $7, $8, now(), $9)', [
        id,
        `ch_${intent}`,
        intent,
        userId,
        null,
        cents,
        'usd',
        status,
        'test',
      ]);
    // Each top-up bought a millisecond after the one before: credits are spent oldest first, and
    // PGlite's clock moves in milliseconds, so two top-ups settled back to back could tie (their
    // order then falls to their random ids).
    let settled = 0;
    const settle = (intent: string, userId: string, cents: number) =>
      db.query("select app_private.settle_top_up($1, $2, null, $3, $3, now() + make_interval(secs => $4 / 1000.0), 'test')", [
        intent,
        userId,
        cents,
        ++settled,
      ]);

    it('takes a partial then a full refund out of what is left, the spent part becoming owed; repeats change nothing', async () => {
      const user = await createUser(db);
      const intent = `pi_${randomUUID()}`;
      await settle(intent, user.userId, 2_000); // $20
      await commit(user.userId, 10_000); // allowance
      await commit(user.userId, 8_000); // $8 of the grant spent, $12 left
      expect((await refund(intent, user.userId, 500)).rows).toEqual([
        { user_id: user.userId, kind: 'usage_topup', refunded_cents: 500, taken_micros: 5 * DOLLAR, owed_micros: 0 },
      ]);
      expect((await refund(intent, user.userId, 500)).rows).toEqual([]); // the same event again
      expect((await refund(intent, user.userId, 300)).rows).toEqual([]); // an older total, late
      await refund(intent, user.userId, 2_000); // the rest: $7 left to take, $8 was spent
      expect(await getUsageSnapshot(db, user)).toMatchObject({ creditsMicros: 0, owedMicros: 8 * DOLLAR });
      expect(await grants(db, user.userId)).toEqual([{ amount: 20 * DOLLAR, left: 0, frozen: 0 }]);
      await expectCountersEqualLedgers(db, user.userId);
    });

    it('applies a refund that arrives before the payment succeeded event when the payment is credited', async () => {
      const user = await createUser(db);
      const intent = `pi_${randomUUID()}`;
      expect((await refund(intent, user.userId, 1_500)).rows).toMatchObject([{ refunded_cents: 1_500, taken_micros: 0 }]);
      await settle(intent, user.userId, 2_000);
      await settle(intent, user.userId, 2_000); // duplicate
      expect(await grants(db, user.userId)).toEqual([{ amount: 20 * DOLLAR, left: 5 * DOLLAR, frozen: 0 }]);
      await expectCountersEqualLedgers(db, user.userId);
    });

    it('freezes a disputed amount, releases it when won, and takes it back (owed for what was spent) when lost', async () => {
      const user = await createUser(db);
      const won = `pi_${randomUUID()}`;
      const lost = `pi_${randomUUID()}`;
      await settle(won, user.userId, 1_000);
      await settle(lost, user.userId, 3_000);
      await dispute(`du_${won}`, won, user.userId, 1_000, 'open');
      await dispute(`du_${won}`, won, user.userId, 1_000, 'open'); // duplicate
      expect((await getUsageSnapshot(db, user)).creditsMicros).toBe(30 * DOLLAR);
      await dispute(`du_${won}`, won, user.userId, 1_000, 'won');
      expect((await getUsageSnapshot(db, user)).creditsMicros).toBe(40 * DOLLAR);
      await dispute(`du_${won}`, won, user.userId, 1_000, 'open'); // stale: a won dispute never reopens
      expect((await getUsageSnapshot(db, user)).creditsMicros).toBe(40 * DOLLAR);

      await commit(user.userId, 25_000); // $15 beyond the allowance: $10 from `won`, $5 from `lost`
      await dispute(`du_${lost}`, lost, user.userId, 3_000, 'open'); // freezes the $25 left of it
      expect(await getUsageSnapshot(db, user)).toMatchObject({ creditsMicros: 0, owedMicros: 0 });
      await dispute(`du_${lost}`, lost, user.userId, 3_000, 'lost');
      await dispute(`du_${lost}`, lost, user.userId, 3_000, 'lost'); // duplicate
      expect(await getUsageSnapshot(db, user)).toMatchObject({ creditsMicros: 0, owedMicros: 5 * DOLLAR });
      expect(await grants(db, user.userId)).toEqual([
        { amount: 10 * DOLLAR, left: 0, frozen: 0 },
        { amount: 30 * DOLLAR, left: 0, frozen: 0 },
      ]);
      await expectCountersEqualLedgers(db, user.userId);
    });

    it('ends the same when a dispute is closed before it was seen opened, or before the payment succeeded', async () => {
      const user = await createUser(db);
      const a = `pi_${randomUUID()}`;
      const b = `pi_${randomUUID()}`;
      await settle(a, user.userId, 1_000);
      await dispute(`du_${a}`, a, user.userId, 1_000, 'lost'); // closed first
      await dispute(`du_${a}`, a, user.userId, 1_000, 'open'); // the opening, late
      await dispute(`du_${b}`, b, user.userId, 400, 'open'); // before b's success
      await settle(b, user.userId, 1_000);
      expect(await grants(db, user.userId)).toEqual([
        { amount: 10 * DOLLAR, left: 0, frozen: 0 },
        { amount: 10 * DOLLAR, left: 10 * DOLLAR, frozen: 4 * DOLLAR },
      ]);
      expect(await getUsageSnapshot(db, user)).toMatchObject({ creditsMicros: 6 * DOLLAR, owedMicros: 0 });
      await expectCountersEqualLedgers(db, user.userId);
    });

    it('never credits a top-up in another currency, and flags it for operators', async () => {
      const user = await createUser(db);
      const intent = `pi_${randomUUID()}`;
      await db.query("select app_private.settle_top_up($1, $2, null, 2000, 2000, now(), 'test', 'eur')", [intent, user.userId]);
      expect(await grants(db, user.userId)).toEqual([]);
      const { rows } = await db.query('select status, currency, flag from payment_attempts where payment_intent_id = $1', [intent]);
      expect(rows).toEqual([{ status: 'succeeded', currency: 'eur', flag: 'currency_not_usd' }]);
    });
  });
});
