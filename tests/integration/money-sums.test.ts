import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAdminAnalytics } from '@/lib/analytics/admin';
import { getUserAnalytics } from '@/lib/analytics/user';
import { getBudget } from '@/lib/billing/budgets';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { getBillingOverview } from '@/lib/payments/billing';
import { backends } from '@/tests/helpers/databases';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { call } from '@/tests/helpers/http';
import { POST as checkUsageLimit } from '@/app/api/payments/check-usage-limit/route';
import { GET as getAnalytics } from '@/app/api/payments/analytics/route';
import { GET as getBilling } from '@/app/api/payments/billing/route';
import { GET as getBudgetRoute } from '@/app/api/payments/budget/route';
import { POST as commit } from '@/pages/api/usage/commit';

// Issue 15, finding 1: ~9,000 commits of $1,000,144 pushed a month's summed cost past 2^53
// micro-dollars, and every read of it answered 500 ("int8 out of safe range") for good.
// Now a commit above the per-task ceiling is refused, and sums are carried as bigint/strings.

const TASK_RUNNER_KEY = 'tr_test_key_money_sums';
// The largest task a commit's schema accepts, on Starter: 10^9 tokens x $0.001 + 24 h x $0.10/min.
const MAX_TASK_MICROS = 1_000_000_000n * 1_000n + (86_400_000n * 100_000n + 30_000n) / 60_000n;
const TASKS = 9_100;

let auth: TestAuth;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  process.env.TASK_RUNNER_API_KEY = TASK_RUNNER_KEY;
});
afterAll(async () => auth.close());

describe.each(backends())('money sums on $name', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await backend.open();
    useDatabase(db);
  }, 60_000);
  afterAll(async () => db.close());

  const ledger = async (userId: string) =>
    (
      await db.query<{ events: number; used: string }>(
        'select (select count(*) from usage_events where user_id = $1)::int as events, coalesce((select sum(used_micros) from user_usage where user_id = $1), 0)::text as used',
        [userId],
      )
    ).rows[0];

  it('refuses a commit above the per-task ceiling ($1,000 by default) with 422 and writes nothing', async () => {
    const user = await auth.signUp();
    await call(checkUsageLimit, '/api/payments/check-usage-limit', { token: user.accessToken, body: { estimatedCost: 1 } });
    const task = (tokens: number, executionMs = 0) => ({
      userId: user.userId,
      agent: 'writer',
      tokens,
      executionMs,
      idempotencyKey: randomUUID(),
    });
    const refused = {
      status: 422,
      body: { error: { code: 'unprocessable', message: expect.stringMatching(/above the per-task ceiling/) } },
    };
    expect(await call(commit, '/api/usage/commit', { token: TASK_RUNNER_KEY, body: task(1_000_000_000, 86_400_000) })).toEqual(refused);
    expect(await call(commit, '/api/usage/commit', { token: TASK_RUNNER_KEY, body: task(1_000_001) })).toEqual(refused);
    expect(await ledger(user.userId)).toEqual({ events: 0, used: '0' });
    // Exactly $1,000 is allowed (and, beyond the allowance, owed).
    expect(await call(commit, '/api/usage/commit', { token: TASK_RUNNER_KEY, body: task(1_000_000) })).toMatchObject({
      status: 200,
      body: { data: { costMicros: 1_000_000_000, remainingMicros: -990_000_000 } },
    });
  });

  it('keeps every read 200 and exact after one user month passes 2^53 micro-dollars', async () => {
    const user = await auth.signUp();
    await call(checkUsageLimit, '/api/payments/check-usage-limit', { token: user.accessToken, body: { estimatedCost: 1 } });
    // Through the SQL function itself (no ceiling there unless the app passes one).
    await db.query(
      `select count(*) from generate_series(1, ${TASKS}) g,
         lateral app_private.commit_usage($1, null, 'bulk', 1000000000, 86400000, 'bulk-' || g)`,
      [user.userId],
    );
    const total = MAX_TASK_MICROS * BigInt(TASKS);
    expect(total > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(await ledger(user.userId)).toEqual({ events: TASKS, used: total.toString() });
    const cents = (total + 9_999n) / 10_000n; // rounded up, as usage is shown
    const owed = total - 10_000_000n; // beyond Starter's $10 allowance, no credit: owed

    const billing = await call(getBilling, '/api/payments/billing', { token: user.accessToken, method: 'GET' });
    expect(billing.status).toBe(200);
    expect(billing.body.data).toMatchObject({
      usageCents: Number(cents),
      owedCents: Number((owed + 9_999n) / 10_000n),
      remainingCents: -Number((owed + 9_999n) / 10_000n),
    });

    const today = new Date().toISOString().slice(0, 10);
    const analytics = await call(getAnalytics, `/api/payments/analytics?startDate=${today}&endDate=${today}`, {
      token: user.accessToken,
      method: 'GET',
    });
    expect(analytics.status).toBe(200);
    expect(analytics.body.data).toMatchObject({
      totals: { tasks: TASKS, costMicros: total.toString(), costCents: Number(cents) },
      byAgent: [{ agent: 'bulk', costMicros: total.toString() }],
    });

    const budget = await call(getBudgetRoute, '/api/payments/budget', { token: user.accessToken, method: 'GET' });
    expect(budget).toMatchObject({ status: 200, body: { data: { usageCents: Number(cents) } } });

    // The dashboard's data and the operators' figures, read the way the pages read them.
    const actor = {
      kind: 'user' as const,
      userId: user.userId,
      claims: { sub: user.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 3600 },
    };
    expect(await getBillingOverview(db, actor)).toMatchObject({ usageCents: Number(cents) });
    expect((await getUserAnalytics(db, actor, { startDate: today, endDate: today })).totals.costMicros).toBe(total.toString());
    expect((await getBudget(db, actor)).alertState).toBe('ok');
    const admin = await getAdminAnalytics(db, { month: today.slice(0, 7) });
    const starter = admin.usageByPlan.find((row) => row.planId === 'starter')!;
    expect(BigInt(starter.costMicros) >= total).toBe(true);
    expect(starter.costMicros).toBe(
      (
        await db.query<{ t: string }>(
          "select sum(cost_micros)::text as t from usage_events where plan_id = 'starter' and created_at >= date_trunc('month', now() at time zone 'UTC') at time zone 'UTC'",
        )
      ).rows[0]!.t,
    );
  }, 240_000);
});
