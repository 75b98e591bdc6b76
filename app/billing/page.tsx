import Link from 'next/link';
import { brandName, day, dollars, monthName } from '@/app/_lib/format';
import { requireUser } from '@/app/_lib/require-user';
import { getAnalyticsQuerySchema } from '@/lib/analytics/schemas';
import { getUserAnalytics } from '@/lib/analytics/user';
import { getBudget } from '@/lib/billing/budgets';
import { isAppError } from '@/lib/http/errors';
import { listUnreadNotifications } from '@/lib/billing/notifications';
import { PLANS } from '@/lib/billing/plans';
import { getBillingOverview, getPaymentHistory } from '@/lib/payments/billing';
import { getHistoryQuerySchema } from '@/lib/payments/schemas';
import { BarChart } from './_components/bar-chart';
import { BudgetCard } from './_components/budget-card';
import { HistoryLinks } from './_components/history-links';
import { PastDueNotice } from './_components/past-due-notice';
import { getPastDue } from '@/lib/payments/recovery';
import { getAutoRecharge } from '@/lib/payments/auto-recharge';
import { AutoRechargeCard } from './_components/auto-recharge-card';
import { isAutoRechargeError } from './auto-recharge/messages';
import { dismissNotificationAction } from './actions';
import { keepPlanAction } from './plans/actions';
import styles from './dashboard.module.css';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Billing' };

const STATUS_TEXT: Record<string, [string, string]> = {
  succeeded: ['Paid', styles.ok!],
  paid: ['Paid', styles.ok!],
  pending: ['Awaiting payment', styles.neutral!],
  open: ['Open', styles.warn!],
  failed: ['Failed', styles.bad!],
  canceled: ['Canceled', styles.neutral!],
  void: ['Void', styles.neutral!],
  uncollectible: ['Uncollectible', styles.bad!],
  active: ['Active', styles.ok!],
  past_due: ['Payment overdue', styles.bad!],
  incomplete: ['Awaiting first payment', styles.warn!],
  trialing: ['Trial', styles.ok!],
};

/** Notifications that report something done for the user, shown in green rather than as a warning. */
const GOOD_NEWS = new Set(['auto_recharge_succeeded']);

/** The button of a notification with a link, by its kind. */
const NOTICE_ACTIONS: Record<string, string> = {
  payment_failed: 'Try the payment again',
  auto_recharge_action_required: 'Confirm the payment',
  auto_recharge_failed: 'Update your card',
  auto_recharge_disabled: 'Update your card',
  auto_recharge_cap: 'Review auto-recharge',
};

function Badge({ status }: { status: string }) {
  const [text, tone] = STATUS_TEXT[status] ?? [status, styles.neutral!];
  return <span className={`${styles.badge} ${tone}`}>{text}</span>;
}

/** The last six calendar months, this one included, as an analytics query. */
function lastSixMonths() {
  const now = new Date();
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 5, 1));
  return getAnalyticsQuerySchema.parse({ startDate: start.toISOString().slice(0, 10), endDate: now.toISOString().slice(0, 10) });
}

