import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DELETE as deleteBudget, GET as getBudget, PUT as putBudget } from '@/app/api/payments/budget/route';
import { commitUsage, reserveUsage } from '@/lib/billing/usage';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { backends } from '@/tests/helpers/databases';
import { call } from '@/tests/helpers/http';
import { subscribe } from '@/tests/helpers/subscriptions';
import { asTaskRunner } from '@/tests/helpers/users';

// Budgets through GET / PUT / DELETE /api/payments/budget, called in-process with real JWTs from
// the local Supabase Auth, and the alerts at 80% and 100% that commit_usage and a budget change
// write, on real databases, with exact bodies.

const PATH = '/api/payments/budget';
const TASK_RUNNER_KEY = 'tr_test_key_0123456789';

let auth: TestAuth;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  process.env.TASK_RUNNER_API_KEY = TASK_RUNNER_KEY;
});
afterAll(async () => auth.close());

const get = (token?: string) => call(getBudget, PATH, { method: 'GET', token });
const put = (token: string | undefined, body: unknown) => call(putBudget, PATH, { method: 'PUT', token, body });
const remove = (token?: string) => call(deleteBudget, PATH, { method: 'DELETE', token });

const calendarMonth = () => {
  const now = new Date();
  return {
    periodStart: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString(),
    periodEnd: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString(),
  };
};

const alert80 = (usage: string, budget: string, data: { budgetCents: number; usageCents: number; periodStart: string }) => ({
  kind: 'budget_80',
  title: 'You have used 80% of your monthly budget',
  body: `Your usage this period is ${usage} of your ${budget} monthly budget.`,
  data,
  dedupe_key: `budget_80:${data.periodStart}`,
});
const alert100 = (usage: string, budget: string, data: { budgetCents: number; usageCents: number; periodStart: string }) => ({
  kind: 'budget_100',
  title: 'You have reached your monthly budget',
  body: `Your usage this period is ${usage}, which has reached your ${budget} monthly budget.`,
  data,
  dedupe_key: `budget_100:${data.periodStart}`,
});

