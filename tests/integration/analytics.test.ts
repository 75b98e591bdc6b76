import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '@/lib/auth/actor';
import { getAdminAnalytics } from '@/lib/analytics/admin';
import { getAdminAnalyticsQuerySchema, getAnalyticsQuerySchema } from '@/lib/analytics/schemas';
import { getUserAnalytics } from '@/lib/analytics/user';
import type { PlanId } from '@/lib/billing/plans';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { backends } from '@/tests/helpers/databases';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { asTaskRunner, createUser } from '@/tests/helpers/users';
import { GET as analyticsRoute } from '@/app/api/payments/analytics/route';

// Spending analytics on a small hand-made ledger whose every figure is worked out below, on
// PostgreSQL 15 and PGlite: the user's figures through the route (real JWTs, RLS) and the
// operators' figures for a month.

let auth: TestAuth;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
});
afterAll(async () => auth.close());

/** GET the analytics route in-process, as Next.js would call it. */
async function getAnalytics(search: string, token?: string) {
  const headers = new Headers(token ? { authorization: `Bearer ${token}` } : {});
  const response = await analyticsRoute(new Request(`http://app.test/api/payments/analytics${search}`, { headers }));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

// One ledger row. The cost is priced by the database's own function at the plan's rates.
type Event = [userId: string, at: string, agent: string, plan: PlanId, tokens: number, executionMs: number];

async function insertEvents(db: Database, events: Event[]) {
  for (const [index, [userId, at, agent, plan, tokens, executionMs]] of events.entries()) {
    await db.query(
      `insert into usage_events (user_id, period_start, agent, tokens, execution_ms, plan_id, token_rate_micros,
         minute_rate_micros, cost_micros, idempotency_key, created_at)
       select $1, date_trunc('month', $2::timestamptz at time zone 'UTC') at time zone 'UTC', $3, $4, $5, p.id,
         p.token_rate_micros, p.minute_rate_micros,
         app_private.task_cost_micros($4, $5, p.token_rate_micros, p.minute_rate_micros), $7, $2
       from plans p where p.id = $6`,
      [userId, at, agent, tokens, executionMs, plan, `seed-${index}-${userId}`],
    );
  }
}

/** A user_usage row for the period in force now, with this much used. */
async function useInCurrentPeriod(db: Database, userId: string, usedMicros: number) {
  await db.query(
    `insert into user_usage (user_id, period_start, period_end, plan_id, allowance_micros, used_micros)
     select $1, f.period_start, f.period_end, f.plan_id, 10000000, $2 from app_private.period_in_force($1) f`,
    [userId, usedMicros],
  );
}

async function currentPeriod(db: Database, userId: string) {
  const { rows } = await db.query<{ period_start: Date; period_end: Date }>(
    'select period_start, period_end from app_private.period_in_force($1)',
    [userId],
  );
  return { periodStart: rows[0]!.period_start.toISOString(), periodEnd: rows[0]!.period_end.toISOString() };
}

const figures = (tasks: number, tokens: number, executionMs: number, costMicros: number, costCents: number) => ({
  tasks,
  tokens,
  executionMs,
  costMicros,
  costCents,
});
const NONE = figures(0, 0, 0, 0, 0);

// The range 2026-10-30 .. 2026-11-02 (four days over two months); the previous window of the same
// length is 2026-10-26 .. 2026-10-29. Costs at the stored plan's rates (time rounded half up):
//   A1 10-27 researcher starter   100 tok        -> 100,000 (previous window)
//   A2 10-30 planner    starter 1,000 tok, 60 s  -> 1,000,000 + 100,000 = 1,100,000
//   A3 10-31 coder      starter   500 tok, 30 s  ->   500,000 +  50,000 =   550,000 (last ms of October)
//   A4 11-01 coder      pro     2,000 tok, 90 s  -> 1,000,000 +  75,000 = 1,075,000 (first ms of November)
//   A5 11-02 planner    pro        10 tok,  1 s  ->     5,000 +     833 =     5,833
//   A6 11-02 coder      pro   100,000 tok        -> 50,000,000 (last ms of the range)
//   A7 11-03 coder      pro         1 tok        -> 500 (after the range)
const userAEvents = (a: string): Event[] => [
  [a, '2026-10-27T09:00:00Z', 'researcher', 'starter', 100, 0],
  [a, '2026-10-30T10:00:00Z', 'planner', 'starter', 1_000, 60_000],
  [a, '2026-10-31T23:59:59.999Z', 'coder', 'starter', 500, 30_000],
  [a, '2026-11-01T00:00:00Z', 'coder', 'pro', 2_000, 90_000],
  [a, '2026-11-02T12:00:00Z', 'planner', 'pro', 10, 1_000],
  [a, '2026-11-02T23:59:59.999Z', 'coder', 'pro', 100_000, 0],
  [a, '2026-11-03T00:00:00Z', 'coder', 'pro', 1, 0],
];

function expectedForA(budgetPeriod: { periodStart: string; periodEnd: string }) {
  return {
    range: { startDate: '2026-10-30', endDate: '2026-11-02', days: 4, months: 2 },
    totals: figures(5, 103_510, 181_000, 52_730_833, 5_274),
    byDay: [
      { date: '2026-10-30', ...figures(1, 1_000, 60_000, 1_100_000, 110) },
      { date: '2026-10-31', ...figures(1, 500, 30_000, 550_000, 55) },
      { date: '2026-11-01', ...figures(1, 2_000, 90_000, 1_075_000, 108) },
      { date: '2026-11-02', ...figures(2, 100_010, 1_000, 50_005_833, 5_001) },
    ],
    byMonth: [
      { month: '2026-10', ...figures(2, 1_500, 90_000, 1_650_000, 165) },
      { month: '2026-11', ...figures(3, 102_010, 91_000, 51_080_833, 5_109) },
    ],
    byAgent: [
      { agent: 'coder', ...figures(3, 102_500, 120_000, 51_625_000, 5_163) },
      { agent: 'planner', ...figures(2, 1_010, 61_000, 1_105_833, 111) },
    ],
    byPlan: [
      { planId: 'starter', ...figures(2, 1_500, 90_000, 1_650_000, 165) },
      { planId: 'pro', ...figures(3, 102_010, 91_000, 51_080_833, 5_109) },
    ],
    insights: {
      // Re-priced per month at each plan's rates:
      //   starter: Oct 1,650,000, Nov 2,150,000 + 11,667 + 100,000,000 = 102,161,667
      //   pro:     Oct   825,000, Nov 51,080,833
      //   enterprise: Oct 330,000, Nov 430,000 + 2,333 + 20,000,000 = 20,432,333
      // Two monthly prices each, plus each month's usage over the allowance.
      cheapestPlan: {
        planId: 'pro',
        estimatedCostMicros: 101_080_833,
        estimatedCostCents: 10_109,
        currentPlanId: 'starter', // no subscription
        currentPlanEstimatedCostMicros: 112_161_667,
        savingsMicros: 11_080_834,
        savingsCents: 1_108,
        plans: [
          {
            planId: 'starter',
            priceCents: 2_000,
            usageCostMicros: 103_811_667,
            overageMicros: 92_161_667,
            estimatedCostMicros: 112_161_667,
            estimatedCostCents: 11_217,
          },
          {
            planId: 'pro',
            priceCents: 10_000,
            usageCostMicros: 51_905_833,
            overageMicros: 1_080_833,
            estimatedCostMicros: 101_080_833,
            estimatedCostCents: 10_109,
          },
          {
            planId: 'enterprise',
            priceCents: 100_000,
            usageCostMicros: 20_762_333,
            overageMicros: 0,
            estimatedCostMicros: 1_000_000_000,
            estimatedCostCents: 100_000,
          },
        ],
      },
      // 52,730,833 / 5 tasks now against 100,000 / 1 task in the four days before.
      costPerTask: {
        currentMicros: 10_546_167,
        previousMicros: 100_000,
        previousStartDate: '2026-10-26',
        previousEndDate: '2026-10-29',
        changePercent: 10_446.2,
        trend: 'up',
      },
      topAgent: { agent: 'coder', costMicros: 51_625_000, costCents: 5_163, tasks: 3, sharePercent: 97.9 },
    },
    // $20 budget, $17 used in the period in force: 85%.
    budget: {
      monthlyBudgetCents: 2_000,
      ...budgetPeriod,
      spentMicros: 17_000_000,
      spentCents: 1_700,
      remainingCents: 300,
      percentUsed: 85,
      status: 'warning',
    },
  };
}

const invalid = (path: string, message: string) => ({
  status: 400,
  body: { error: { code: 'validation_failed', message, details: [{ path, message }] } },
});

// Invalid queries, as data: [query string, expected answer].
const INVALID_QUERIES: Array<[string, ReturnType<typeof invalid>]> = [
  ['?startDate=2026-1-05', invalid('startDate', 'startDate must be a date in YYYY-MM-DD format')],
  ['?startDate=', invalid('startDate', 'startDate must be a date in YYYY-MM-DD format')],
  ['?startDate=2026-11-01T00:00:00Z', invalid('startDate', 'startDate must be a date in YYYY-MM-DD format')],
  ['?endDate=30/11/2026', invalid('endDate', 'endDate must be a date in YYYY-MM-DD format')],
  ['?startDate=2026-02-30&endDate=2026-03-01', invalid('startDate', 'startDate is not a real calendar date')],
  ['?startDate=2025-02-29', invalid('startDate', 'startDate is not a real calendar date')],
  ['?startDate=2026-11-01&endDate=2026-13-01', invalid('endDate', 'endDate is not a real calendar date')],
  ['?startDate=1999-12-31&endDate=2000-01-01', invalid('startDate', 'startDate must be between 2000-01-01 and 9999-12-31')],
  ['?startDate=2026-11-02&endDate=2026-11-01', invalid('startDate', 'startDate must be on or before endDate')],
  ['?endDate=2026-10-31&startDate=2026-11-15', invalid('startDate', 'startDate must be on or before endDate')],
  [
    '?startDate=2025-01-01&endDate=2026-01-02',
    invalid('endDate', 'endDate must be at most 365 days after startDate (a range of at most 366 days)'),
  ],
  ['?start=2026-11-01', invalid('', 'Unrecognized key: "start"')],
  ['?startDate=2026-11-01&userId=00000000-0000-0000-0000-000000000000', invalid('', 'Unrecognized key: "userId"')],
];

describe.each(backends())('analytics on $name', (backend) => {
  let db: Database;
  let a: { userId: string; accessToken: string };
  let b: { userId: string; accessToken: string };
  let aActor: Actor;

  beforeAll(async () => {
    db = await backend.open();
    useDatabase(db);
    a = await auth.signUp();
    b = await auth.signUp();
    for (const user of [a, b]) await db.query("insert into users (id, email) values ($1, 'x@example.test')", [user.userId]);
    aActor = {
      kind: 'user',
      userId: a.userId,
      claims: { sub: a.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 3600 },
    };
    await insertEvents(db, [
      ...userAEvents(a.userId),
      // B's usage inside A's range, and in November (admin figures).
      [b.userId, '2026-10-30T11:00:00Z', 'planner', 'starter', 999, 0],
      [b.userId, '2026-11-15T08:00:00Z', 'planner', 'starter', 10, 0],
    ]);
    await db.query('insert into budgets (user_id, monthly_budget_cents) values ($1, 2000)', [a.userId]);
    await useInCurrentPeriod(db, a.userId, 17_000_000);
    await useInCurrentPeriod(db, b.userId, 99_000_000);
  }, 60_000);
  afterAll(async () => db.close());

  describe('the user figures', () => {
    it('answers exact figures by day, month, agent and plan, with insights and budget, through the route', async () => {
      const response = await getAnalytics('?startDate=2026-10-30&endDate=2026-11-02', a.accessToken);
      expect(response).toEqual({ status: 200, body: { data: expectedForA(await currentPeriod(db, a.userId)) } });
    });

    it('reads the same for the task runner (system read) as for the user through RLS', async () => {
      const query = { startDate: '2026-10-30', endDate: '2026-11-02' };
      expect(await getUserAnalytics(db, asTaskRunner(a.userId), query)).toEqual(await getUserAnalytics(db, aActor, query));
    });

    it("never shows A any of B's events, even if asked for B's id with A's token (RLS decides)", async () => {
      const query = { startDate: '2026-10-30', endDate: '2026-11-15' };
      const mine = await getUserAnalytics(db, aActor, query);
      expect(mine.totals.tasks).toBe(6); // A2..A7
      expect(mine.byAgent.map((row) => row.agent)).toEqual(['coder', 'planner']);
      // A bug passing B's id with A's claims still sees nothing of B: the policies filter it.
      const forged = await getUserAnalytics(db, { ...aActor, userId: b.userId }, query);
      expect(forged.totals).toEqual(NONE);
      expect(forged.byAgent).toEqual([]);
      expect(forged.budget).toBeNull();
      // B sees B's two events and nothing of A's.
      const theirs = await getAnalytics('?startDate=2026-10-30&endDate=2026-11-15', b.accessToken);
      const data = theirs.body.data as { totals: unknown; byPlan: unknown };
      expect(data.totals).toEqual(figures(2, 1_009, 0, 1_009_000, 101));
      expect(data.byPlan).toEqual([{ planId: 'starter', ...figures(2, 1_009, 0, 1_009_000, 101) }]);
    });

    it('fills every day and month of an empty range with zeros and has no budget without one', async () => {
      const nobody = await createUser(db);
      const answer = await getUserAnalytics(db, nobody, { startDate: '2026-01-30', endDate: '2026-03-02' });
      expect(answer.range).toEqual({ startDate: '2026-01-30', endDate: '2026-03-02', days: 32, months: 3 });
      expect(answer.byDay).toHaveLength(32);
      expect(answer.byDay.map((day) => day.date).slice(0, 3)).toEqual(['2026-01-30', '2026-01-31', '2026-02-01']);
      expect(answer.byDay.at(-1)).toEqual({ date: '2026-03-02', ...NONE });
      expect(answer.byMonth).toEqual([
        { month: '2026-01', ...NONE },
        { month: '2026-02', ...NONE },
        { month: '2026-03', ...NONE },
      ]);
      expect(answer.totals).toEqual(NONE);
      expect(answer.byAgent).toEqual([]);
      expect(answer.byPlan).toEqual([]);
      expect(answer.insights.topAgent).toBeNull();
      expect(answer.insights.costPerTask).toEqual({
        currentMicros: null,
        previousMicros: null,
        previousStartDate: '2025-12-29',
        previousEndDate: '2026-01-29',
        changePercent: null,
        trend: null,
      });
      // With no usage the cheapest plan is the cheapest price: Starter, three months of $10.
      expect(answer.insights.cheapestPlan).toMatchObject({ planId: 'starter', estimatedCostMicros: 30_000_000, savingsMicros: 0 });
      expect(answer.budget).toBeNull();
    });

    it('reports a budget reached at exactly 100% as exceeded', async () => {
      const spender = await createUser(db);
      await db.query('insert into budgets (user_id, monthly_budget_cents) values ($1, 100)', [spender.userId]);
      await useInCurrentPeriod(db, spender.userId, 1_000_000);
      const answer = await getUserAnalytics(db, spender, { startDate: '2026-11-01', endDate: '2026-11-30' });
      expect(answer.budget).toEqual({
        monthlyBudgetCents: 100,
        ...(await currentPeriod(db, spender.userId)),
        spentMicros: 1_000_000,
        spentCents: 100,
        remainingCents: 0,
        percentUsed: 100,
        status: 'exceeded',
      });
    });

    it('defaults to the current calendar month in UTC, and to the month of the one date given', async () => {
      const now = new Date();
      const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString().slice(0, 10);
      const last = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 0)).toISOString().slice(0, 10);
      const current = await getAnalytics('', a.accessToken);
      expect(current.status).toBe(200);
      expect((current.body.data as { range: unknown }).range).toMatchObject({ startDate: first, endDate: last });
      expect(getAnalyticsQuerySchema.parse({ startDate: '2024-02-10' })).toEqual({ startDate: '2024-02-10', endDate: '2024-02-29' });
      expect(getAnalyticsQuerySchema.parse({ endDate: '2026-11-15' })).toEqual({ startDate: '2026-11-01', endDate: '2026-11-15' });
      // 366 days, inclusive, is the longest range.
      expect(getAnalyticsQuerySchema.parse({ startDate: '2025-01-01', endDate: '2026-01-01' })).toEqual({
        startDate: '2025-01-01',
        endDate: '2026-01-01',
      });
    });

    it.each(INVALID_QUERIES)('answers %s with 400 and an exact body', async (search, expected) => {
      expect(await getAnalytics(search, a.accessToken)).toEqual(expected);
    });

    it('answers 401 without a session, with a forged token and with the task-runner key, before reading the query', async () => {
      const unauthorized = (message: string) => ({ status: 401, body: { error: { code: 'unauthorized', message } } });
      expect(await getAnalytics('?startDate=2026-11-01')).toEqual(unauthorized('Sign in to continue'));
      expect(await getAnalytics('?startDate=bad')).toEqual(unauthorized('Sign in to continue'));
      const forged = await auth.signWithForeignKey({
        iss: `${auth.url}/auth/v1`,
        sub: a.userId,
        aud: 'authenticated',
        role: 'authenticated',
        exp: Math.floor(Date.now() / 1000) + 3600,
      });
      expect(await getAnalytics('', forged)).toEqual(unauthorized('Invalid access token'));
      expect(await getAnalytics('', process.env.TASK_RUNNER_API_KEY ?? 'tr_local_dev_key')).toEqual(unauthorized('Invalid access token'));
    });
  });

  describe('the admin figures', () => {
    beforeAll(async () => {
      const payer = await createUser(db);
      const p = payer.userId;
      // Payment attempts: [amount, kind, status, created, succeeded, refunded]
      const attempts: Array<[number, string, string, string, string | null, number]> = [
        [1_500, 'usage_topup', 'succeeded', '2026-11-05T10:00:00Z', '2026-11-05T10:00:05Z', 500],
        // In euros: recorded and flagged, never revenue in dollars.
        [4_000, 'usage_topup', 'succeeded', '2026-11-05T12:00:00Z', '2026-11-05T12:00:05Z', 0],
        [2_000, 'usage_topup', 'succeeded', '2026-10-20T10:00:00Z', '2026-10-20T10:00:05Z', 0],
        [1_000, 'usage_topup', 'failed', '2026-11-10T10:00:00Z', null, 0],
        [700, 'usage_topup', 'pending', '2026-11-11T10:00:00Z', null, 0],
        [5_000, 'subscription', 'succeeded', '2026-11-06T10:00:00Z', '2026-11-06T10:00:05Z', 0],
        // Created on the last evening of October, succeeded in November.
        [900, 'usage_topup', 'succeeded', '2026-10-31T23:50:00Z', '2026-11-01T00:10:00Z', 0],
        [300, 'usage_topup', 'canceled', '2026-11-12T10:00:00Z', null, 0],
        [400, 'usage_topup', 'failed', '2026-12-01T00:00:00Z', null, 0],
      ];
      for (const [amount, kind, status, created, succeeded, refunded] of attempts) {
        await db.query(
          `insert into payment_attempts (user_id, amount_cents, kind, status, created_at, succeeded_at, refunded_cents, currency, flag)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [
            p,
            amount,
            kind,
            status,
            created,
            succeeded,
            refunded,
            amount === 4_000 ? 'eur' : 'usd',
            amount === 4_000 ? 'currency_not_usd' : null,
          ],
        );
      }
      // Refunds by the day recorded: $5 of the $15 top-up, $2 of a subscription invoice (in
      // November), $1 in December (not this month); a dispute lost in November ($3), one open.
      for (const [kind, cents, at] of [
        ['usage_topup', 500, '2026-11-05T11:00:00Z'],
        ['subscription', 200, '2026-11-20T11:00:00Z'],
        ['subscription', 100, '2026-12-02T00:00:00Z'],
      ] as const) {
        await db.query(
          `insert into charge_refunds (user_id, charge_id, kind, amount_cents, currency, total_cents, created_at) values ($1, $2, $3, $4, 'usd', $4, $5)`,
          [p, `ch_${cents}`, kind, cents, at],
        );
      }
      await db.query(
        `insert into disputes (id, user_id, charge_id, kind, amount_cents, currency, status, opened_at, closed_at)
         values ('du_lost', $1, 'ch_x', 'subscription', 300, 'usd', 'lost', '2026-11-01T00:00:00Z', '2026-11-21T00:00:00Z'),
                ('du_open', $1, 'ch_y', 'subscription', 800, 'usd', 'open', '2026-11-22T00:00:00Z', null)`,
        [p],
      );
      // Subscriptions: [id, status, created]
      const subscriptions: Array<[string, string, string]> = [
        ['sub_active', 'active', '2026-11-06T09:00:00Z'],
        ['sub_trial', 'trialing', '2026-11-07T09:00:00Z'],
        ['sub_incomplete', 'incomplete', '2026-11-08T09:00:00Z'],
        ['sub_paid_then_canceled', 'canceled', '2026-11-09T09:00:00Z'],
        ['sub_expired', 'incomplete_expired', '2026-11-10T09:00:00Z'],
        ['sub_past_due', 'past_due', '2026-11-11T09:00:00Z'],
        ['sub_september', 'active', '2026-09-15T09:00:00Z'],
      ];
      for (const [id, status, created] of subscriptions) {
        await db.query(
          `insert into subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end, created_at)
           values ($1, $2, 'pro', $3, '2020-01-01', '2020-02-01', $4)`,
          [id, p, status, created],
        );
      }
      // Invoices: [id, subscription, status, paid cents, paid at]
      const invoices: Array<[string, string, string, number, string | null]> = [
        ['in_active', 'sub_active', 'paid', 5_000, '2026-11-06T09:00:05Z'],
        ['in_trial', 'sub_trial', 'paid', 0, '2026-11-07T09:00:05Z'],
        ['in_incomplete', 'sub_incomplete', 'open', 0, null],
        ['in_canceled', 'sub_paid_then_canceled', 'paid', 1_000, '2026-11-09T09:00:05Z'],
        ['in_september', 'sub_september', 'paid', 50_000, '2026-09-15T09:00:05Z'],
      ];
      for (const [id, subscription, status, paid, paidAt] of invoices) {
        await db.query(
          `insert into invoices (id, user_id, subscription_id, status, amount_due_cents, amount_paid_cents, stripe_created, paid_at)
           values ($1, $2, $3, $4, $5, $5, coalesce($6::timestamptz, '2026-11-08T09:00:00Z'), $6)`,
          [id, p, subscription, status, paid, paidAt],
        );
      }
      const webhooks: Array<[string, string]> = [
        ['evt_failed_1', 'failed'],
        ['evt_failed_2', 'failed'],
        ['evt_received', 'received'],
        ['evt_processed_1', 'processed'],
        ['evt_processed_2', 'processed'],
        ['evt_ignored', 'ignored'],
      ];
      for (const [id, status] of webhooks) {
        await db.query("insert into webhook_events (id, type, stripe_created, payload, status) values ($1, 'x', now(), '{}', $2)", [
          id,
          status,
        ]);
      }
    });

    const zeroMonth = (month: string) => ({
      month,
      topUpCents: 0,
      refundedCents: 0,
      disputesLostCents: 0,
      invoiceCents: 0,
      revenueCents: 0,
    });

    it('answers exact revenue, success rate, conversion, usage by plan and webhook counts for a month', async () => {
      expect(await getAdminAnalytics(db, { month: '2026-11' })).toEqual({
        month: '2026-11',
        revenue: {
          byMonth: [
            ...['2025-12', '2026-01', '2026-02', '2026-03', '2026-04', '2026-05', '2026-06', '2026-07', '2026-08'].map(zeroMonth),
            { month: '2026-09', topUpCents: 0, refundedCents: 0, disputesLostCents: 0, invoiceCents: 50_000, revenueCents: 50_000 },
            { month: '2026-10', topUpCents: 2_000, refundedCents: 0, disputesLostCents: 0, invoiceCents: 0, revenueCents: 2_000 },
            // 1,500 + 900 USD top-ups (not the euro one), invoices 5,000 + 1,000 (the subscription
            // attempt is its invoice), less 500 + 200 refunded and a 300 dispute lost.
            { month: '2026-11', topUpCents: 2_400, refundedCents: 700, disputesLostCents: 300, invoiceCents: 6_000, revenueCents: 7_400 },
          ],
          monthCents: 7_400,
        },
        // Created in November: 3 succeeded (the euro one too: it was paid), 1 failed (pending and
        // canceled count as neither).
        payments: { succeeded: 3, failed: 1, successRate: 0.75 },
        // Six created in November; active, past_due, and the canceled one that paid, converted.
        subscriptions: { created: 6, converted: 3, conversionRate: 0.5 },
        usageByPlan: [
          { planId: 'starter', users: 1, tasks: 1, tokens: 10, executionMs: 0, costMicros: 10_000, costCents: 1 },
          // A4, A5, A6 and A7: 1,075,000 + 5,833 + 50,000,000 + 500.
          { planId: 'pro', users: 1, tasks: 4, tokens: 102_011, executionMs: 91_000, costMicros: 51_081_333, costCents: 5_109 },
          { planId: 'enterprise', users: 0, tasks: 0, tokens: 0, executionMs: 0, costMicros: 0, costCents: 0 },
        ],
        webhooks: { failed: 2, pending: 1 },
        disputes: { open: 1, openCents: 800, lostCents: 300 },
        flagged: { payments: 1, invoices: 0 },
      });
    });

    it('answers zeros and no rates for a month without data', async () => {
      const answer = await getAdminAnalytics(db, { month: '2030-01' });
      expect(answer.payments).toEqual({ succeeded: 0, failed: 0, successRate: null });
      expect(answer.subscriptions).toEqual({ created: 0, converted: 0, conversionRate: null });
      expect(answer.revenue.byMonth.map((row) => row.month)).toEqual([
        '2029-02',
        '2029-03',
        '2029-04',
        '2029-05',
        '2029-06',
        '2029-07',
        '2029-08',
        '2029-09',
        '2029-10',
        '2029-11',
        '2029-12',
        '2030-01',
      ]);
      expect(answer.revenue.monthCents).toBe(0);
      expect(answer.usageByPlan.every((row) => row.tasks === 0)).toBe(true);
    });

    it('validates its query', () => {
      const message = (input: unknown) => getAdminAnalyticsQuerySchema.safeParse(input).error?.issues[0]?.message;
      expect(getAdminAnalyticsQuerySchema.parse({ month: '2026-11' })).toEqual({ month: '2026-11' });
      expect(getAdminAnalyticsQuerySchema.parse({})).toEqual({ month: new Date().toISOString().slice(0, 7) });
      expect(message({ month: '2026-13' })).toBe('month must be a month in YYYY-MM format');
      expect(message({ month: '2026-1' })).toBe('month must be a month in YYYY-MM format');
      expect(message({ month: '1999-12' })).toBe('month must be between 2000-01 and 9999-12');
      expect(message({ month: '2026-11', user: 'x' })).toBe('Unrecognized key: "user"');
    });
  });
});
