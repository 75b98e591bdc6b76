import { asActor, type Actor } from '@/lib/auth/actor';
import type { Database, Queryable } from '@/lib/db';
import { csvLine } from '@/lib/billing/csv';
import type { PlanId } from '@/lib/billing/plans';
import type { GetTaskReceiptsQuery, TaskReceiptsFilter } from '@/lib/billing/task-receipt-schemas';
import { AppError } from '@/lib/http/errors';

// A receipt for every task: the tasks behind a usage period or a payment, each with its time,
// agent, tokens, minutes, the rates it was priced at, its cost and what was reserved for it.
// Everything is read as the actor, through RLS (a user sees their own ledger and nothing else),
// and every query also names the user, so an operator reading their own receipts (whose RLS
// lets them read every user's ledger) still sees only theirs.
//
// The tasks behind a payment:
//   - a subscription invoice (in_…) paid for a usage period: the tasks of the period it bills;
//   - a top-up (pi_…) is a credit grant: the tasks its credit paid for, from the credits ledger
//     (credit_movements of kind 'usage' naming the task's event). A top-up that has no grant yet
//     (its webhook not handled) falls back to the tasks from its payment to the end of the usage
//     period it was paid in.

export type TaskScope =
  | { kind: 'all'; start: null; end: null }
  | { kind: 'period'; start: string; end: string }
  | { kind: 'invoice'; id: string; issuedAt: string; start: string; end: string; amountCents: number; billingReason: string | null }
  | { kind: 'top_up'; id: string; start: string; end: string | null; amountCents: number; grantId: string | null };

export interface TaskReceipt {
  id: string;
  at: string;
  agent: string;
  planId: PlanId;
  tokens: number;
  executionMs: number;
  tokenRateMicros: number;
  minuteRateMicros: number;
  costMicros: number;
  /** What the task runner held for the task before it ran; null for a task committed unreserved. */
  reservedMicros: number | null;
}

export interface TaskReceiptPage {
  scope: TaskScope;
  totals: { tasks: number; costMicros: number; reservedMicros: number };
  /** The agents seen in the scope (for the filter), most used first. */
  agents: string[];
  tasks: TaskReceipt[];
  nextCursor: string | null;
}

interface Window {
  start: Date | null;
  end: Date | null;
  /** Only the tasks this credit grant paid for. */
  grantId: string | null;
  /** Only the tasks counted in the usage period starting then (a period's or an invoice's). */
  periodStart: Date | null;
}

interface ReceiptRow {
  id: string;
  at_text: string;
  agent: string;
  plan_id: PlanId;
  tokens: number;
  execution_ms: number;
  token_rate_micros: number;
  minute_rate_micros: number;
  cost_micros: number;
  reserved_micros: number | null;
}

// ---- scope ------------------------------------------------------------------------------------

async function periodEndingAfter(tx: Queryable, userId: string, at: Date): Promise<Date> {
  const stored = await tx.query<{ period_end: Date }>(
    `select period_end from public.user_usage
     where user_id = $1 and period_start <= $2 and period_end > $2 order by period_start desc limit 1`,
    [userId, at],
  );
  if (stored.rows[0]) return stored.rows[0].period_end;
  const inForce = await tx.query<{ period_end: Date }>('select period_end from app_private.period_in_force($1, $2)', [userId, at]);
  return inForce.rows[0]!.period_end;
}

async function resolveScope(tx: Queryable, userId: string, filter: TaskReceiptsFilter): Promise<TaskScope> {
  if (filter.period) {
    const start = new Date(filter.period);
    const stored = await tx.query<{ period_start: Date; period_end: Date }>(
      `select period_start, period_end from public.user_usage where user_id = $1 and period_start = $2
       union all
       select period_start, period_end from app_private.period_in_force($1) where period_start = $2
       limit 1`,
      [userId, start],
    );
    const row = stored.rows[0];
    if (!row) throw new AppError('not_found', 'You have no usage period starting at that time');
    return { kind: 'period', start: row.period_start.toISOString(), end: row.period_end.toISOString() };
  }
  if (filter.payment?.startsWith('in_')) {
    const found = await tx.query<{
      id: string;
      period_start: Date | null;
      period_end: Date | null;
      amount_due_cents: number;
      billing_reason: string | null;
      stripe_created: Date;
    }>(
      `select id, period_start, period_end, amount_due_cents, billing_reason, stripe_created from public.invoices
       where user_id = $1 and id = $2 and status <> 'draft'`,
      [userId, filter.payment],
    );
    const invoice = found.rows[0];
    if (!invoice) throw new AppError('not_found', 'You have no invoice with that id');
    if (!invoice.period_start || !invoice.period_end) {
      throw new AppError('unprocessable', 'This invoice bills no usage period, so no tasks belong to it');
    }
    return {
      kind: 'invoice',
      id: invoice.id,
      issuedAt: invoice.stripe_created.toISOString(),
      start: invoice.period_start.toISOString(),
      end: invoice.period_end.toISOString(),
      amountCents: invoice.amount_due_cents,
      billingReason: invoice.billing_reason,
    };
  }
  if (filter.payment) {
    const found = await tx.query<{ payment_intent_id: string; amount_cents: number; status: string; paid_at: Date }>(
      `select payment_intent_id, amount_cents, status, coalesce(succeeded_at, updated_at) as paid_at from public.payment_attempts
       where user_id = $1 and payment_intent_id = $2 and kind = 'usage_topup'`,
      [userId, filter.payment],
    );
    const payment = found.rows[0];
    if (!payment) throw new AppError('not_found', 'You have no top-up with that id');
    if (payment.status !== 'succeeded') throw new AppError('unprocessable', 'This payment did not go through, so it paid for no tasks');
    const grant = await tx.query<{ id: string }>(
      `select id from public.credit_grants where user_id = $1 and source = 'payment_intent' and source_id = $2`,
      [userId, payment.payment_intent_id],
    );
    const grantId = grant.rows[0]?.id ?? null;
    const end = grantId ? null : (await periodEndingAfter(tx, userId, payment.paid_at)).toISOString();
    return {
      kind: 'top_up',
      id: payment.payment_intent_id,
      start: payment.paid_at.toISOString(),
      end,
      amountCents: payment.amount_cents,
      grantId,
    };
  }
  return { kind: 'all', start: null, end: null };
}

