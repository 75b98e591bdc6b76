import Link from 'next/link';
import { count, day, microDollars, rate } from '@/app/_lib/format';
import { requireUser } from '@/app/_lib/require-user';
import { getTaskReceiptsQuerySchema, type GetTaskReceiptsQuery } from '@/lib/billing/task-receipt-schemas';
import { listTaskReceipts, type TaskReceiptPage } from '@/lib/billing/task-receipts';
import { AppError } from '@/lib/http/errors';
import styles from '../dashboard.module.css';
import { scopeTitle } from './scope-title';
import own from './tasks.module.css';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Tasks' };

/** The query string of a filter, optionally with a cursor, without empty values. */
function search(query: Partial<GetTaskReceiptsQuery>, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const key of ['period', 'payment', 'agent', 'from', 'to'] as const) if (query[key]) params.set(key, query[key]);
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  const text = params.toString();
  return text ? `?${text}` : '';
}

// A receipt for every task: the tasks of a period or behind a payment, read as the user (RLS),
// with the filter as a plain GET form (works without JavaScript) and the CSV of the same filter.
export default async function TasksPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const raw = Object.fromEntries(
    Object.entries(await searchParams).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
  const { user, db } = await requireUser(`/billing/tasks${search(raw)}`);
  const parsed = getTaskReceiptsQuerySchema.safeParse(raw);
  let problem: string | null = parsed.success ? null : (parsed.error.issues[0]?.message ?? 'This filter is not valid.');
  let page: TaskReceiptPage | null = null;
  if (parsed.success) {
    try {
      page = await listTaskReceipts(db, user, parsed.data);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      problem = error.message;
    }
  }
  const query: Partial<GetTaskReceiptsQuery> = parsed.success ? parsed.data : {};
  const title = page ? scopeTitle(page.scope) : { heading: 'Tasks', detail: '' };

  return (
    <main style={{ maxWidth: 'none' }}>
      <h1>{title.heading}</h1>
      {title.detail ? <p className={styles.muted}>{title.detail}</p> : null}
      {problem ? (
        <div className={styles.notice} role="alert">
          <p>{problem}</p>
          <p>
            <Link href="/billing/tasks">Show all your tasks</Link> or go back to the <Link href="/billing">dashboard</Link>.
          </p>
        </div>
      ) : null}
      {page ? (
        <section className={styles.card} aria-labelledby="tasks-heading">
          <h2 id="tasks-heading" className="sr-only">
            Tasks
          </h2>
          <form method="get" action="/billing/tasks" className={own.filters} aria-label="Filter tasks">
            {query.period ? <input type="hidden" name="period" value={query.period} /> : null}
            {query.payment ? <input type="hidden" name="payment" value={query.payment} /> : null}
            <label>
              Agent
              <select name="agent" defaultValue={query.agent ?? ''}>
                <option value="">All agents</option>
                {page.agents.map((agent) => (
                  <option key={agent} value={agent}>
                    {agent}
                  </option>
                ))}
              </select>
            </label>
            <label>
              From
              <input type="date" name="from" defaultValue={query.from ?? ''} />
            </label>
            <label>
              To
              <input type="date" name="to" defaultValue={query.to ?? ''} />
            </label>
            <button type="submit">Apply</button>
            {query.agent || query.from || query.to ? (
              <Link href={`/billing/tasks${search({ period: query.period, payment: query.payment })}`}>Clear filters</Link>
            ) : null}
          </form>
          <p data-testid="task-totals">
            <strong>{count(page.totals.tasks)}</strong> {page.totals.tasks === 1 ? 'task' : 'tasks'}, costing{' '}
            <strong>{microDollars(page.totals.costMicros)}</strong>
            {page.totals.reservedMicros > 0 ? <> ({microDollars(page.totals.reservedMicros)} reserved beforehand)</> : null}.{' '}
            <a href={`/api/payments/tasks/export${search(query)}`} download>
              Download as CSV
            </a>
          </p>
          {page.tasks.length === 0 ? (
            <p className={styles.muted}>No tasks match.</p>
          ) : (
            <div className={own.scroller} tabIndex={0} role="region" aria-label="Tasks table, scrolls sideways">
              <table className={`${styles.table} ${own.tasks}`}>
                <caption className="sr-only">Tasks, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Agent</th>
                    <th scope="col" className={styles.num}>
                      Tokens
                    </th>
                    <th scope="col" className={styles.num}>
                      Minutes
                    </th>
                    <th scope="col">Rate</th>
                    <th scope="col" className={styles.num}>
                      Reserved
                    </th>
                    <th scope="col" className={styles.num}>
                      Cost
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {page.tasks.map((task) => (
                    <tr key={task.id} data-testid="task-row">
                      <td data-label="Time">
                        {/* One value, so the phone layout keeps date and time together at the right. */}
                        <span>
                          {day(task.at)} <span className={own.nowrap}>{task.at.slice(11, 19)} UTC</span>
                        </span>
                      </td>
                      <td data-label="Agent" className={own.agent}>
                        {task.agent}
                      </td>
                      <td data-label="Tokens" className={styles.num}>
                        {count(task.tokens)}
                      </td>
                      <td data-label="Minutes" className={styles.num}>
                        {(task.executionMs / 60_000).toLocaleString('en-US', { maximumFractionDigits: 2 })}
                      </td>
                      <td data-label="Rate">
                        <span>
                          <span className={own.nowrap}>{rate(task.tokenRateMicros)}/token,</span>{' '}
                          <span className={own.nowrap}>{rate(task.minuteRateMicros)}/min</span>
                        </span>
                      </td>
                      <td data-label="Reserved" className={styles.num}>
                        {task.reservedMicros === null ? <span className={styles.muted}>none</span> : microDollars(task.reservedMicros)}
                      </td>
                      <td data-label="Cost" className={styles.num}>
                        {microDollars(task.costMicros)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <nav className={styles.pager} aria-label="Task pages">
            {query.cursor ? <Link href={`/billing/tasks${search(query)}`}>Newest</Link> : <span />}
            {page.nextCursor ? <Link href={`/billing/tasks${search(query, { cursor: page.nextCursor })}`}>Older tasks</Link> : null}
          </nav>
        </section>
      ) : null}
      <p>
        <Link href="/billing">Back to the dashboard</Link>
      </p>
    </main>
  );
}
