import { asActor, type Actor } from '@/lib/auth/actor';
import { microsToCentsCeil, MICROS_PER_CENT } from '@/lib/billing/money';
import { PLAN_IDS, PLANS, type PlanId } from '@/lib/billing/plans';
import type { Database, Queryable } from '@/lib/db';
import { daysBetween, userAnalyticsSchema, type AnalyticsQuery, type UserAnalytics } from '@/lib/analytics/schemas';

// One user's spending over a date range (UTC days, endDate inclusive): by day, month, agent and
// plan, the totals, a few insights and the budget of the period in force. Read from the
// append-only ledger (usage_events) in two statements, inside the user's RLS transaction when
// the actor is a signed-in user, so the policies decide what is visible, not only our WHERE.

const DAY_MS = 86_400_000;
/** A cost-per-task change smaller than this (in percent) is reported as flat. */
const FLAT_TREND_PERCENT = 5;
/** Share of the budget from which the status is `warning`. */
const BUDGET_WARNING_RATIO = 0.8;

interface Figures {
  tasks: number;
  tokens: number;
  executionMs: number;
  costMicros: number;
  costCents: number;
}

interface AggregateRow {
  kind: 'day' | 'agent' | 'plan' | 'priced' | 'previous';
  key: string | null;
  plan_id: PlanId | null;
  tasks: number;
  tokens: number;
  execution_ms: number;
  cost_micros: number;
}

interface StatusRow {
  plan_id: PlanId;
  period_start: Date;
  period_end: Date;
  used_micros: number;
  monthly_budget_cents: number | null;
}

// Range bounds are calendar dates turned into UTC instants in SQL, so the session's TimeZone
// never matters. $2/$3 are the range (inclusive days), $4 the first day of the previous window.
// 'priced' rows re-price each month's events at every plan's rates (time is rounded per task,
// so this needs the events, not their sums).
const AGGREGATES_SQL = `
with e as materialized (
  select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day, agent, plan_id, tokens, execution_ms, cost_micros
  from public.usage_events
  where user_id = $1
    and created_at >= $2::date::timestamp at time zone 'UTC'
    and created_at < ($3::date + 1)::timestamp at time zone 'UTC'
)
select 'day' as kind, day as key, null::text as plan_id, count(*) as tasks,
       sum(tokens)::bigint as tokens, sum(execution_ms)::bigint as execution_ms, sum(cost_micros)::bigint as cost_micros
  from e group by day
union all
select 'agent', agent, null, count(*), sum(tokens)::bigint, sum(execution_ms)::bigint, sum(cost_micros)::bigint
  from e group by agent
union all
select 'plan', plan_id, null, count(*), sum(tokens)::bigint, sum(execution_ms)::bigint, sum(cost_micros)::bigint
  from e group by plan_id
union all
select 'priced', left(e.day, 7), p.id, count(*), 0, 0,
       sum(app_private.task_cost_micros(e.tokens, e.execution_ms, p.token_rate_micros, p.minute_rate_micros))::bigint
  from e cross join public.plans p group by left(e.day, 7), p.id
union all
select 'previous', null, null, count(*), coalesce(sum(tokens), 0)::bigint, coalesce(sum(execution_ms), 0)::bigint,
       coalesce(sum(cost_micros), 0)::bigint
  from public.usage_events
  where user_id = $1
    and created_at >= $4::date::timestamp at time zone 'UTC'
    and created_at < $2::date::timestamp at time zone 'UTC'`;

// The plan and period in force now, the usage counted in that period, and the user's budget.
const STATUS_SQL = `
select f.plan_id, f.period_start, f.period_end, coalesce(u.used_micros, 0) as used_micros, b.monthly_budget_cents
from app_private.period_in_force($1) f
left join public.user_usage u on u.user_id = $1 and u.period_start = f.period_start
left join public.budgets b on b.user_id = $1`;

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dayMs = (date: string) => Date.parse(`${date}T00:00:00Z`);
const oneDecimal = (value: number) => Math.round(value * 10) / 10;
const emptyFigures = (): Figures => ({ tasks: 0, tokens: 0, executionMs: 0, costMicros: 0, costCents: 0 });

function figuresOf(row: AggregateRow): Figures {
  return {
    tasks: row.tasks,
    tokens: row.tokens,
    executionMs: row.execution_ms,
    costMicros: row.cost_micros,
    costCents: microsToCentsCeil(row.cost_micros),
  };
}

function add(into: Figures, from: Figures): void {
  into.tasks += from.tasks;
  into.tokens += from.tokens;
  into.executionMs += from.executionMs;
  into.costMicros += from.costMicros;
  into.costCents = microsToCentsCeil(into.costMicros);
}

function everyDay(startDate: string, endDate: string): string[] {
  const days: string[] = [];
  for (let ms = dayMs(startDate); ms <= dayMs(endDate); ms += DAY_MS) days.push(isoDate(ms));
  return days;
}

const costPerTask = (figures: Pick<Figures, 'tasks' | 'costMicros'>) =>
  figures.tasks === 0 ? null : Math.round(figures.costMicros / figures.tasks);

/**
 * What each plan would have cost for this usage: per calendar month of the range, the plan's
 * monthly price (its allowance) plus whatever the month's usage at its rates exceeds the
 * allowance by. Months of the range without usage still pay the price.
 */
function planEstimates(months: string[], priced: AggregateRow[]) {
  return PLAN_IDS.map((planId) => {
    const plan = PLANS[planId];
    let usageCostMicros = 0;
    let overageMicros = 0;
    for (const month of months) {
      const cost = priced.find((row) => row.key === month && row.plan_id === planId)?.cost_micros ?? 0;
      usageCostMicros += cost;
      overageMicros += Math.max(0, cost - plan.allowanceMicros);
    }
    const estimatedCostMicros = months.length * plan.allowanceMicros + overageMicros;
    return {
      planId,
      priceCents: (months.length * plan.allowanceMicros) / MICROS_PER_CENT,
      usageCostMicros,
      overageMicros,
      estimatedCostMicros,
      estimatedCostCents: microsToCentsCeil(estimatedCostMicros),
    };
  });
}