/** The scope's time window narrowed to the from/to days (whole UTC days, both included). */
function windowOf(scope: TaskScope, filter: TaskReceiptsFilter): Window {
  const from = filter.from ? new Date(`${filter.from}T00:00:00Z`) : null;
  const to = filter.to ? new Date(Date.parse(`${filter.to}T00:00:00Z`) + 86_400_000) : null;
  const grantId = scope.kind === 'top_up' ? scope.grantId : null;
  // A period's tasks (and an invoice's, which bills a period) are those counted in it, whenever
  // they ran: a task run while a renewal was past due counts in the last paid period (the grace),
  // after that period's end. A grant names its tasks; its purchase time is no bound either (it may
  // pay what was owed before). Only a top-up without a grant falls back to times.
  const byPeriod = scope.kind === 'period' || scope.kind === 'invoice';
  const periodStart = byPeriod && scope.start ? new Date(scope.start) : null;
  const scopeStart = scope.start && !grantId && !byPeriod ? new Date(scope.start) : null;
  const scopeEnd = scope.end && !byPeriod ? new Date(scope.end) : null;
  const later = (a: Date | null, b: Date | null) => (a && b ? (a > b ? a : b) : (a ?? b));
  const earlier = (a: Date | null, b: Date | null) => (a && b ? (a < b ? a : b) : (a ?? b));
  return { start: later(scopeStart, from), end: earlier(scopeEnd, to), grantId, periodStart };
}

// ---- cursor -----------------------------------------------------------------------------------