describe.each(backends())('budgets on $name', (backend) => {
  let db: Database;

  beforeAll(async () => {
    db = await backend.open();
    useDatabase(db);
  }, 60_000);
  afterAll(async () => db.close());

  /** A signed-up user whose row exists (the first verified request creates it). */
  const signedUp = async () => {
    const user = await auth.signUp();
    expect((await get(user.accessToken)).status).toBe(200);
    return user;
  };

  /** Commits a task of `tokens` tokens for the user (Starter: $0.001 a token, Pro: $0.0005). */
  const spend = (userId: string, tokens: number) =>
    commitUsage(db, asTaskRunner(userId), { agent: 'writer', tokens, executionMs: 0, idempotencyKey: randomUUID() });

  const notificationsOf = async (userId: string) => {
    const { rows } = await db.query(
      `select kind, title, body, data, dedupe_key from notifications
       where user_id = $1 and kind like 'budget%' order by created_at, kind`,
      [userId],
    );
    return rows;
  };

  const budgetRowOf = async (userId: string) => {
    const { rows } = await db.query('select monthly_budget_cents from budgets where user_id = $1', [userId]);
    return rows[0] ?? null;
  };

  it('answers no budget, sets one, changes it and removes it (GET, PUT, DELETE)', async () => {
    const user = await signedUp();
    const month = calendarMonth();
    expect(await get(user.accessToken)).toEqual({
      status: 200,
      body: { data: { monthlyBudgetCents: null, usageCents: 0, percentUsed: null, alertState: 'ok', ...month } },
    });
    await spend(user.userId, 3_333); // $3.333, shown as 334 cents (rounded up)
    expect(await put(user.accessToken, { monthlyBudget: 19.99 })).toEqual({
      status: 200,
      body: { data: { monthlyBudgetCents: 1_999, usageCents: 334, percentUsed: 16.7, alertState: 'ok', ...month } },
    });
    expect(await put(user.accessToken, { monthlyBudget: 1_000_000 })).toMatchObject({
      status: 200,
      body: { data: { monthlyBudgetCents: 100_000_000, percentUsed: 0 } },
    });
    expect(await get(user.accessToken)).toEqual({
      status: 200,
      body: { data: { monthlyBudgetCents: 100_000_000, usageCents: 334, percentUsed: 0, alertState: 'ok', ...month } },
    });
    expect(await remove(user.accessToken)).toEqual({
      status: 200,
      body: { data: { monthlyBudgetCents: null, usageCents: 334, percentUsed: null, alertState: 'ok', ...month } },
    });
    expect(await budgetRowOf(user.userId)).toBeNull();
    expect(await remove(user.accessToken)).toMatchObject({ status: 200, body: { data: { monthlyBudgetCents: null } } });
    expect(await notificationsOf(user.userId)).toEqual([]);
  });

  it('alerts at 80% and at 100% exactly once each when 20 concurrent commits cross both', async () => {
    const user = await signedUp();
    const { periodStart } = calendarMonth();
    await put(user.accessToken, { monthlyBudget: 1 }); // $1.00: alerts at $0.80 and $1.00
    for (let i = 0; i < 7; i++) await spend(user.userId, 100); // $0.70, below 80%
    expect(await notificationsOf(user.userId)).toEqual([]);

    // 20 tasks of $0.10 at once, half with a reservation and half without: $0.70 -> $2.70.
    const runner = asTaskRunner(user.userId);
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const key = randomUUID();
        const hold = i % 2 === 0 ? await reserveUsage(db, runner, { estimatedCost: 100_000, idempotencyKey: key }, 900) : null;
        await commitUsage(db, runner, {
          reservationId: hold?.reservationId ?? undefined,
          agent: 'writer',
          tokens: 100,
          executionMs: 0,
          idempotencyKey: key,
        });
      }),
    );

    // Commits are serialised on the period row and each adds 10 cents, so the crossing commits
    // saw exactly $0.80 and $1.00.
    expect(await notificationsOf(user.userId)).toEqual([
      alert80('$0.80', '$1.00', { budgetCents: 100, usageCents: 80, periodStart }),
      alert100('$1.00', '$1.00', { budgetCents: 100, usageCents: 100, periodStart }),
    ]);
    expect(await get(user.accessToken)).toMatchObject({
      status: 200,
      body: { data: { monthlyBudgetCents: 100, usageCents: 270, percentUsed: 270, alertState: 'exceeded' } },
    });
    // More usage in the same period alerts no more.
    await spend(user.userId, 1_000);
    expect(await notificationsOf(user.userId)).toHaveLength(2);
  });

  it('alerts again in a new usage period', async () => {
    const user = await signedUp();
    const month = calendarMonth();
    await put(user.accessToken, { monthlyBudget: 1 });
    await spend(user.userId, 850); // $0.85 on Starter
    // A paid subscription starts a new period (on Pro, $0.0005 a token).
    const subscription = await subscribe(db, user.userId, 'pro', new Date(Date.now() - 3_600_000));
    const newPeriod = { periodStart: subscription.periodStart.toISOString(), periodEnd: subscription.periodEnd.toISOString() };
    expect(await get(user.accessToken)).toEqual({
      status: 200,
      body: { data: { monthlyBudgetCents: 100, usageCents: 0, percentUsed: 0, alertState: 'ok', ...newPeriod } },
    });
    await spend(user.userId, 1_700); // $0.85 on Pro, in the new period

    expect(await notificationsOf(user.userId)).toEqual([
      alert80('$0.85', '$1.00', { budgetCents: 100, usageCents: 85, periodStart: month.periodStart }),
      alert80('$0.85', '$1.00', { budgetCents: 100, usageCents: 85, periodStart: newPeriod.periodStart }),
    ]);
    expect(await get(user.accessToken)).toMatchObject({
      body: { data: { usageCents: 85, percentUsed: 85, alertState: 'warning', ...newPeriod } },
    });
  });

  it('alerts at once when a budget is set or lowered below current usage, once per threshold', async () => {
    const user = await signedUp();
    const { periodStart } = calendarMonth();
    await spend(user.userId, 9_000); // $9.00, no budget yet: no alert
    expect(await notificationsOf(user.userId)).toEqual([]);

    expect(await put(user.accessToken, { monthlyBudget: 10 })).toMatchObject({
      status: 200,
      body: { data: { monthlyBudgetCents: 1_000, usageCents: 900, percentUsed: 90, alertState: 'warning' } },
    });
    const at80 = alert80('$9.00', '$10.00', { budgetCents: 1_000, usageCents: 900, periodStart });
    expect(await notificationsOf(user.userId)).toEqual([at80]);
    await put(user.accessToken, { monthlyBudget: 10 }); // the same budget again: nothing new
    expect(await notificationsOf(user.userId)).toEqual([at80]);

    expect(await put(user.accessToken, { monthlyBudget: 9 })).toMatchObject({
      body: { data: { monthlyBudgetCents: 900, usageCents: 900, percentUsed: 100, alertState: 'exceeded' } },
    });
    const at100 = alert100('$9.00', '$9.00', { budgetCents: 900, usageCents: 900, periodStart });
    expect(await notificationsOf(user.userId)).toEqual([at80, at100]);

    // Raised again: back to ok; the alerts already sent stay, and none repeats in this period.
    expect(await put(user.accessToken, { monthlyBudget: 20 })).toMatchObject({ body: { data: { alertState: 'ok', percentUsed: 45 } } });
    await spend(user.userId, 9_000); // $18.00: 90% of $20, crossing 80% again in the same period
    expect(await notificationsOf(user.userId)).toEqual([at80, at100]);
  });

  // Invalid bodies, as data: [body, the answer's error]. Each must answer 400 and change nothing.
  const NOT_A_NUMBER = 'monthlyBudget must be a number of dollars';
  const OUT_OF_RANGE = 'monthlyBudget must be between 1 and 1000000 dollars';
  const invalid = (message: string, details: Array<{ path: string; message: string }> = [{ path: 'monthlyBudget', message }]) => ({
    code: 'validation_failed',
    message,
    details,
  });
  const INVALID_BODIES: Array<[unknown, ReturnType<typeof invalid>]> = [
    [{}, invalid(NOT_A_NUMBER)],
    [{ monthlyBudget: '25.00' }, invalid(NOT_A_NUMBER)],
    [{ monthlyBudget: null }, invalid(NOT_A_NUMBER)],
    [{ monthlyBudget: 0 }, invalid(OUT_OF_RANGE)],
    [{ monthlyBudget: 0.99 }, invalid(OUT_OF_RANGE)],
    [{ monthlyBudget: -10 }, invalid(OUT_OF_RANGE)],
    [{ monthlyBudget: 1_000_000.01 }, invalid(OUT_OF_RANGE)],
    [{ monthlyBudget: 1e21 }, invalid(OUT_OF_RANGE)],
    [{ monthlyBudget: 10.001 }, invalid('monthlyBudget must have at most 2 decimal places')],
    [
      { monthlyBudget: 25, currency: 'usd' },
      invalid('Unrecognized key: "currency"', [{ path: '', message: 'Unrecognized key: "currency"' }]),
    ],
    [
      { monthlyBudgetCents: 2_500 },
      invalid(NOT_A_NUMBER, [
        { path: 'monthlyBudget', message: NOT_A_NUMBER },
        { path: '', message: 'Unrecognized key: "monthlyBudgetCents"' },
      ]),
    ],
  ];

  it.each(INVALID_BODIES)('refuses %j with 400 and changes nothing', async (body, error) => {
    const user = await signedUp();
    await put(user.accessToken, { monthlyBudget: 5 });
    await spend(user.userId, 4_500); // 90% of $5: one alert so far
    const before = { budget: await budgetRowOf(user.userId), notifications: await notificationsOf(user.userId) };
    expect(before.notifications).toHaveLength(1);

    expect(await put(user.accessToken, body)).toEqual({ status: 400, body: { error } });
    expect({ budget: await budgetRowOf(user.userId), notifications: await notificationsOf(user.userId) }).toEqual(before);
  });

  it('refuses malformed JSON and bodies that are not objects', async () => {
    const user = await signedUp();
    expect(await call(putBudget, PATH, { method: 'PUT', token: user.accessToken, rawBody: '{"monthlyBudget": ' })).toEqual({
      status: 400,
      body: { error: { code: 'invalid_json', message: 'Request body must be valid JSON' } },
    });
    expect(await call(putBudget, PATH, { method: 'PUT', token: user.accessToken, rawBody: '[25]' })).toEqual({
      status: 400,
      body: { error: { code: 'validation_failed', message: 'Request body must be a JSON object' } },
    });
    expect(await budgetRowOf(user.userId)).toBeNull();
  });

  describe('authentication and isolation', () => {
    const unauthorized = (message: string) => ({ status: 401, body: { error: { code: 'unauthorized', message } } });
    const requests = {
      GET: (credentials: { token?: string; headers?: Record<string, string> }) => call(getBudget, PATH, { method: 'GET', ...credentials }),
      PUT: (credentials: { token?: string; headers?: Record<string, string> }) =>
        call(putBudget, PATH, { method: 'PUT', ...credentials, body: { monthlyBudget: 1 } }),
      DELETE: (credentials: { token?: string; headers?: Record<string, string> }) =>
        call(deleteBudget, PATH, { method: 'DELETE', ...credentials }),
    };

    // [case, credentials, expected answer]
    const cases: Array<[string, () => Promise<{ token?: string; headers?: Record<string, string> }>, ReturnType<typeof unauthorized>]> = [
      ['no credentials', async () => ({}), unauthorized('Sign in to continue')],
      ['a user-id header alone', async () => ({ headers: { 'user-id': randomUUID() } }), unauthorized('Sign in to continue')],
      [
        'a forged token',
        async () => ({
          token: await auth.signWithForeignKey({
            iss: `${auth.url}/auth/v1`,
            sub: randomUUID(),
            aud: 'authenticated',
            role: 'authenticated',
            exp: Math.floor(Date.now() / 1000) + 3600,
          }),
        }),
        unauthorized('Invalid access token'),
      ],
      ['the task runner key (budgets are the user’s own)', async () => ({ token: TASK_RUNNER_KEY }), unauthorized('Invalid access token')],
    ];

    it.each(
      cases.flatMap(([name, credentials, expected]) =>
        (Object.keys(requests) as Array<keyof typeof requests>).map((method) => [name, method, credentials, expected] as const),
      ),
    )('refuses %s on %s with 401 and writes nothing', async (_name, method, credentials, expected) => {
      const { rows: before } = await db.query('select user_id, monthly_budget_cents from budgets order by user_id');
      expect(await requests[method](await credentials())).toEqual(expected);
      const { rows: after } = await db.query('select user_id, monthly_budget_cents from budgets order by user_id');
      expect(after).toEqual(before);
    });

    it("does not let user A see or change user B's budget", async () => {
      const a = await signedUp();
      const b = await signedUp();
      await put(b.accessToken, { monthlyBudget: 30 });

      expect(await get(a.accessToken)).toMatchObject({ status: 200, body: { data: { monthlyBudgetCents: null } } });
      expect(await put(a.accessToken, { monthlyBudget: 10 })).toMatchObject({ status: 200, body: { data: { monthlyBudgetCents: 1_000 } } });
      expect(await put(a.accessToken, { monthlyBudget: 1, userId: b.userId })).toEqual({
        status: 403,
        body: { error: { code: 'forbidden', message: 'You can only act for your own account' } },
      });
      expect(await remove(a.accessToken)).toMatchObject({ status: 200, body: { data: { monthlyBudgetCents: null } } });

      expect(await budgetRowOf(b.userId)).toEqual({ monthly_budget_cents: 3_000 });
      expect(await budgetRowOf(a.userId)).toBeNull();
      expect(await get(b.accessToken)).toMatchObject({ status: 200, body: { data: { monthlyBudgetCents: 3_000 } } });
      // A's usage never alerts against B's budget.
      await spend(a.userId, 30_000);
      expect(await notificationsOf(b.userId)).toEqual([]);
    });
  });
});
