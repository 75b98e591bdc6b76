import Link from 'next/link';
import { notFound, redirect } from 'next/navigation';
import { currentUser } from '@/app/_lib/session';
import { getAdminAnalyticsAsAdmin, listWebhookEventsForAdmin } from '@/lib/analytics/admin-access';
import { getAdminAnalyticsQuerySchema } from '@/lib/analytics/schemas';
import { isAdmin } from '@/lib/auth/admin';
import { PLANS } from '@/lib/billing/plans';
import { getDatabase } from '@/lib/db';
import styles from './admin.module.css';
import { count, dollars, minutes, monthName, percent } from '@/app/_lib/format';
import { RevenueChart } from './revenue-chart';
import { WebhookEvents } from './webhook-events';
import { RunnerKeys } from './runner-keys';
import { listTaskRunnerKeys } from '@/lib/auth/task-runner-keys';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Admin billing' };

interface Props {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}

// The operators' view. Signed out: sign in first. Signed in without the admin role: the same 404
// as a page that does not exist (lib/auth/admin.ts). Everything below is read through RLS as the
// admin (lib/analytics/admin-access.ts), so the database checks the role a second time.
export default async function AdminBillingPage({ searchParams }: Props) {
  const user = await currentUser();
  if (!user) redirect('/sign-in?next=/admin/billing');
  if (!isAdmin(user)) notFound();

  const requested = (await searchParams).month;
  const query = getAdminAnalyticsQuerySchema.safeParse(typeof requested === 'string' ? { month: requested } : {});
  const monthError = query.success ? null : (query.error.issues[0]?.message ?? 'month must be a month in YYYY-MM format');
  const { month } = query.success ? query.data : getAdminAnalyticsQuerySchema.parse({});

  const db = await getDatabase();
  const [figures, events] = await Promise.all([getAdminAnalyticsAsAdmin(db, user, { month }), listWebhookEventsForAdmin(db, user)]);
  const { revenue, payments, subscriptions, usageByPlan, webhooks, disputes, flagged } = figures;
  const successRate = percent(payments.successRate);
  const conversion = percent(subscriptions.conversionRate);

  return (
    <main className={styles.page}>
      <header className={styles.header}>
        <div>
          <p className={styles.eyebrow}>Operators</p>
          <h1>Billing overview</h1>
        </div>
        <Link href="/">Back to your account</Link>
      </header>

      <form method="get" action="/admin/billing" className={styles.monthForm}>
        <label htmlFor="month">Month (UTC)</label>
        <div className={styles.monthControls}>
          <input
            id="month"
            name="month"
            type="month"
            defaultValue={month}
            min="2000-01"
            max="9999-12"
            required
            aria-describedby={monthError ? 'month-error' : undefined}
          />
          <button type="submit">Show month</button>
        </div>
        {monthError ? (
          <p id="month-error" role="alert" className="error">
            {monthError}. Showing {monthName(month)} instead.
          </p>
        ) : null}
      </form>

      <section aria-labelledby="summary-heading">
        <h2 id="summary-heading">{monthName(month)} at a glance</h2>
        <dl className={styles.figures}>
          <div className={styles.figure}>
            <dt>Revenue</dt>
            <dd data-testid="revenue-month">{dollars(revenue.monthCents)}</dd>
          </div>
          <div className={styles.figure}>
            <dt>Payment success rate</dt>
            <dd data-testid="payment-success-rate">{successRate ?? 'No payments'}</dd>
            <dd className={styles.detail}>
              {count(payments.succeeded)} succeeded, {count(payments.failed)} failed
            </dd>
          </div>
          <div className={styles.figure}>
            <dt>Subscription conversion</dt>
            <dd data-testid="subscription-conversion">{conversion ?? 'No new subscriptions'}</dd>
            <dd className={styles.detail}>
              {count(subscriptions.converted)} of {count(subscriptions.created)} new subscriptions paid
            </dd>
          </div>
          <div className={styles.figure}>
            <dt>Webhook events needing attention</dt>
            <dd data-testid="webhook-attention">{count(webhooks.failed + webhooks.pending)}</dd>
            <dd className={styles.detail}>
              {count(webhooks.failed)} failed, {count(webhooks.pending)} pending (all months)
            </dd>
          </div>
          <div className={styles.figure}>
            <dt>Open disputes</dt>
            <dd data-testid="disputes-open">{count(disputes.open)}</dd>
            <dd className={styles.detail}>
              {dollars(disputes.openCents)} disputed; {dollars(disputes.lostCents)} lost this month
            </dd>
          </div>
          <div className={styles.figure}>
            <dt>Flagged payments</dt>
            <dd data-testid="flagged">{count(flagged.payments + flagged.invoices)}</dd>
            <dd className={styles.detail}>Not in US dollars: recorded, never credited</dd>
          </div>
        </dl>
      </section>

      <section aria-labelledby="revenue-heading" className={styles.card}>
        <h2 id="revenue-heading">Revenue by month</h2>
        <p className={styles.muted}>
          Usage top-ups by the day they succeeded plus paid subscription invoices by the day they were paid, less refunds (by the day
          recorded) and disputes lost (by the day closed).
        </p>
        <RevenueChart months={revenue.byMonth} />
        <div className={styles.scroll}>
          <table className={styles.table} data-testid="revenue-table">
            <caption>
              Revenue by month, {monthName(revenue.byMonth[0]?.month ?? month)} to {monthName(month)}, in US dollars
            </caption>
            <thead>
              <tr>
                <th scope="col">Month</th>
                <th scope="col" className={styles.number}>
                  Top-ups
                </th>
                <th scope="col" className={styles.number}>
                  Refunded
                </th>
                <th scope="col" className={styles.number}>
                  Disputes lost
                </th>
                <th scope="col" className={styles.number}>
                  Invoices
                </th>
                <th scope="col" className={styles.number}>
                  Revenue
                </th>
              </tr>
            </thead>
            <tbody>
              {revenue.byMonth.map((row) => (
                <tr key={row.month}>
                  <th scope="row">{monthName(row.month)}</th>
                  <td className={styles.number}>{dollars(row.topUpCents)}</td>
                  <td className={styles.number}>{row.refundedCents === 0 ? dollars(0) : `−${dollars(row.refundedCents)}`}</td>
                  <td className={styles.number}>{row.disputesLostCents === 0 ? dollars(0) : `−${dollars(row.disputesLostCents)}`}</td>
                  <td className={styles.number}>{dollars(row.invoiceCents)}</td>
                  <td className={styles.number}>
                    <strong>{dollars(row.revenueCents)}</strong>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <div className={styles.columns}>
        <section aria-labelledby="payments-heading" className={styles.card}>
          <h2 id="payments-heading">Payments</h2>
          <p className={styles.muted}>Attempts created in {monthName(month)}. Pending and canceled attempts count as neither.</p>
          <dl className={styles.pairs}>
            <dt>Succeeded</dt>
            <dd>{count(payments.succeeded)}</dd>
            <dt>Failed</dt>
            <dd>{count(payments.failed)}</dd>
            <dt>Success rate</dt>
            <dd>{successRate ?? 'No payments this month'}</dd>
          </dl>
        </section>

        <section aria-labelledby="subscriptions-heading" className={styles.card}>
          <h2 id="subscriptions-heading">Subscriptions</h2>
          <p className={styles.muted}>Created in {monthName(month)}; converted once a payment made them active.</p>
          <dl className={styles.pairs}>
            <dt>Created</dt>
            <dd>{count(subscriptions.created)}</dd>
            <dt>Converted</dt>
            <dd>{count(subscriptions.converted)}</dd>
            <dt>Conversion</dt>
            <dd>{conversion ?? 'No new subscriptions this month'}</dd>
          </dl>
        </section>
      </div>

      <section aria-labelledby="usage-heading" className={styles.card}>
        <h2 id="usage-heading">Usage by plan</h2>
        <div className={styles.scroll}>
          <table className={styles.table} data-testid="usage-table">
            <caption>Tasks run in {monthName(month)}, by the plan in force when each ran</caption>
            <thead>
              <tr>
                <th scope="col">Plan</th>
                <th scope="col" className={styles.number}>
                  Users
                </th>
                <th scope="col" className={styles.number}>
                  Tasks
                </th>
                <th scope="col" className={styles.number}>
                  Tokens
                </th>
                <th scope="col" className={styles.number}>
                  Execution (minutes)
                </th>
                <th scope="col" className={styles.number}>
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {usageByPlan.map((row) => (
                <tr key={row.planId}>
                  <th scope="row">{PLANS[row.planId].name}</th>
                  <td className={styles.number}>{count(row.users)}</td>
                  <td className={styles.number}>{count(row.tasks)}</td>
                  <td className={styles.number}>{count(row.tokens)}</td>
                  <td className={styles.number}>{minutes(row.executionMs)}</td>
                  <td className={styles.number}>{dollars(row.costCents)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section aria-labelledby="webhooks-heading" className={styles.card}>
        <h2 id="webhooks-heading">Webhook events needing attention</h2>
        <p className={styles.muted}>
          Replaying runs an event again from its recorded payload, exactly as a new delivery would; an event already processed is not
          applied twice. Each replay is recorded in the audit log under your name.
        </p>
        <WebhookEvents events={events} />
      </section>

      <section aria-labelledby="runner-keys-heading" className={styles.card}>
        <h2 id="runner-keys-heading">Task-runner API keys</h2>
        <p className={styles.muted}>
          Keys the AI task runner sends as a bearer token. A new key is shown once; revoking takes effect within a second.
        </p>
        <RunnerKeys keys={await listTaskRunnerKeys(db, user.claims)} />
      </section>
    </main>
  );
}