// The cursor is the (time, id) of the last task shown. The time is kept at the database's
// microsecond precision: a JavaScript Date would round it to milliseconds and skip or repeat tasks.
function encodeCursor(row: ReceiptRow): string {
  return Buffer.from(`${row.at_text}|${row.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: string; id: string } {
  const [at = '', id = ''] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const valid =
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(at) &&
    /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id) &&
    // A real moment: Date.parse quietly turns Feb 30 into Mar 2, which PostgreSQL refuses.
    !Number.isNaN(Date.parse(at)) &&
    new Date(at).toISOString().slice(0, 19) === at.slice(0, 19);
  if (!valid) throw new AppError('validation_failed', 'cursor is not valid');
  return { at, id };
}

// ---- reads ------------------------------------------------------------------------------------

const FILTER = `e.user_id = $1
  and ($2::timestamptz is null or e.created_at >= $2::timestamptz)
  and ($3::timestamptz is null or e.created_at < $3::timestamptz)
  and ($4::text is null or e.agent = $4::text)
  and ($6::timestamptz is null or e.period_start = $6::timestamptz)
  and ($5::uuid is null or exists (
    select 1 from public.credit_movements m
    where m.grant_id = $5::uuid and m.user_id = e.user_id and m.kind = 'usage' and m.reference = 'usage_event:' || e.id::text))`;

async function readPage(
  tx: Queryable,
  userId: string,
  window: Window,
  agent: string | null,
  after: { at: string; id: string } | null,
  limit: number,
): Promise<ReceiptRow[]> {
  const result = await tx.query<ReceiptRow>(
    `select e.id, to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at_text, e.agent, e.plan_id,
            e.tokens, e.execution_ms, e.token_rate_micros, e.minute_rate_micros, e.cost_micros, r.amount_micros as reserved_micros
     from public.usage_events e
     left join public.usage_reservations r on r.id = e.reservation_id and r.user_id = e.user_id
     where ${FILTER}
       and ($7::timestamptz is null or (e.created_at, e.id) < ($7::timestamptz, $8::uuid))
     order by e.created_at desc, e.id desc
     limit $9`,
    [userId, window.start, window.end, agent, window.grantId, window.periodStart, after?.at ?? null, after?.id ?? null, limit],
  );
  return result.rows;
}

function toReceipt(row: ReceiptRow): TaskReceipt {
  return {
    id: row.id,
    at: row.at_text,
    agent: row.agent,
    planId: row.plan_id,
    tokens: row.tokens,
    executionMs: row.execution_ms,
    tokenRateMicros: row.token_rate_micros,
    minuteRateMicros: row.minute_rate_micros,
    costMicros: row.cost_micros,
    reservedMicros: row.reserved_micros,
  };
}

/** One page of the tasks in scope, newest first, with the scope's totals and agents. */
export async function listTaskReceipts(db: Database, actor: Actor, query: GetTaskReceiptsQuery): Promise<TaskReceiptPage> {
  const after = query.cursor ? decodeCursor(query.cursor) : null;
  return asActor(db, actor, async (tx) => {
    const scope = await resolveScope(tx, actor.userId, query);
    const window = windowOf(scope, query);
    const agent = query.agent ?? null;
    const rows = await readPage(tx, actor.userId, window, agent, after, query.limit + 1);
    const totals = await tx.query<{ tasks: number; cost_micros: number; reserved_micros: number }>(
      `select count(*)::bigint as tasks, coalesce(sum(e.cost_micros), 0)::bigint as cost_micros,
              coalesce(sum(r.amount_micros), 0)::bigint as reserved_micros
       from public.usage_events e
       left join public.usage_reservations r on r.id = e.reservation_id and r.user_id = e.user_id
       where ${FILTER}`,
      [actor.userId, window.start, window.end, agent, window.grantId, window.periodStart],
    );
    // The agents of the scope and dates, whatever agent is chosen, so the filter can be changed.
    const agents = await tx.query<{ agent: string }>(
      `select e.agent from public.usage_events e where ${FILTER} group by e.agent order by count(*) desc, e.agent limit 100`,
      [actor.userId, window.start, window.end, null, window.grantId, window.periodStart],
    );
    const page = rows.slice(0, query.limit);
    const sums = totals.rows[0]!;
    return {
      scope,
      totals: { tasks: sums.tasks, costMicros: sums.cost_micros, reservedMicros: sums.reserved_micros },
      agents: agents.rows.map((row) => row.agent),
      tasks: page.map(toReceipt),
      nextCursor: rows.length > query.limit ? encodeCursor(page[page.length - 1]!) : null,
    };
  });
}

// ---- CSV --------------------------------------------------------------------------------------

/** Micro-dollars as an exact decimal number of dollars: 1500 -> "0.001500". */
export function microsAsDollars(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  return `${sign}${Math.floor(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, '0')}`;
}

export const TASK_CSV_HEADER = [
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
];

function csvRow(row: ReceiptRow): string {
  return csvLine([
    row.at_text,
    { text: row.agent },
    row.plan_id,
    row.tokens,
    row.execution_ms,
    (row.execution_ms / 60_000).toFixed(3),
    microsAsDollars(row.token_rate_micros),
    microsAsDollars(row.minute_rate_micros),
    row.reserved_micros === null ? null : microsAsDollars(row.reserved_micros),
    microsAsDollars(row.cost_micros),
    row.id,
  ]);
}

const CSV_CHUNK = 1_000;

/**
 * Every task in scope as CSV lines, newest first, read a chunk at a time (each chunk its own RLS
 * transaction; the keyset cursor keeps the chunks consistent). The scope is resolved before the
 * first line, so a scope that is not the user's fails before anything is sent.
 */
export async function exportTaskReceiptsCsv(
  db: Database,
  actor: Actor,
  filter: TaskReceiptsFilter,
): Promise<{ scope: TaskScope; lines: AsyncGenerator<string> }> {
  const scope = await asActor(db, actor, (tx) => resolveScope(tx, actor.userId, filter));
  const window = windowOf(scope, filter);
  const agent = filter.agent ?? null;
  async function* lines(): AsyncGenerator<string> {
    yield csvLine(TASK_CSV_HEADER);
    let after: { at: string; id: string } | null = null;
    for (;;) {
      const cursor: { at: string; id: string } | null = after;
      const rows: ReceiptRow[] = await asActor(db, actor, (tx) => readPage(tx, actor.userId, window, agent, cursor, CSV_CHUNK));
      if (rows.length > 0) yield rows.map(csvRow).join('');
      if (rows.length < CSV_CHUNK) return;
      const last: ReceiptRow = rows[rows.length - 1]!;
      after = { at: last.at_text, id: last.id };
    }
  }
  return { scope, lines: lines() };
}

/** A file name for the export: the scope it covers. */
export function taskCsvFileName(scope: TaskScope): string {
  if (scope.kind === 'period') return `tasks-period-${scope.start.slice(0, 10)}.csv`;
  if (scope.kind === 'invoice' || scope.kind === 'top_up') return `tasks-${scope.id}.csv`;
  return 'tasks.csv';
}