// The billing dashboard: everything read on the server, as the user (RLS), in one round of
// parallel reads, so the page arrives complete without client-side fetches.
export default async function BillingDashboard({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const { user, db } = await requireUser('/billing');
  const params = await searchParams;
  const historyQuery = getHistoryQuerySchema.safeParse({ limit: '10', ...(params.cursor ? { cursor: params.cursor } : {}) });
  // A cursor that does not decode shows the first page rather than an error.
  const firstPage = { limit: 10 };
  const [billing, analytics, notifications, history, budget, autoRecharge] = await Promise.all([
    getBillingOverview(db, user),
    getUserAnalytics(db, user, lastSixMonths()),
    listUnreadNotifications(db, user),
    getPaymentHistory(db, user, historyQuery.success ? historyQuery.data : firstPage).catch((error: unknown) => {
      if (isAppError(error) && error.code === 'validation_failed') return getPaymentHistory(db, user, firstPage);
      throw error;
    }),
    getBudget(db, user),
    getAutoRecharge(db, user),
  ]);
  const pastDue =
    billing.subscription?.status === 'past_due' || billing.subscription?.status === 'unpaid' ? await getPastDue(db, user) : null;
  // The webhook's "could not collect" notes repeat the past-due notice while it shows, and are
  // stale once the renewal is paid and the plan active again.
  const hideInvoiceFailures = pastDue !== null || billing.subscription?.status === 'active';
  const notices = hideInvoiceFailures ? notifications.filter((notice) => notice.kind !== 'invoice_payment_failed') : notifications;
  const capacity = Math.max(1, billing.allowanceCents + billing.creditsCents);
  const usedShare = Math.min(100, (billing.usageCents / capacity) * 100);
  const heldShare = Math.min(100 - usedShare, (billing.reservedCents / capacity) * 100);

  return (
    <main style={{ maxWidth: 'none' }}>
      <h1>Billing</h1>
      {params.paid === 'pending' ? (
        <p className={styles.notice} role="status">
          Your payment is being processed. It appears here as soon as it is recorded; there is no need to pay again.
        </p>
      ) : null}
      {pastDue ? <PastDueNotice pastDue={pastDue} /> : null}
      {params.recovered === '1' ? (
        <p className={`${styles.notice} ${styles.goodNews}`} role="status">
          Thank you: your renewal is paid and your plan is active again, with a new allowance.
        </p>
      ) : null}
      {notices.length > 0 ? (
        <section aria-labelledby="notices-heading">
          <h2 id="notices-heading" className="sr-only">
            Notifications
          </h2>
          {notices.map((notice) => (
            <div key={notice.id} className={`${styles.notice} ${GOOD_NEWS.has(notice.kind) ? styles.goodNews : ''}`} role="status">
              <h3>{notice.title}</h3>
              <p>{notice.body}</p>
              <div className={styles.actions}>
                {notice.actionUrl && notice.actionUrl !== '/billing' ? (
                  <Link className={styles.button} href={notice.actionUrl}>
                    {NOTICE_ACTIONS[notice.kind] ?? 'Review'}
                  </Link>
                ) : notice.kind.startsWith('budget_') ? (
                  <Link className={styles.button} href="#budget">
                    Review your budget
                  </Link>
                ) : null}
                <form action={dismissNotificationAction}>
                  <input type="hidden" name="id" value={notice.id} />
                  <button type="submit" className={styles.secondary}>
                    Dismiss
                  </button>
                </form>
              </div>
            </div>
          ))}
        </section>
      ) : null}

      <div className={styles.grid}>
        <section className={styles.card} aria-labelledby="plan-heading">
          <h2 id="plan-heading">Plan</h2>
          <p className={styles.big} data-testid="plan-name">
            {billing.planName}
          </p>
          <p>
            {billing.subscription ? (
              <Badge status={billing.subscription.status} />
            ) : (
              <span className={`${styles.badge} ${styles.neutral}`}>Free allowance</span>
            )}
            {billing.subscription?.cancelAtPeriodEnd ? <span> Ends on {day(billing.subscription.currentPeriodEnd)}</span> : null}
          </p>
          {billing.subscription?.scheduledChange ? (
            <form action={keepPlanAction} className={styles.scheduled}>
              <p data-testid="scheduled-change">
                Changes to {billing.subscription.scheduledChange.planName} on{' '}
                <time dateTime={billing.subscription.scheduledChange.effectiveAt}>
                  {day(billing.subscription.scheduledChange.effectiveAt)}
                </time>
              </p>
              <input type="hidden" name="subscriptionId" value={billing.subscription.id} />
              <button type="submit" className={styles.secondary}>
                Keep {billing.planName}
              </button>
            </form>
          ) : null}
          <p className={styles.muted}>
            {pastDue
              ? `Renewal of ${dollars(pastDue.amountDueCents)} unpaid${pastDue.nextRetryAt ? `: tried again on ${day(pastDue.nextRetryAt)}` : ''}`
              : billing.nextInvoice
                ? `Renews on ${day(billing.nextInvoice.date)} for ${dollars(billing.nextInvoice.amountCents)}`
                : billing.subscription
                  ? 'No further renewals'
                  : `Allowance renews on ${day(billing.periodEnd)}`}
          </p>
          {billing.paymentMethod ? (
            <p className={styles.muted}>
              Card: {brandName(billing.paymentMethod.brand)} ending {billing.paymentMethod.last4}, expires {billing.paymentMethod.expMonth}/
              {billing.paymentMethod.expYear}
            </p>
          ) : null}
          <p className={styles.actions}>
            <Link href="/billing/plans">Change plan</Link>
            <Link href="/billing/payment-methods">Payment methods</Link>
          </p>
        </section>

        <section className={styles.card} aria-labelledby="usage-heading">
          <h2 id="usage-heading">This period</h2>
          <p className={styles.muted}>
            {day(billing.periodStart)} to {day(billing.periodEnd)}
          </p>
          <p className={styles.big} data-testid="remaining">
            {dollars(billing.remainingCents)}{' '}
            <span className={styles.muted} style={{ fontSize: '1rem', fontWeight: 400 }}>
              remaining
            </span>
          </p>
          <div
            className={styles.bar}
            role="meter"
            aria-label="Allowance used"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(usedShare)}
            aria-valuetext={`${dollars(billing.usageCents)} used and ${dollars(billing.reservedCents)} held of ${dollars(capacity)}`}
          >
            <span className={styles.used} style={{ width: `${usedShare}%` }} />
            <span className={styles.held} style={{ width: `${heldShare}%` }} />
          </div>
          <ul className={styles.legend}>
            <li>
              <span className={`${styles.swatch} ${styles.used}`} />
              Used <strong data-testid="used">{dollars(billing.usageCents)}</strong>
            </li>
            <li>
              <span className={`${styles.swatch} ${styles.held}`} />
              Held by running tasks <strong data-testid="held">{dollars(billing.reservedCents)}</strong>
            </li>
          </ul>
          <dl style={{ marginTop: '.75rem' }}>
            <dt>Monthly allowance</dt>
            <dd data-testid="allowance">{dollars(billing.allowanceCents)}</dd>
            <dt>Credit balance</dt>
            <dd data-testid="credits">{dollars(billing.creditsCents)}</dd>
            {billing.owedCents > 0 ? (
              <>
                <dt>Owed</dt>
                <dd data-testid="owed">{dollars(billing.owedCents)}</dd>
              </>
            ) : null}
          </dl>
          {billing.owedCents > 0 ? (
            <p className={styles.muted} data-testid="owed-note">
              Usage beyond your allowance and credit, carried until paid: your next top-up pays it first.
            </p>
          ) : null}
          <p className={styles.actions}>
            <Link href="/billing/checkout">Add credit</Link>
            <Link href={`/billing/tasks?period=${encodeURIComponent(billing.periodStart)}`}>This period&apos;s tasks</Link>
          </p>
        </section>

        <section className={styles.card} aria-labelledby="credits-heading">
          <h2 id="credits-heading">Credits</h2>
          <p className={styles.muted}>Credit is spent after the monthly allowance, oldest first, and expires 12 months after purchase.</p>
          {billing.creditGrants.length === 0 ? (
            <p>No credit bought yet.</p>
          ) : (
            <table className={styles.grants} data-testid="credit-grants">
              <thead>
                <tr>
                  <th scope="col">Bought on</th>
                  <th scope="col">Amount</th>
                  <th scope="col">Left</th>
                  <th scope="col">Expires</th>
                </tr>
              </thead>
              <tbody>
                {billing.creditGrants.map((grant) => (
                  <tr key={grant.id}>
                    <td>{day(grant.boughtAt)}</td>
                    <td>{dollars(grant.amountCents)}</td>
                    <td>
                      {dollars(grant.leftCents)}
                      {grant.frozenCents > 0 ? ` (${dollars(grant.frozenCents)} on hold: disputed)` : ''}
                      {grant.refundedCents > 0 ? ` (${dollars(grant.refundedCents)} refunded)` : ''}
                    </td>
                    <td>{grant.expired ? `Expired ${day(grant.expiresAt)}` : day(grant.expiresAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <BudgetCard
          budget={budget}
          problem={params.budgetError ? 'Enter a budget from $1 to $1,000,000, with at most two decimals.' : null}
        />

        <AutoRechargeCard
          settings={autoRecharge}
          hasDefaultCard={billing.paymentMethod?.isDefault ?? false}
          problem={isAutoRechargeError(params.autoRechargeError) ? params.autoRechargeError : null}
          saved={params.autoRecharge === 'on' || params.autoRecharge === 'off' ? params.autoRecharge : null}
        />

        <section className={`${styles.card} ${styles.wide}`} aria-labelledby="trend-heading">
          <h2 id="trend-heading">Spending, last six months</h2>
          <BarChart
            title="Usage cost by month"
            emptyText="No usage in the last six months."
            bars={analytics.byMonth.map((month) => ({
              label: monthName(month.month),
              value: Number(month.costCents),
              text: dollars(month.costCents),
            }))}
          />
          {analytics.totals.tasks > 0 && Number(analytics.insights.cheapestPlan.savingsCents) > 0 ? (
            <p data-testid="plan-insight">
              For your usage over these months, the {PLANS[analytics.insights.cheapestPlan.planId].name} plan would have cost{' '}
              {dollars(analytics.insights.cheapestPlan.savingsCents)} less. <Link href="/billing/plans">Compare plans</Link>
            </p>
          ) : null}
        </section>

        <section className={`${styles.card} ${styles.wide}`} aria-labelledby="agents-heading">
          <h2 id="agents-heading">Cost by agent, last six months</h2>
          <BarChart
            title="Usage cost by agent"
            emptyText="No tasks yet."
            bars={analytics.byAgent.slice(0, 8).map((agent) => ({
              label: agent.agent,
              value: Number(agent.costMicros),
              text: `${dollars(agent.costCents)} · ${agent.tasks} ${agent.tasks === 1 ? 'task' : 'tasks'}`,
            }))}
          />
        </section>

        <section className={`${styles.card} ${styles.wide}`} aria-labelledby="history-heading">
          <h2 id="history-heading">Payment history</h2>
          {history.entries.length === 0 ? (
            <p className={styles.muted}>No payments yet.</p>
          ) : (
            <table className={styles.table}>
              <caption className="sr-only">Payments and invoices, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Date</th>
                  <th scope="col">Description</th>
                  <th scope="col" className={styles.num}>
                    Amount
                  </th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {history.entries.map((entry) => (
                  <tr key={`${entry.kind}-${entry.id}`}>
                    <td>{day(entry.createdAt)}</td>
                    <td>
                      {entry.description}
                      {entry.refundedCents > 0 ? <span className={styles.muted}> (refunded {dollars(entry.refundedCents)})</span> : null}
                      <HistoryLinks entry={entry} />
                    </td>
                    <td className={`${styles.num} ${styles.nowrap}`}>{dollars(entry.amountCents)}</td>
                    <td>
                      <Badge status={entry.status} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <nav className={styles.pager} aria-label="Payment history pages">
            {params.cursor ? <Link href="/billing">Newest</Link> : <span />}
            {history.nextCursor ? <Link href={`/billing?cursor=${history.nextCursor}`}>Older payments</Link> : null}
          </nav>
        </section>
      </div>
      <p className={styles.muted}>Signed in as {user.claims.email}</p>
    </main>
  );
}
