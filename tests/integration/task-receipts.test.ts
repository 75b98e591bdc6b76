import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET as exportRoute } from '@/app/api/payments/tasks/export/route';
import { GET as tasksRoute } from '@/app/api/payments/tasks/route';
import { csvField, csvLine } from '@/lib/billing/csv';
import { listTaskReceipts, microsAsDollars } from '@/lib/billing/task-receipts';
import { getTaskReceiptsQuerySchema } from '@/lib/billing/task-receipt-schemas';
import { commitUsage, reserveUsage } from '@/lib/billing/usage';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { backends } from '@/tests/helpers/databases';
import { asTaskRunner } from '@/tests/helpers/users';

// A receipt for every task, through the real routes with real JWTs on PostgreSQL 15 and PGlite:
// the ledger is read as the user (RLS), never another user's rows; scopes (period, invoice,
// top-up), agent and date filters, keyset pages that stay stable while tasks are added, and the
// CSV export with hostile agent names.

let auth: TestAuth;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
});
afterAll(async () => auth.close());

type Answer = { status: number; body: { data?: any; error?: { code: string; message: string } } };

async function get(search: string, token?: string): Promise<Answer> {
  const headers = new Headers(token ? { authorization: `Bearer ${token}` } : {});
  const response = await tasksRoute(new Request(`http://app.test/api/payments/tasks${search}`, { headers }));
  return { status: response.status, body: await response.json() };
}

