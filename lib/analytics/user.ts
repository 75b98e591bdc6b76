import { asActor, type Actor } from '@/lib/auth/actor';
import { bigMicrosToCentsCeil, bigMicrosToCentsFloor, exactInt, MICROS_PER_CENT, toBig, type ExactInt } from '@/lib/billing/money';
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

// Costs are summed as bigint (read from SQL as text) and sent as ExactInts: a user's month of
// usage can pass 2^53 micro-dollars (issue 15). Tokens and time stay numbers: reaching 2^53 of
// them takes ~9 million tasks of the largest size a commit accepts in one range.
interface Sums {
  tasks: number;
  tokens: number;
  executionMs: number;
  cost: bigint;
}

interface Figures {
  tasks: number;
  tokens: number;
  executionMs: number;
  costMicros: ExactInt;
  costCents: ExactInt;
}

interface AggregateRow {
  kind: 'day' | 'agent' | 'plan' | 'priced' | 'previous';
  key: string | null;
  plan_id: PlanId | null;
  tasks: number;
  tokens: number;
  execution_ms: number;
  cost_micros: string;
}

interface StatusRow {
  plan_id: PlanId;
  period_start: Date;
  period_end: Date;
  used_micros: string;
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
       sum(tokens)::bigint as tokens, sum(execution_ms)::bigint as execution_ms, sum(cost_micros)::text as cost_micros
  from e group by day
union all
select 'agent', agent, null, count(*), sum(tokens)::bigint, sum(execution_ms)::bigint, sum(cost_micros)::text
  from e group by agent
union all
select 'plan', plan_id, null, count(*), sum(tokens)::bigint, sum(execution_ms)::bigint, sum(cost_micros)::text
  from e group by plan_id
union all
select 'priced', left(e.day, 7), p.id, count(*), 0, 0,
       sum(app_private.task_cost_micros(e.tokens, e.execution_ms, p.token_rate_micros, p.minute_rate_micros))::text
  from e cross join public.plans p group by left(e.day, 7), p.id
union all
select 'previous', null, null, count(*), coalesce(sum(tokens), 0)::bigint, coalesce(sum(execution_ms), 0)::bigint,
       coalesce(sum(cost_micros), 0)::text
  from public.usage_events
  where user_id = $1
    and created_at >= $4::date::timestamp at time zone 'UTC'
    and created_at < $2::date::timestamp at time zone 'UTC'`;

// The plan and period in force now, the usage counted in that period, and the user's budget.
const STATUS_SQL = `
select f.plan_id, f.period_start, f.period_end, coalesce(u.used_micros, 0)::text as used_micros, b.monthly_budget_cents
from app_private.period_in_force($1) f
left join public.user_usage u on u.user_id = $1 and u.period_start = f.period_start
left join public.budgets b on b.user_id = $1`;

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dayMs = (date: string) => Date.parse(`${date}T00:00:00Z`);
const oneDecimal = (value: number) => Math.round(value * 10) / 10;
const emptySums = (): Sums => ({ tasks: 0, tokens: 0, executionMs: 0, cost: 0n });

const sumsOf = (row: AggregateRow): Sums => ({
  tasks: row.tasks,
  tokens: row.tokens,
  executionMs: row.execution_ms,
  cost: toBig(row.cost_micros),
});

function figuresOf(sums: Sums): Figures {
  return {
    tasks: sums.tasks,
    tokens: sums.tokens,
    executionMs: sums.executionMs,
    costMicros: exactInt(sums.cost),
    costCents: exactInt(bigMicrosToCentsCeil(sums.cost)),
  };
}

function add(into: Sums, from: Sums): void {
  into.tasks += from.tasks;
  into.tokens += from.tokens;
  into.executionMs += from.executionMs;
  into.cost += from.cost;
}

function everyDay(startDate: string, endDate: string): string[] {
  const days: string[] = [];
  for (let ms = dayMs(startDate); ms <= dayMs(endDate); ms += DAY_MS) days.push(isoDate(ms));
  return days;
}

/** Mean cost of a task, rounded half up (costs are never negative). */
const costPerTask = (sums: Sums): bigint | null =>
  sums.tasks === 0 ? null : (sums.cost * 2n + BigInt(sums.tasks)) / (2n * BigInt(sums.tasks));

/**
 * What each plan would have cost for this usage: per calendar month of the range, the plan's
 * monthly price (its allowance) plus whatever the month's usage at its rates exceeds the
 * allowance by. Months of the range without usage still pay the price.
 */
function planEstimates(months: string[], priced: AggregateRow[]) {
  return PLAN_IDS.map((planId) => {
    const plan = PLANS[planId];
    const allowance = BigInt(plan.allowanceMicros);
    let usageCost = 0n;
    let overage = 0n;
    for (const month of months) {
      const cost = toBig(priced.find((row) => row.key === month && row.plan_id === planId)?.cost_micros ?? 0);
      usageCost += cost;
      if (cost > allowance) overage += cost - allowance;
    }
    const estimated = BigInt(months.length) * allowance + overage;
    return {
      planId,
      priceCents: (months.length * plan.allowanceMicros) / MICROS_PER_CENT,
      usageCostMicros: exactInt(usageCost),
      overageMicros: exactInt(overage),
      estimatedCostMicros: exactInt(estimated),
      estimatedCostCents: exactInt(bigMicrosToCentsCeil(estimated)),
      estimated,
    };
  });
}

function budgetStatus(status: StatusRow): UserAnalytics['budget'] {
  if (status.monthly_budget_cents === null) return null;
  const budgetMicros = BigInt(status.monthly_budget_cents * MICROS_PER_CENT);
  const spent = toBig(status.used_micros);
  const spentCents = bigMicrosToCentsCeil(spent);
  const remainingCents = BigInt(status.monthly_budget_cents) - spentCents;
  return {
    monthlyBudgetCents: status.monthly_budget_cents,
    periodStart: status.period_start.toISOString(),
    periodEnd: status.period_end.toISOString(),
    spentMicros: exactInt(spent),
    spentCents: exactInt(spentCents),
    remainingCents: remainingCents > 0n ? Number(remainingCents) : 0,
    percentUsed: oneDecimal((Number(spent) / Number(budgetMicros)) * 100),
    status: spent >= budgetMicros ? 'exceeded' : spent * 10n >= budgetMicros * BigInt(BUDGET_WARNING_RATIO * 10) ? 'warning' : 'ok',
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

  const byDate = new Map(rows.filter((row) => row.kind === 'day').map((row) => [row.key, sumsOf(row)]));
  const daySums = days.map((date) => ({ date, sums: byDate.get(date) ?? emptySums() }));
  const byDay = daySums.map(({ date, sums }) => ({ date, ...figuresOf(sums) }));

  const months = [...new Set(days.map((date) => date.slice(0, 7)))];
  const monthSums = new Map(months.map((month) => [month, emptySums()]));
  const totalSums = emptySums();
  for (const { date, sums } of daySums) {
    add(monthSums.get(date.slice(0, 7))!, sums);
    add(totalSums, sums);
  }
  const totals = figuresOf(totalSums);
  const byMonth = months.map((month) => ({ month, ...figuresOf(monthSums.get(month)!) }));

  const agentSums = rows
    .filter((row) => row.kind === 'agent')
    .map((row) => ({ agent: row.key ?? '', sums: sumsOf(row) }))
    .sort((a, b) =>
      b.sums.cost > a.sums.cost ? 1 : b.sums.cost < a.sums.cost ? -1 : b.sums.tasks - a.sums.tasks || a.agent.localeCompare(b.agent),
    );
  const byAgent = agentSums.map(({ agent, sums }) => ({ agent, ...figuresOf(sums) }));

  const planRows = new Map(rows.filter((row) => row.kind === 'plan').map((row) => [row.key, figuresOf(sumsOf(row))]));
  const byPlan = PLAN_IDS.filter((planId) => planRows.has(planId)).map((planId) => ({ planId, ...planRows.get(planId)! }));

  const estimates = planEstimates(
    months,
    rows.filter((row) => row.kind === 'priced'),
  );
  const cheapest = estimates.reduce((best, plan) => (plan.estimated < best.estimated ? plan : best));
  const current = estimates.find((plan) => plan.planId === status.plan_id) ?? cheapest;
  const savings = current.estimated - cheapest.estimated;

  const previousRow = rows.find((row) => row.kind === 'previous');
  const currentMicros = costPerTask(totalSums);
  const previousMicros = previousRow ? costPerTask(sumsOf(previousRow)) : null;
  const changePercent =
    currentMicros !== null && previousMicros !== null && previousMicros > 0n
      ? oneDecimal((Number(currentMicros - previousMicros) / Number(previousMicros)) * 100)
      : null;
  const trend = changePercent === null ? null : Math.abs(changePercent) < FLAT_TREND_PERCENT ? 'flat' : changePercent > 0 ? 'up' : 'down';

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
        savingsMicros: exactInt(savings),
        // Rounded down: never promise more saving than there is.
        savingsCents: exactInt(bigMicrosToCentsFloor(savings)),
        plans: estimates.map(({ estimated: _estimated, ...plan }) => plan),
      },
      costPerTask: {
        currentMicros: currentMicros === null ? null : exactInt(currentMicros),
        previousMicros: previousMicros === null ? null : exactInt(previousMicros),
        previousStartDate,
        previousEndDate,
        changePercent,
        trend,
      },
      topAgent: top
        ? {
            agent: top.agent,
            costMicros: top.costMicros,
            costCents: top.costCents,
            tasks: top.tasks,
            sharePercent: totalSums.cost === 0n ? 0 : oneDecimal((Number(agentSums[0]!.sums.cost) / Number(totalSums.cost)) * 100),
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
