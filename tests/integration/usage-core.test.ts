import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskCostMicros } from '@/lib/billing/cost';
import { PLANS } from '@/lib/billing/plans';
import { checkUsageLimit, commitUsage, getUsageSnapshot, releaseUsage, reserveUsage } from '@/lib/billing/usage';
import type { Database } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { backends } from '@/tests/helpers/databases';
import { subscribe } from '@/tests/helpers/subscriptions';
import { asTaskRunner, createUser } from '@/tests/helpers/users';

const TTL = 900;
const key = () => randomUUID();

async function ledgerTotals(db: Database, userId: string) {
  const { rows } = await db.query<{ used: number; events: number; counted: number; credits: number; granted: number }>(
    `select
       coalesce((select sum(used_micros) from user_usage where user_id = $1), 0)::bigint as used,
       coalesce((select sum(cost_micros) from usage_events where user_id = $1), 0)::bigint as events,
       (select count(*) from usage_events where user_id = $1)::bigint as counted,
       coalesce((select sum(left_micros) from credit_grants where user_id = $1), 0)::bigint as credits,
       coalesce((select sum(amount_micros) from credit_grants where user_id = $1), 0)::bigint as granted`,
    [userId],
  );
  return rows[0]!;
}

describe.each(backends())('usage core on $name', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await backend.open();
  }, 60_000);
  afterAll(async () => db.close());

  it('charges exactly $5.00 for 10,000 one-token tasks on Pro', async () => {
    const user = await createUser(db);
    await subscribe(db, user.userId, 'pro');
    const commits = Array.from({ length: 10_000 }, (_, i) =>
      commitUsage(db, asTaskRunner(user.userId), { agent: 'writer', tokens: 1, executionMs: 0, idempotencyKey: `task-${i}` }),
    );
    const results = await Promise.all(commits);
    expect(results.every((result) => result.costMicros === 500 && result.planId === 'pro')).toBe(true);
    const snapshot = await getUsageSnapshot(db, user);
    expect(snapshot.usedMicros).toBe(5_000_000);
    expect(snapshot.usageCents).toBe(500);
    expect(snapshot.remainingMicros).toBe(45_000_000);
    const totals = await ledgerTotals(db, user.userId);
    expect(totals).toMatchObject({ used: 5_000_000, events: 5_000_000, counted: 10_000 });
  }, 120_000);

  it.each([
    // The specification's rates: [plan, tokens, execution ms, expected micro-dollars]
    ['starter', 1_000, 0, 1_000_000], // 1,000 tokens x $0.001 = $1.00
    ['starter', 0, 60_000, 100_000], // one minute at $0.10
    ['pro', 2_000, 120_000, 1_100_000], // 2,000 x $0.0005 + 2 min x $0.05 = $1.10
    ['enterprise', 1_000_000, 30_000, 200_010_000], // $200 + half a minute at $0.02
    ['starter', 0, 1, 2], // 1 ms = 1.67 micro-dollars, rounded half up
    ['pro', 0, 1, 1], // 0.83 -> 1
    ['enterprise', 0, 1, 0], // 0.33 -> 0
  ] as const)('prices %s: %i tokens, %i ms = %i micro-dollars', async (planId, tokens, executionMs, expected) => {
    const user = await createUser(db);
    if (planId !== 'starter') await subscribe(db, user.userId, planId);
    const committed = await commitUsage(db, asTaskRunner(user.userId), { agent: 'a', tokens, executionMs, idempotencyKey: key() });
    expect(committed.costMicros).toBe(expected);
    expect(taskCostMicros(PLANS[planId], tokens, executionMs)).toBe(expected);
    const { rows } = await db.query('select plan_id, token_rate_micros, minute_rate_micros from usage_events where id = $1', [
      committed.eventId,
    ]);
    expect(rows[0]).toEqual({
      plan_id: planId,
      token_rate_micros: PLANS[planId].tokenRateMicros,
      minute_rate_micros: PLANS[planId].minuteRateMicros,
    });
  });

  it('lets 64 concurrent reservations against a small allowance never overspend', async () => {
    const user = await createUser(db);
    const amount = 370_000; // $0.37: 27 fit in Starter's $10, the 28th would overspend
    const attempts = await Promise.all(
      Array.from({ length: 64 }, () => reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: amount, idempotencyKey: key() }, TTL)),
    );
    const granted = attempts.filter((attempt) => attempt.allowed);
    expect(granted).toHaveLength(27);
    expect(attempts.filter((attempt) => !attempt.allowed).every((attempt) => attempt.reservationId === null)).toBe(true);
    const snapshot = await getUsageSnapshot(db, user);
    expect(snapshot.reservedMicros).toBe(27 * amount);
    expect(snapshot.remainingMicros).toBe(10_000_000 - 27 * amount);
    expect(snapshot.remainingMicros).toBeGreaterThanOrEqual(0);
    const refused = attempts.find((attempt) => !attempt.allowed);
    expect(refused?.shortfallMicros).toBe(amount - Number(snapshot.remainingMicros));
  });

  it('counts the same commit sent 10 times once, even concurrently', async () => {
    const user = await createUser(db);
    const reservation = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 50_000, idempotencyKey: key() }, TTL);
    const commit = { reservationId: reservation.reservationId!, agent: 'planner', tokens: 40, executionMs: 1_500, idempotencyKey: key() };
    const results = await Promise.all(Array.from({ length: 10 }, () => commitUsage(db, asTaskRunner(user.userId), commit)));
    expect(new Set(results.map((result) => result.eventId)).size).toBe(1);
    expect(results.filter((result) => !result.duplicate)).toHaveLength(1);
    const again = await commitUsage(db, asTaskRunner(user.userId), commit);
    expect(again).toMatchObject({ duplicate: true, eventId: results[0]!.eventId });
    const totals = await ledgerTotals(db, user.userId);
    const cost = 40 * 1_000 + 2_500; // 40 tokens at $0.001 + 1.5 s at $0.10/min
    expect(totals).toMatchObject({ used: cost, events: cost, counted: 1 });
    expect((await getUsageSnapshot(db, user)).reservedMicros).toBe(0);
  });

  it('refuses an idempotency key reused with different usage, and changes nothing', async () => {
    const user = await createUser(db);
    const idempotencyKey = key();
    await commitUsage(db, asTaskRunner(user.userId), { agent: 'a', tokens: 10, executionMs: 0, idempotencyKey });
    await expect(
      commitUsage(db, asTaskRunner(user.userId), { agent: 'a', tokens: 11, executionMs: 0, idempotencyKey }),
    ).rejects.toMatchObject({
      code: 'idempotency_conflict',
    });
    const reserveKey = key();
    await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 1_000, idempotencyKey: reserveKey }, TTL);
    await expect(
      reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 2_000, idempotencyKey: reserveKey }, TTL),
    ).rejects.toBeInstanceOf(AppError);
    expect(await ledgerTotals(db, user.userId)).toMatchObject({ used: 10_000, counted: 1 });
    expect((await getUsageSnapshot(db, user)).reservedMicros).toBe(1_000);
  });

  it('replays a retried reservation instead of holding twice', async () => {
    const user = await createUser(db);
    const idempotencyKey = key();
    const first = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 2_000_000, idempotencyKey }, TTL);
    const retry = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 2_000_000, idempotencyKey }, TTL);
    expect(retry).toMatchObject({ reservationId: first.reservationId, duplicate: true, allowed: true });
    expect((await getUsageSnapshot(db, user)).reservedMicros).toBe(2_000_000);
  });

  it('stops counting expired reservations and marks them expired', async () => {
    const user = await createUser(db);
    const hold = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 9_000_000, idempotencyKey: key() }, TTL);
    expect((await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 2_000_000, idempotencyKey: key() }, TTL)).allowed).toBe(
      false,
    );
    // A crashed task: its hold's time runs out.
    await db.query("update usage_reservations set expires_at = now() - interval '1 second' where id = $1", [hold.reservationId]);
    expect((await getUsageSnapshot(db, user)).reservedMicros).toBe(0);
    expect((await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 2_000_000, idempotencyKey: key() }, TTL)).allowed).toBe(
      true,
    );
    // Housekeeping records the lapse; readers already ignored it.
    const { rows: swept } = await db.query<{ n: number }>('select app_private.sweep_lapsed_reservations() as n');
    expect(swept[0]!.n).toBeGreaterThanOrEqual(1);
    const { rows } = await db.query('select status from usage_reservations where id = $1', [hold.reservationId]);
    expect(rows[0]).toEqual({ status: 'expired' });
    // The task did run after all: its usage still counts.
    const late = await commitUsage(db, asTaskRunner(user.userId), {
      reservationId: hold.reservationId!,
      agent: 'a',
      tokens: 5,
      executionMs: 0,
      idempotencyKey: key(),
    });
    expect(late.costMicros).toBe(5_000);
  });

  it('records the release of a lapsed hold as expired', async () => {
    const user = await createUser(db);
    const hold = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 1_000_000, idempotencyKey: key() }, TTL);
    await db.query("update usage_reservations set expires_at = now() - interval '1 second' where id = $1", [hold.reservationId]);
    expect(await releaseUsage(db, asTaskRunner(user.userId), { reservationId: hold.reservationId! })).toMatchObject({
      status: 'expired',
      duplicate: false,
    });
    expect(await releaseUsage(db, asTaskRunner(user.userId), { reservationId: hold.reservationId! })).toMatchObject({
      status: 'expired',
      duplicate: true,
    });
  });

  it('releases a reservation once, and refuses to commit it afterwards', async () => {
    const user = await createUser(db);
    const hold = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 4_000_000, idempotencyKey: key() }, TTL);
    const released = await releaseUsage(db, asTaskRunner(user.userId), { reservationId: hold.reservationId! });
    expect(released).toMatchObject({ status: 'released', duplicate: false });
    expect(await releaseUsage(db, asTaskRunner(user.userId), { reservationId: hold.reservationId! })).toMatchObject({
      status: 'released',
      duplicate: true,
    });
    expect((await getUsageSnapshot(db, user)).remainingMicros).toBe(10_000_000);
    await expect(
      commitUsage(db, asTaskRunner(user.userId), {
        reservationId: hold.reservationId!,
        agent: 'a',
        tokens: 1,
        executionMs: 0,
        idempotencyKey: key(),
      }),
    ).rejects.toMatchObject({ code: 'conflict' });
    expect((await ledgerTotals(db, user.userId)).counted).toBe(0);
  });

  it("does not let the runner acting for one user commit or release another user's reservation", async () => {
    const owner = await createUser(db);
    const intruder = await createUser(db);
    const hold = await reserveUsage(db, asTaskRunner(owner.userId), { estimatedCost: 1_000_000, idempotencyKey: key() }, TTL);
    await expect(releaseUsage(db, asTaskRunner(intruder.userId), { reservationId: hold.reservationId! })).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(
      commitUsage(db, asTaskRunner(intruder.userId), {
        reservationId: hold.reservationId!,
        agent: 'a',
        tokens: 1,
        executionMs: 0,
        idempotencyKey: key(),
      }),
    ).rejects.toMatchObject({ code: 'not_found' });
    expect((await getUsageSnapshot(db, owner)).reservedMicros).toBe(1_000_000);
    expect((await ledgerTotals(db, intruder.userId)).counted).toBe(0);
  });

  it('refuses usage writes from a signed-in user in lib as well (forbidden), writing nothing', async () => {
    const user = await createUser(db);
    const hold = await reserveUsage(db, asTaskRunner(user.userId), { estimatedCost: 1_000_000, idempotencyKey: key() }, TTL);
    await expect(reserveUsage(db, user, { estimatedCost: 1, idempotencyKey: key() }, TTL)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(
      commitUsage(db, user, { reservationId: hold.reservationId!, agent: 'a', tokens: 0, executionMs: 0, idempotencyKey: key() }),
    ).rejects.toMatchObject({ code: 'forbidden' });
    await expect(releaseUsage(db, user, { reservationId: hold.reservationId! })).rejects.toMatchObject({ code: 'forbidden' });
    expect((await getUsageSnapshot(db, user)).reservedMicros).toBe(1_000_000);
    expect((await ledgerTotals(db, user.userId)).counted).toBe(0);
  });

  it('answers a limit check without side effects, with the shortfall rounded up to cents', async () => {
    const user = await createUser(db);
    await commitUsage(db, asTaskRunner(user.userId), { agent: 'a', tokens: 9_999, executionMs: 0, idempotencyKey: key() }); // $9.999 used
    const check = await checkUsageLimit(db, user, 25_000_000);
    expect(check).toMatchObject({
      allowed: false,
      remainingMicros: 1_000,
      remainingCents: 0,
      shortfallMicros: 24_999_000,
      shortfallCents: 2_500,
      planId: 'starter',
    });
    expect(await checkUsageLimit(db, user, 1_000)).toMatchObject({ allowed: true, shortfallCents: 0 });
    const { rows } = await db.query('select count(*)::int as n from usage_reservations where user_id = $1', [user.userId]);
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('credits exactly what was paid, once per payment', async () => {
    const user = await createUser(db);
    await commitUsage(db, asTaskRunner(user.userId), { agent: 'a', tokens: 10_000, executionMs: 0, idempotencyKey: key() }); // $10 used
    const paymentIntentId = `pi_${randomUUID()}`;
    const grant = () =>
      db.query('select * from app_private.grant_credit($1, $2, $3, $4, $5)', [
        user.userId,
        15_500_000,
        'payment_intent',
        paymentIntentId,
        'test',
      ]);
    const results = await Promise.all([grant(), grant(), grant()]);
    expect(results.filter((result) => result.rows[0]?.granted)).toHaveLength(1);
    const snapshot = await getUsageSnapshot(db, user);
    expect(snapshot).toMatchObject({ creditsMicros: 15_500_000, usedMicros: 10_000_000, remainingMicros: 15_500_000 });
    expect(await ledgerTotals(db, user.userId)).toMatchObject({ credits: 15_500_000, granted: 15_500_000 });
    const { rows } = await db.query("select count(*)::int as n from audit_log where user_id = $1 and action = 'credit.granted'", [
      user.userId,
    ]);
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('uses the calendar month without a subscription and the subscription period with one', async () => {
    const user = await createUser(db);
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    expect(await getUsageSnapshot(db, user)).toMatchObject({
      planId: 'starter',
      periodStart: monthStart.toISOString(),
      periodEnd: nextMonth.toISOString(),
      allowanceCents: 1_000,
    });
    const subscription = await subscribe(db, user.userId, 'enterprise', new Date(Date.now() - 3_600_000));
    await commitUsage(db, asTaskRunner(user.userId), { agent: 'a', tokens: 1, executionMs: 0, idempotencyKey: key() });
    const snapshot = await getUsageSnapshot(db, user);
    expect(snapshot).toMatchObject({
      planId: 'enterprise',
      periodStart: subscription.periodStart.toISOString(),
      periodEnd: subscription.periodEnd.toISOString(),
      allowanceCents: 50_000,
      usedMicros: 200,
    });
  });

  it('keeps a subscription in force when a simulated clock put its paid period ahead of ours, but not before it existed', async () => {
    const user = await createUser(db);
    // A renewal on Stripe's advanced clock: the paid period starts a month after the database's now.
    const ahead = new Date(Date.now() + 31 * 86_400_000);
    const subscription = await subscribe(db, user.userId, 'pro', ahead);
    expect(await getUsageSnapshot(db, user)).toMatchObject({
      planId: 'pro',
      periodStart: subscription.periodStart.toISOString(),
      allowanceCents: 5_000,
    });
    // Before the subscription existed the user was on Starter's calendar month (a receipt's past payment).
    const before = await db.query<{ plan_id: string }>("select plan_id from app_private.period_in_force($1, now() - interval '1 day')", [
      user.userId,
    ]);
    expect(before.rows).toEqual([{ plan_id: 'starter' }]);
  });

  it('refuses usage for a user that does not exist', async () => {
    await expect(
      commitUsage(db, asTaskRunner(randomUUID()), { agent: 'a', tokens: 1, executionMs: 0, idempotencyKey: key() }),
    ).rejects.toMatchObject({ code: 'not_found' });
  });
});
