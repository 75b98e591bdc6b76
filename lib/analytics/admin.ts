import type { QueryResultRow } from 'pg';
import { bigMicrosToCentsCeil, exactInt, toBig } from '@/lib/billing/money';
import { PLAN_IDS, type PlanId } from '@/lib/billing/plans';
import type { Queryable } from '@/lib/db';
import { adminAnalyticsSchema, type AdminAnalytics, type AdminAnalyticsQuery } from '@/lib/analytics/schemas';

// The operators' figures for one calendar month (UTC), over all users. Runs on whatever it is
// given: the system role (a Database: jobs, bench, tests), or an admin's RLS transaction, where
// the admin policies let it see every user's rows (lib/analytics/admin-access.ts, which the
// admin page uses). The statements are independent, so on a pool they run side by side (in a
// transaction, one after the other on its connection); each reads one table through an index
// made for it (see supabase/migrations/20261201000300_analytics.sql).
//
// Definitions
//   revenue        succeeded USD usage top-ups (by the day they succeeded) plus paid invoices (by
//                  the day they were paid), minus refunds of either (charge_refunds, by the day
//                  the refund was recorded) and disputes lost (by the day they closed); in cents.
//   disputes       open now (count and amount), and lost in the month.
//   flagged        payments and invoices in a currency other than USD: recorded, never credited.
//   payments       attempts created in the month: succeeded / (succeeded + failed); pending and
//                  canceled attempts are neither.
//   subscriptions  subscriptions created in the month, and how many of them reached active: now
//                  active, past_due or unpaid (states only reached after activation), or with a
//                  paid invoice of more than zero (covers those canceled since).
//   usageByPlan    usage events of the month by the plan stored on each event.
//   webhooks       events failing now, and events received but not yet processed (all months).

const REVENUE_MONTHS = 12;

// $1/$2: first day of the first month, first day of the month after the last (UTC dates).
const FROM = `$1::date::timestamp at time zone 'UTC'`;
const UNTIL = `$2::date::timestamp at time zone 'UTC'`;

const TOP_UPS_SQL = `
select to_char(coalesce(succeeded_at, created_at) at time zone 'UTC', 'YYYY-MM') as month,
       coalesce(sum(amount_cents) filter (where kind = 'usage_topup'), 0)::bigint as top_up_cents
from public.payment_attempts
where status = 'succeeded' and currency = 'usd' and coalesce(succeeded_at, created_at) >= ${FROM} and coalesce(succeeded_at, created_at) < ${UNTIL}
group by 1`;

const INVOICES_SQL = `
select to_char(coalesce(paid_at, stripe_created) at time zone 'UTC', 'YYYY-MM') as month,
       sum(amount_paid_cents)::bigint as invoice_cents
from public.invoices
where status = 'paid' and coalesce(paid_at, stripe_created) >= ${FROM} and coalesce(paid_at, stripe_created) < ${UNTIL}
group by 1`;

const REFUNDS_SQL = `
select to_char(created_at at time zone 'UTC', 'YYYY-MM') as month, sum(amount_cents)::bigint as refunded_cents
from public.charge_refunds
where currency = 'usd' and created_at >= ${FROM} and created_at < ${UNTIL}
group by 1`;

const DISPUTES_LOST_SQL = `
select to_char(closed_at at time zone 'UTC', 'YYYY-MM') as month, sum(amount_cents)::bigint as lost_cents
from public.disputes
where status = 'lost' and currency = 'usd' and closed_at >= ${FROM} and closed_at < ${UNTIL}
group by 1`;

const OPEN_DISPUTES_SQL = `
select count(*) as open, coalesce(sum(amount_cents), 0)::bigint as open_cents,
       (select count(*) from public.payment_attempts where flag is not null) as flagged_payments,
       (select count(*) from public.invoices where flag is not null) as flagged_invoices
from public.disputes where status = 'open'`;

const PAYMENTS_SQL = `
select count(*) filter (where status = 'succeeded') as succeeded, count(*) filter (where status = 'failed') as failed
from public.payment_attempts
where created_at >= ${FROM} and created_at < ${UNTIL}`;

const SUBSCRIPTIONS_SQL = `
select count(*) as created,
       count(*) filter (where s.status in ('active', 'past_due', 'unpaid')
         or exists (select 1 from public.invoices i
                    where i.subscription_id = s.id and i.status = 'paid' and i.amount_paid_cents > 0)) as converted
from public.subscriptions s
where s.created_at >= ${FROM} and s.created_at < ${UNTIL}`;

// Per user first, then per plan: the distinct-user count comes from ~1,000 small groups in a hash
// table instead of a count(distinct) that sorts every event of the month (3-5x slower).
const USAGE_SQL = `
select plan_id, count(*) as users, sum(tasks)::bigint as tasks, sum(tokens)::bigint as tokens,
       sum(execution_ms)::bigint as execution_ms, sum(cost_micros)::text as cost_micros
from (
  select plan_id, user_id, count(*) as tasks, sum(tokens) as tokens, sum(execution_ms) as execution_ms,
         sum(cost_micros) as cost_micros
  from public.usage_events
  where created_at >= ${FROM} and created_at < ${UNTIL}
  group by plan_id, user_id
) as per_user
group by plan_id`;