async function exportCsv(search: string, token?: string) {
  const headers = new Headers(token ? { authorization: `Bearer ${token}` } : {});
  const response = await exportRoute(new Request(`http://app.test/api/payments/tasks/export${search}`, { headers }));
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** A user signed up through supabase-js, with their row created by a first request. */
async function signedUp() {
  const user = await auth.signUp();
  expect((await get('', user.accessToken)).status).toBe(200);
  return user;
}

/** A task recorded in the ledger at a chosen time (as the system; the runner's path is tested below). */
async function taskAt(db: Database, userId: string, at: string, agent: string, tokens: number, key: string) {
  await db.query(
    `insert into usage_events (user_id, period_start, agent, tokens, execution_ms, plan_id, token_rate_micros,
       minute_rate_micros, cost_micros, idempotency_key, created_at)
     values ($1, date_trunc('month', $2::timestamptz at time zone 'UTC') at time zone 'UTC', $3, $4::bigint, 0, 'starter', 1000, 100000, $4::bigint * 1000, $5, $2)`,
    [userId, at, agent, tokens, key],
  );
}

/** Reads every page of a query, `limit` at a time, calling `between` after each page. */
async function allPages(search: string, token: string, limit: number, between?: (page: number) => Promise<void>) {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const answer: Answer = await get(`${search}${search ? '&' : '?'}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, token);
    expect(answer.status).toBe(200);
    ids.push(...answer.body.data.tasks.map((task: { id: string }) => task.id));
    cursor = answer.body.data.nextCursor;
    if (!cursor) return ids;
    await between?.(page);
  }
  throw new Error('too many pages');
}

/** CSV text into rows of fields (RFC 4180 quoting), to check what a spreadsheet would read. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += char;
  }
  if (field !== '' || row.length > 0) throw new Error('CSV does not end with CRLF');
  return rows;
}

describe('CSV fields', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['=1+1', "'=1+1"],
    ['+1', "'+1"],
    ['-1', "'-1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['\tx', "'\tx"],
    ['=HYPERLINK("http://x","y")', `"'=HYPERLINK(""http://x"",""y"")"`],
    ['a=b', 'a=b'],
  ])('%j is written as %j', (text, written) => {
    expect(csvField({ text })).toBe(written);
  });

  it('leaves numbers and our own values unguarded, and ends lines with CRLF', () => {
    expect(csvLine([-1, '0.001000', null, { text: '-x' }])).toBe("-1,0.001000,,'-x\r\n");
  });

  it('writes micro-dollars exactly', () => {
    expect([microsAsDollars(0), microsAsDollars(1), microsAsDollars(1_500), microsAsDollars(52_730_833)]).toEqual([
      '0.000000',
      '0.000001',
      '0.001500',
      '52.730833',
    ]);
  });
});

describe.each(backends())('task receipts on $name', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await backend.open();
    useDatabase(db);
  });
  afterAll(async () => db.close());

  it('answers 401 without a session and 400 for a bad query, in the error shape', async () => {
    expect(await get('')).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: 'Sign in to continue' } } });
    expect((await exportCsv('')).status).toBe(401);
    const { accessToken } = await signedUp();
    const cases: [string, string][] = [
      ['?from=2026-02-30', 'from must be a real calendar date'],
      ['?from=yesterday', 'from must be a date as YYYY-MM-DD'],
      ['?from=2026-11-02&to=2026-11-01', 'to must not be before from'],
      ['?payment=ch_123', 'payment must be a payment (pi_…) or an invoice (in_…) id'],
      ['?period=2026-11-01T00:00:00Z&payment=in_1', 'Give a period or a payment, not both'],
      ['?limit=0', 'limit must be a whole number between 1 and 100'],
      ['?limit=101', 'limit must be a whole number between 1 and 100'],
      ['?agent=' + 'x'.repeat(101), 'agent must be at most 100 characters'],
      ['?cursor=bm90LWEtY3Vyc29y', 'cursor is not valid'],
      ['?userId=someone', 'Unrecognized key: "userId"'],
      ['?agent=a%00b', 'must not contain NUL'],
    ];
    for (const [search, message] of cases) {
      const answer = await get(search, accessToken);
      expect(answer.status, search).toBe(400);
      expect(answer.body.error?.code, search).toBe('validation_failed');
      expect(answer.body.error?.message, search).toContain(message);
    }
    expect((await exportCsv('?to=2026-13-01', accessToken)).status).toBe(400);
  });

  it("shows the user's own tasks with reserved beside actual, and never another user's", async () => {
    const a = await signedUp();
    const b = await signedUp();
    const runnerA = asTaskRunner(a.userId);
    const hold = await reserveUsage(db, runnerA, { estimatedCost: 2_000_000, idempotencyKey: 'hold-1' }, 900);
    expect(hold.allowed).toBe(true);
    await commitUsage(db, runnerA, {
      reservationId: hold.reservationId!,
      agent: 'researcher',
      tokens: 1_200,
      executionMs: 90_000,
      idempotencyKey: 'task-1',
    });
    await commitUsage(db, runnerA, { agent: 'writer', tokens: 10, executionMs: 0, idempotencyKey: 'task-2' });
    await commitUsage(db, asTaskRunner(b.userId), { agent: 'b-secret-agent', tokens: 7, executionMs: 0, idempotencyKey: 'task-b' });

    const answer = await get('', a.accessToken);
    expect(answer.status).toBe(200);
    const { data } = answer.body;
    expect(data.scope).toEqual({ kind: 'all', start: null, end: null });
    expect(data.tasks.map((task: { agent: string }) => task.agent)).toEqual(['writer', 'researcher']);
    // Starter: 1,200 tokens x $0.001 + 1.5 minutes x $0.10 = $1.35, reserved $2.00.
    expect(data.tasks[1]).toMatchObject({
      agent: 'researcher',
      planId: 'starter',
      tokens: 1_200,
      executionMs: 90_000,
      tokenRateMicros: 1_000,
      minuteRateMicros: 100_000,
      costMicros: 1_350_000,
      reservedMicros: 2_000_000,
    });
    expect(data.tasks[0]).toMatchObject({ agent: 'writer', costMicros: 10_000, reservedMicros: null });
    expect(data.totals).toEqual({ tasks: 2, costMicros: 1_360_000, reservedMicros: 2_000_000 });
    expect(data.agents.sort()).toEqual(['researcher', 'writer']);

    // B's view holds only B's task; naming B's agent from A finds nothing.
    const seenByB = await get('', b.accessToken);
    expect(seenByB.body.data.tasks.map((task: { agent: string }) => task.agent)).toEqual(['b-secret-agent']);
    expect((await get('?agent=b-secret-agent', a.accessToken)).body.data.tasks).toEqual([]);
    const csv = await exportCsv('', a.accessToken);
    expect(csv.text).not.toContain('b-secret-agent');

    // The reads run under RLS, not as the system: an actor whose verified claims are B's but who
    // names A (a bug that mixed the two up) sees none of A's tasks.
    const claimsOfB = { sub: b.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 600 };
    const mixedUp = await listTaskReceipts(db, { kind: 'user', userId: a.userId, claims: claimsOfB }, getTaskReceiptsQuerySchema.parse({}));
    expect(mixedUp.tasks).toEqual([]);
    expect(mixedUp.totals.tasks).toBe(0);
  });

  it("refuses another user's invoice and top-up as not found, and a failed top-up in words", async () => {
    const a = await signedUp();
    const b = await signedUp();
    await db.query(
      `insert into invoices (id, user_id, subscription_id, status, billing_reason, amount_due_cents, amount_paid_cents, period_start, period_end, stripe_created)
       values ($1, $2, 'sub_b', 'paid', 'subscription_cycle', 5000, 5000, '2026-10-01Z', '2026-11-01Z', '2026-10-01Z')`,
      [`in_b_${b.userId.slice(0, 8)}`, b.userId],
    );
    await db.query(
      `insert into payment_attempts (user_id, amount_cents, payment_intent_id, status, succeeded_at) values ($1, 1500, $2, 'succeeded', now()),
         ($3, 1500, $4, 'failed', null)`,
      [b.userId, `pi_b_${b.userId.slice(0, 8)}`, a.userId, `pi_a_failed_${a.userId.slice(0, 8)}`],
    );
    for (const payment of [`in_b_${b.userId.slice(0, 8)}`, `pi_b_${b.userId.slice(0, 8)}`]) {
      const answer = await get(`?payment=${payment}`, a.accessToken);
      expect(answer.status).toBe(404);
      expect(answer.body.error?.code).toBe('not_found');
      expect((await exportCsv(`?payment=${payment}`, a.accessToken)).status).toBe(404);
      expect((await get(`?payment=${payment}`, b.accessToken)).status).toBe(200);
    }
    expect(await get(`?payment=pi_a_failed_${a.userId.slice(0, 8)}`, a.accessToken)).toEqual({
      status: 422,
      body: { error: { code: 'unprocessable', message: 'This payment did not go through, so it paid for no tasks' } },
    });
    expect((await get('?period=2020-01-01T00:00:00Z', a.accessToken)).status).toBe(404);
  });

  it('scopes to an invoice, a top-up and a period, and filters by agent and dates', async () => {
    const a = await signedUp();
    // October: three tasks; November: two. The October invoice bills October.
    await taskAt(db, a.userId, '2026-09-30T23:59:59.999Z', 'planner', 1, 'sep');
    await taskAt(db, a.userId, '2026-10-01T00:00:00Z', 'planner', 10, 'oct-1');
    await taskAt(db, a.userId, '2026-10-15T12:00:00Z', 'coder', 20, 'oct-15');
    await taskAt(db, a.userId, '2026-10-31T23:59:59.999Z', 'coder', 30, 'oct-31');
    await taskAt(db, a.userId, '2026-11-01T00:00:00Z', 'coder', 40, 'nov-1');
    const invoiceId = `in_a_${a.userId.slice(0, 8)}`;
    await db.query(
      `insert into invoices (id, user_id, subscription_id, status, billing_reason, amount_due_cents, amount_paid_cents, period_start, period_end, stripe_created)
       values ($1, $2, 'sub_a', 'paid', 'subscription_cycle', 5000, 5000, '2026-10-01Z', '2026-11-01Z', '2026-10-01Z')`,
      [invoiceId, a.userId],
    );
    await db.query(
      `insert into user_usage (user_id, period_start, period_end, plan_id, allowance_micros) values ($1, '2026-10-01Z', '2026-11-01Z', 'pro', 50000000)`,
      [a.userId],
    );
    const topUpId = `pi_a_${a.userId.slice(0, 8)}`;
    await db.query(
      `insert into payment_attempts (user_id, amount_cents, payment_intent_id, status, succeeded_at) values ($1, 1500, $2, 'succeeded', '2026-10-10T00:00:00Z')`,
      [a.userId, topUpId],
    );
    const tokensOf = (answer: Answer) => answer.body.data.tasks.map((task: { tokens: number }) => task.tokens);

    const invoice = await get(`?payment=${invoiceId}`, a.accessToken);
    expect(invoice.body.data.scope).toEqual({
      kind: 'invoice',
      id: invoiceId,
      issuedAt: '2026-10-01T00:00:00.000Z',
      start: '2026-10-01T00:00:00.000Z',
      end: '2026-11-01T00:00:00.000Z',
      amountCents: 5000,
      billingReason: 'subscription_cycle',
    });
    expect(tokensOf(invoice)).toEqual([30, 20, 10]);
    // The top-up paid on October 10th: the October tasks from then on.
    const topUp = await get(`?payment=${topUpId}`, a.accessToken);
    expect(topUp.body.data.scope).toMatchObject({
      kind: 'top_up',
      start: '2026-10-10T00:00:00.000Z',
      end: '2026-11-01T00:00:00.000Z',
      amountCents: 1500,
    });
    expect(tokensOf(topUp)).toEqual([30, 20]);
    const period = await get('?period=2026-10-01T00:00:00.000Z', a.accessToken);
    expect(tokensOf(period)).toEqual([30, 20, 10]);

    expect(tokensOf(await get(`?payment=${invoiceId}&agent=coder`, a.accessToken))).toEqual([30, 20]);
    // Dates are whole UTC days, both ends included, and narrow the scope, never widen it.
    expect(tokensOf(await get('?from=2026-10-15&to=2026-10-31', a.accessToken))).toEqual([30, 20]);
    expect(tokensOf(await get('?to=2026-09-30', a.accessToken))).toEqual([1]);
    expect(tokensOf(await get(`?payment=${invoiceId}&from=2026-09-01&to=2026-12-31`, a.accessToken))).toEqual([30, 20, 10]);
    expect(tokensOf(await get('?from=2026-11-01&agent=coder', a.accessToken))).toEqual([40]);
    // The agent list stays whole while an agent is chosen.
    expect((await get(`?payment=${invoiceId}&agent=coder`, a.accessToken)).body.data.agents).toEqual(['coder', 'planner']);

    const csv = await exportCsv(`?payment=${invoiceId}&agent=coder`, a.accessToken);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe(`attachment; filename="tasks-${invoiceId}.csv"`);
    const rows = parseCsv(csv.text);
    expect(rows[0]).toEqual([
      'time_utc',
      'agent',
      'plan',
      'tokens',
      'execution_ms',
      'minutes',
      'token_rate_usd',
      'minute_rate_usd',
      'reserved_usd',
      'cost_usd',
      'task_id',
    ]);
    expect(rows.slice(1).map((row) => row.slice(0, 10))).toEqual([
      ['2026-10-31T23:59:59.999000Z', 'coder', 'starter', '30', '0', '0.000', '0.001000', '0.100000', '', '0.030000'],
      ['2026-10-15T12:00:00.000000Z', 'coder', 'starter', '20', '0', '0.000', '0.001000', '0.100000', '', '0.020000'],
    ]);
    const periodCsv = await exportCsv('?period=2026-10-01T00:00:00.000Z', a.accessToken);
    expect(periodCsv.headers.get('content-disposition')).toBe('attachment; filename="tasks-period-2026-10-01.csv"');
    expect(parseCsv(periodCsv.text)).toHaveLength(4);
  });

  it('a credited top-up lists exactly the tasks its credit paid for, from the credits ledger', async () => {
    const a = await signedUp();
    const runner = asTaskRunner(a.userId);
    const topUpId = `pi_grant_${a.userId.slice(0, 8)}`;
    await db.query(
      `insert into payment_attempts (user_id, amount_cents, payment_intent_id, status, succeeded_at) values ($1, 500, $2, 'succeeded', now())`,
      [a.userId, topUpId],
    );
    await db.query("select * from app_private.grant_credit($1, 5000000, 'payment_intent', $2, 'test')", [a.userId, topUpId]);
    // Starter's $10 allowance pays the first $10; then the $5 credit.
    await commitUsage(db, runner, { agent: 'within-allowance', tokens: 6_000, executionMs: 0, idempotencyKey: 'g1' });
    await commitUsage(db, runner, { agent: 'crosses', tokens: 6_000, executionMs: 0, idempotencyKey: 'g2' });
    await commitUsage(db, runner, { agent: 'on-credit', tokens: 1_000, executionMs: 0, idempotencyKey: 'g3' });
    const answer = await get(`?payment=${topUpId}`, a.accessToken);
    expect(answer.status).toBe(200);
    expect(answer.body.data.scope).toMatchObject({ kind: 'top_up', id: topUpId, end: null, amountCents: 500 });
    expect(answer.body.data.scope.grantId).toMatch(/^[0-9a-f-]{36}$/);
    expect(answer.body.data.tasks.map((task: { agent: string }) => task.agent)).toEqual(['on-credit', 'crosses']);
    expect(answer.body.data.totals).toMatchObject({ tasks: 2, costMicros: 7_000_000 });
    const rows = parseCsv((await exportCsv(`?payment=${topUpId}`, a.accessToken)).text);
    expect(rows.slice(1).map((row) => row[1])).toEqual(['on-credit', 'crosses']);
  });

  it('pages by keyset: tasks of one instant are neither skipped nor repeated, and new tasks do not shift later pages', async () => {
    const a = await signedUp();
    // Five tasks in the same microsecond (one transaction's now()), five more a second apart.
    await db.query(
      `insert into usage_events (user_id, period_start, agent, tokens, execution_ms, plan_id, token_rate_micros, minute_rate_micros, cost_micros, idempotency_key, created_at)
       select $1, '2026-10-01Z', 'same-instant', n, 0, 'starter', 1000, 100000, n * 1000, 'same-' || n, '2026-10-05T10:00:00.123456Z' from generate_series(1, 5) n`,
      [a.userId],
    );
    for (let n = 0; n < 5; n++) await taskAt(db, a.userId, `2026-10-05T10:00:0${n + 1}Z`, 'spaced', 100 + n, `spaced-${n}`);
    const before = await allPages('', a.accessToken, 3);
    expect(before).toHaveLength(10);
    expect(new Set(before).size).toBe(10);

    // While paging, the runner commits new tasks (now, newer than all of them).
    let added = 0;
    const during = await allPages('', a.accessToken, 3, async () => {
      await commitUsage(db, asTaskRunner(a.userId), { agent: 'late', tokens: 1, executionMs: 0, idempotencyKey: `late-${added++}` });
    });
    // The first page was read before any was added; later pages continue where it stopped.
    expect(during).toEqual(before);
    expect((await allPages('', a.accessToken, 100)).length).toBe(10 + added);

    // The export reads every page too (more than one chunk is covered by the chunk size's own test below).
    const rows = parseCsv((await exportCsv('?to=2026-10-31', a.accessToken)).text);
    expect(rows.slice(1).map((row) => row[10])).toEqual(before);
  });

  it('exports hostile agent names so a spreadsheet reads them as text in one cell', async () => {
    const a = await signedUp();
    const names = ['Smith, "Jr" bot', 'multi\nline\r\nagent', '=HYPERLINK("http://evil.test","click")', '+cmd', '@SUM(A1:A2)', '-2+3'];
    for (const [index, agent] of names.entries()) {
      await commitUsage(db, asTaskRunner(a.userId), { agent, tokens: index + 1, executionMs: 0, idempotencyKey: `hostile-${index}` });
    }
    const rows = parseCsv((await exportCsv('', a.accessToken)).text);
    expect(rows).toHaveLength(1 + names.length);
    for (const row of rows) expect(row).toHaveLength(11);
    const byTokens = new Map(rows.slice(1).map((row) => [Number(row[3]), row[1]]));
    expect(names.map((_, index) => byTokens.get(index + 1))).toEqual([
      'Smith, "Jr" bot',
      'multi\nline\r\nagent',
      `'=HYPERLINK("http://evil.test","click")`,
      "'+cmd",
      "'@SUM(A1:A2)",
      "'-2+3",
    ]);
    // The JSON answer carries the name as it is.
    const answer = await get(`?agent=${encodeURIComponent('=HYPERLINK("http://evil.test","click")')}`, a.accessToken);
    expect(answer.body.data.tasks.map((task: { agent: string }) => task.agent)).toEqual(['=HYPERLINK("http://evil.test","click")']);
  });

  it('exports more tasks than one chunk, each once, in order', async () => {
    const a = await signedUp();
    await db.query(
      `insert into usage_events (user_id, period_start, agent, tokens, execution_ms, plan_id, token_rate_micros, minute_rate_micros, cost_micros, idempotency_key, created_at)
       select $1, '2026-10-01Z', 'bulk', n, 0, 'starter', 1000, 100000, n * 1000, 'bulk-' || n, '2026-10-02Z'::timestamptz + (n / 3) * interval '1 ms'
       from generate_series(1, 2500) n`,
      [a.userId],
    );
    const rows = parseCsv((await exportCsv('', a.accessToken)).text).slice(1);
    expect(rows).toHaveLength(2500);
    expect(new Set(rows.map((row) => row[10])).size).toBe(2500);
    const times = rows.map((row) => row[0]!);
    expect([...times].sort().reverse()).toEqual(times);
  });
});