function budgetStatus(status: StatusRow): UserAnalytics['budget'] {
  if (status.monthly_budget_cents === null) return null;
  const budgetMicros = status.monthly_budget_cents * MICROS_PER_CENT;
  const spentMicros = status.used_micros;
  const spentCents = microsToCentsCeil(spentMicros);
  return {
    monthlyBudgetCents: status.monthly_budget_cents,
    periodStart: status.period_start.toISOString(),
    periodEnd: status.period_end.toISOString(),
    spentMicros,
    spentCents,
    remainingCents: Math.max(0, status.monthly_budget_cents - spentCents),
    percentUsed: oneDecimal((spentMicros / budgetMicros) * 100),
    status: spentMicros >= budgetMicros ? 'exceeded' : spentMicros >= budgetMicros * BUDGET_WARNING_RATIO ? 'warning' : 'ok',
  };
}

async function readAnalytics(tx: Queryable, userId: string, query: AnalyticsQuery): Promise<UserAnalytics> {
  const { startDate, endDate } = query;
  const days = everyDay(startDate, endDate);
  // The window of the same length just before the range, for the cost-per-task trend.
  const previousStartDate = isoDate(dayMs(startDate) - days.length * DAY_MS);
  const previousEndDate = isoDate(dayMs(startDate) - DAY_MS);

  const { rows } = await tx.query<AggregateRow>(AGGREGATES_SQL, [userId, startDate, endDate, previousStartDate]);
  const { rows: statusRows } = await tx.query<StatusRow>(STATUS_SQL, [userId]);
  const status = statusRows[0];
  if (!status) throw new Error('period_in_force returned no row');

  const byDate = new Map(rows.filter((row) => row.kind === 'day').map((row) => [row.key, figuresOf(row)]));
  const byDay = days.map((date) => ({ date, ...(byDate.get(date) ?? emptyFigures()) }));

  const months = [...new Set(days.map((date) => date.slice(0, 7)))];
  const monthFigures = new Map(months.map((month) => [month, emptyFigures()]));
  const totals = emptyFigures();
  for (const day of byDay) {
    const { date: _date, ...figures } = day;
    add(monthFigures.get(day.date.slice(0, 7))!, figures);
    add(totals, figures);
  }
  const byMonth = months.map((month) => ({ month, ...monthFigures.get(month)! }));

  const byAgent = rows
    .filter((row) => row.kind === 'agent')
    .map((row) => ({ agent: row.key ?? '', ...figuresOf(row) }))
    .sort((a, b) => b.costMicros - a.costMicros || b.tasks - a.tasks || a.agent.localeCompare(b.agent));

  const planRows = new Map(rows.filter((row) => row.kind === 'plan').map((row) => [row.key, figuresOf(row)]));
  const byPlan = PLAN_IDS.filter((planId) => planRows.has(planId)).map((planId) => ({ planId, ...planRows.get(planId)! }));

  const estimates = planEstimates(months, rows.filter((row) => row.kind === 'priced'));
  const cheapest = estimates.reduce((best, plan) => (plan.estimatedCostMicros < best.estimatedCostMicros ? plan : best));
  const current = estimates.find((plan) => plan.planId === status.plan_id) ?? cheapest;
  const savingsMicros = current.estimatedCostMicros - cheapest.estimatedCostMicros;

  const previousRow = rows.find((row) => row.kind === 'previous');
  const currentMicros = costPerTask(totals);
  const previousMicros = previousRow ? costPerTask(figuresOf(previousRow)) : null;
  const changePercent =
    currentMicros !== null && previousMicros !== null && previousMicros > 0
      ? oneDecimal(((currentMicros - previousMicros) / previousMicros) * 100)
      : null;
  const trend =
    changePercent === null ? null : Math.abs(changePercent) < FLAT_TREND_PERCENT ? 'flat' : changePercent > 0 ? 'up' : 'down';

  const top = byAgent[0];
  const answer: UserAnalytics = {
    range: { startDate, endDate, days: daysBetween(startDate, endDate) + 1, months: months.length },
    totals,
    byDay,
    byMonth,
    byAgent,
    byPlan,
    insights: {
      cheapestPlan: {
        planId: cheapest.planId,
        estimatedCostMicros: cheapest.estimatedCostMicros,
        estimatedCostCents: cheapest.estimatedCostCents,
        currentPlanId: status.plan_id,
        currentPlanEstimatedCostMicros: current.estimatedCostMicros,
        savingsMicros,
        // Rounded down: never promise more saving than there is.
        savingsCents: Math.floor(savingsMicros / MICROS_PER_CENT),
        plans: estimates,
      },
      costPerTask: { currentMicros, previousMicros, previousStartDate, previousEndDate, changePercent, trend },
      topAgent: top
        ? {
            agent: top.agent,
            costMicros: top.costMicros,
            costCents: top.costCents,
            tasks: top.tasks,
            sharePercent: totals.costMicros === 0 ? 0 : oneDecimal((top.costMicros / totals.costMicros) * 100),
          }
        : null,
    },
    budget: budgetStatus(status),
  };
  return userAnalyticsSchema.parse(answer);
}

/** The actor's spending over the range (a signed-in user reads it through RLS). */
export function getUserAnalytics(db: Database, actor: Actor, query: AnalyticsQuery): Promise<UserAnalytics> {
  return asActor(db, actor, (tx) => readAnalytics(tx, actor.userId, query));
}