const WEBHOOKS_SQL = `
select count(*) filter (where status = 'failed') as failed, count(*) filter (where status = 'received') as pending
from public.webhook_events
where status in ('failed', 'received')`;

/** `YYYY-MM` `offset` months after `month` (negative: before). */
function shiftMonth(month: string, offset: number): string {
  const index = Number(month.slice(0, 4)) * 12 + Number(month.slice(5, 7)) - 1 + offset;
  return `${String(Math.floor(index / 12)).padStart(4, '0')}-${String((index % 12) + 1).padStart(2, '0')}`;
}

/**
 * A Database runs each statement on its own pooled connection, side by side. A transaction is one
 * connection, on which statements must not overlap (pg queues them but deprecates it): queue them.
 */
function oneAtATime(db: Queryable): Queryable {
  if ('withSession' in db) return db;
  let tail: Promise<unknown> = Promise.resolve();
  return {
    query<R extends QueryResultRow>(text: string, values?: unknown[]) {
      const result = tail.then(() => db.query<R>(text, values));
      tail = result.catch(() => undefined);
      return result;
    },
  };
}

const firstDay = (month: string) => `${month}-01`;
const ratio = (part: number, whole: number) => (whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000);

export async function getAdminAnalytics(queryable: Queryable, query: AdminAnalyticsQuery): Promise<AdminAnalytics> {
  const db = oneAtATime(queryable);
  const { month } = query;
  const monthBounds = [firstDay(month), firstDay(shiftMonth(month, 1))];
  const firstRevenueMonth = shiftMonth(month, 1 - REVENUE_MONTHS);
  const revenueBounds = [firstDay(firstRevenueMonth), monthBounds[1]];

  const [topUps, invoices, payments, subscriptions, usage, webhooks, refunds, lost, open] = await Promise.all([
    db.query<{ month: string; top_up_cents: number }>(TOP_UPS_SQL, revenueBounds),
    db.query<{ month: string; invoice_cents: number }>(INVOICES_SQL, revenueBounds),
    db.query<{ succeeded: number; failed: number }>(PAYMENTS_SQL, monthBounds),
    db.query<{ created: number; converted: number }>(SUBSCRIPTIONS_SQL, monthBounds),
    db.query<{ plan_id: PlanId; users: number; tasks: number; tokens: number; execution_ms: number; cost_micros: string }>(
      USAGE_SQL,
      monthBounds,
    ),
    db.query<{ failed: number; pending: number }>(WEBHOOKS_SQL),
    db.query<{ month: string; refunded_cents: number }>(REFUNDS_SQL, revenueBounds),
    db.query<{ month: string; lost_cents: number }>(DISPUTES_LOST_SQL, revenueBounds),
    db.query<{ open: number; open_cents: number; flagged_payments: number; flagged_invoices: number }>(OPEN_DISPUTES_SQL),
  ]);

  const byMonth = Array.from({ length: REVENUE_MONTHS }, (_, index) => {
    const key = shiftMonth(firstRevenueMonth, index);
    const topUp = topUps.rows.find((row) => row.month === key);
    const invoiceCents = invoices.rows.find((row) => row.month === key)?.invoice_cents ?? 0;
    const topUpCents = topUp?.top_up_cents ?? 0;
    const refundedCents = refunds.rows.find((row) => row.month === key)?.refunded_cents ?? 0;
    const disputesLostCents = lost.rows.find((row) => row.month === key)?.lost_cents ?? 0;
    return {
      month: key,
      topUpCents,
      refundedCents,
      disputesLostCents,
      invoiceCents,
      revenueCents: topUpCents + invoiceCents - refundedCents - disputesLostCents,
    };
  });

  const paymentCounts = payments.rows[0] ?? { succeeded: 0, failed: 0 };
  const subscriptionCounts = subscriptions.rows[0] ?? { created: 0, converted: 0 };
  const answer: AdminAnalytics = {
    month,
    revenue: { byMonth, monthCents: byMonth.at(-1)?.revenueCents ?? 0 },
    payments: {
      succeeded: paymentCounts.succeeded,
      failed: paymentCounts.failed,
      successRate: ratio(paymentCounts.succeeded, paymentCounts.succeeded + paymentCounts.failed),
    },
    subscriptions: {
      created: subscriptionCounts.created,
      converted: subscriptionCounts.converted,
      conversionRate: ratio(subscriptionCounts.converted, subscriptionCounts.created),
    },
    usageByPlan: PLAN_IDS.map((planId) => {
      const row = usage.rows.find((item) => item.plan_id === planId);
      return {
        planId,
        users: row?.users ?? 0,
        tasks: row?.tasks ?? 0,
        tokens: row?.tokens ?? 0,
        executionMs: row?.execution_ms ?? 0,
        costMicros: exactInt(toBig(row?.cost_micros)),
        costCents: exactInt(bigMicrosToCentsCeil(toBig(row?.cost_micros))),
      };
    }),
    webhooks: webhooks.rows[0] ?? { failed: 0, pending: 0 },
    disputes: {
      open: open.rows[0]?.open ?? 0,
      openCents: open.rows[0]?.open_cents ?? 0,
      lostCents: byMonth.at(-1)?.disputesLostCents ?? 0,
    },
    flagged: { payments: open.rows[0]?.flagged_payments ?? 0, invoices: open.rows[0]?.flagged_invoices ?? 0 },
  };
  return adminAnalyticsSchema.parse(answer);
}
