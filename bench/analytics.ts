// npm run bench:analytics – the spending figures over 1,000,000 usage events on a real PostgreSQL:
// (a) one user's month through RLS, as GET /api/payments/analytics reads it, and (b) the
// operators' figures for a month over all users. Each is measured beside a baseline taken in the
// same run, interleaved call by call because the machine is shared and noisy: a primary-key
// lookup round trip (`select … from users where id = $1`). Ratios are what to compare.
import { getAdminAnalytics } from '@/lib/analytics/admin';
import { getUserAnalytics } from '@/lib/analytics/user';
import type { Actor } from '@/lib/auth/actor';
import { percentile, withBenchDatabase } from './support';

const USERS = 1_000;
const AGENTS = 20;
const MONTHS = 12;
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const USER_SAMPLES = 400;
const ADMIN_SAMPLES = 60;
const TARGET_USER_P95_MS = 50;
const TARGET_ADMIN_P95_MS = 300;

// Users: id from the index (md5 as uuid), plan by index: 60% Starter, 30% Pro, 10% Enterprise.
const USER_ID = (u: string) => `md5('bench-user-' || ${u})::uuid`;
const USER_PLAN = (u: string) => `(case when ${u} % 10 < 6 then 'starter' when ${u} % 10 < 9 then 'pro' else 'enterprise' end)`;
// A deterministic pseudo-random integer in [0, n) from an integer and a salt.
const RANDOM = (i: string, salt: number, n: number) => `(abs(hashint4(${i} * 31 + ${salt})::bigint) % ${n})`;

// All set-based. $1 = first instant of the first month (UTC), $2 = now; twelve months in all.
const SEED_SQL = [
  `insert into users (id, email, created_at)
   select ${USER_ID('u')}, 'user' || u || '@bench.test', $1::timestamptz
   from generate_series(0, ${USERS - 1}) u`,

  // The ledger, written in time order as the task runner writes it: event i happens at the
  // i-th fraction of the twelve months, for a pseudo-random user and agent, priced at the rates
  // of the user's plan. No join, so rows are inserted in generate_series order.
  `insert into usage_events (user_id, period_start, agent, tokens, execution_ms, plan_id, token_rate_micros,
     minute_rate_micros, cost_micros, idempotency_key, created_at)
   select ${USER_ID('u')}, date_trunc('month', t at time zone 'UTC') at time zone 'UTC',
          'agent-' || lpad(${RANDOM('i', 7, AGENTS)}::text, 2, '0'), tokens, ms, plan,
          token_rate, minute_rate, app_private.task_cost_micros(tokens, ms, token_rate, minute_rate),
          'bench-' || i, t
   from generate_series(0, ${EVENTS - 1}) i
   cross join lateral (select ${RANDOM('i', 1, USERS)} as u,
                              $1::timestamptz + ($2::timestamptz - $1::timestamptz) * (i::float8 / ${EVENTS}) as t,
                              10 + ${RANDOM('i', 2, 500)}::bigint as tokens,
                              200 + ${RANDOM('i', 3, 60_000)}::bigint as ms) r
   cross join lateral (select ${USER_PLAN('r.u')} as plan) p
   cross join lateral (select case p.plan when 'starter' then 1000 when 'pro' then 500 else 200 end::bigint as token_rate,
                              case p.plan when 'starter' then 100000 when 'pro' then 50000 else 20000 end::bigint as minute_rate) rates`,

  // Per-period counters, as the usage functions keep them.
  `insert into user_usage (user_id, period_start, period_end, plan_id, allowance_micros, used_micros)
   select e.user_id, e.period_start, (e.period_start at time zone 'UTC' + interval '1 month') at time zone 'UTC',
          min(e.plan_id), min(pl.allowance_micros), sum(e.cost_micros)
   from usage_events e join plans pl on pl.id = e.plan_id
   group by e.user_id, e.period_start`,

  // Half the users set a budget.
  `insert into budgets (user_id, monthly_budget_cents)
   select ${USER_ID('u')}, 1000 + ${RANDOM('u', 4, 5000)} from generate_series(0, ${USERS - 1}) u where u % 2 = 0`,

  // Subscriptions: Pro and Enterprise users subscribed in month (u % 12) and converted (mostly
  // still active, some past_due or since canceled); a fifth of Starter users started a checkout
  // that expired unpaid.
  `insert into subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end, created_at)
   select 'sub_bench_' || u, ${USER_ID('u')}, ${USER_PLAN('u')},
          case when u % 10 < 6 then 'incomplete_expired' when u % 50 = 6 then 'past_due' when u % 50 = 7 then 'canceled' else 'active' end,
          date_trunc('month', $2::timestamptz at time zone 'UTC') at time zone 'UTC',
          (date_trunc('month', $2::timestamptz at time zone 'UTC') + interval '1 month') at time zone 'UTC',
          $1::timestamptz + (u % ${MONTHS}) * interval '1 month' + ${RANDOM('u', 5, 27)} * interval '1 day'
   from generate_series(0, ${USERS - 1}) u
   where u % 10 >= 6 or u % 5 = 0`,

  // A paid invoice for every month of each converted subscription.
  `insert into invoices (id, user_id, subscription_id, status, billing_reason, amount_due_cents, amount_paid_cents,
     period_start, period_end, stripe_created, paid_at)
   select 'in_' || s.id || '_' || n, s.user_id, s.id, 'paid',
          case when n = 0 then 'subscription_create' else 'subscription_cycle' end,
          pl.allowance_micros / 10000, pl.allowance_micros / 10000,
          s.created_at + n * interval '1 month', s.created_at + (n + 1) * interval '1 month',
          s.created_at + n * interval '1 month', s.created_at + n * interval '1 month' + interval '5 seconds'
   from subscriptions s join plans pl on pl.id = s.plan_id
   cross join lateral generate_series(0, ${MONTHS}) n
   where s.status <> 'incomplete_expired' and s.created_at >= $1::timestamptz
     and s.created_at + n * interval '1 month' < $2::timestamptz`,

  // Thirty usage top-ups per user over the year: 80% succeeded (2% of those partly refunded),
  // 12% failed, 5% canceled, 3% pending.
  `insert into payment_attempts (user_id, amount_cents, payment_intent_id, kind, status, created_at, succeeded_at, refunded_cents)
   select ${USER_ID(`(a % ${USERS})`)}, amount, 'pi_bench_' || a, 'usage_topup', status, t,
          case when status = 'succeeded' then t + interval '5 seconds' end,
          case when status = 'succeeded' and ${RANDOM('a', 8, 50)} = 0 then amount / 2 else 0 end
   from generate_series(0, ${USERS * 30 - 1}) a
   cross join lateral (select 500 + ${RANDOM('a', 9, 9500)} as amount, ${RANDOM('a', 10, 100)} as roll,
                              $1::timestamptz + ($2::timestamptz - $1::timestamptz) * (a::float8 / ${USERS * 30}) as t) r
   cross join lateral (select case when roll < 80 then 'succeeded' when roll < 92 then 'failed'
                                   when roll < 97 then 'canceled' else 'pending' end as status) s`,

  // The webhook inbox: mostly processed, a few failed or still waiting.
  `insert into webhook_events (id, type, stripe_created, payload, status, received_at)
   select 'evt_bench_' || w, 'payment_intent.succeeded', t, '{}',
          case when w % 500 = 0 then 'failed' when w % 700 = 1 then 'received' else 'processed' end, t
   from generate_series(0, 19999) w
   cross join lateral (select $1::timestamptz + ($2::timestamptz - $1::timestamptz) * (w::float8 / 20000) as t) r`,
];

interface Stats {
  p50: number;
  p95: number;
  max: number;
}

function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => percentile(sorted, p);
  return { p50: at(50), p95: at(95), max: sorted.at(-1) ?? 0 };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

/** `samples` calls of `work`, each right after one baseline call, so both see the same noise. */
async function interleaved(samples: number, baseline: () => Promise<unknown>, work: (index: number) => Promise<unknown>) {
  const base: number[] = [];
  const measured: number[] = [];
  for (let index = 0; index < samples; index++) {
    base.push(await timed(baseline));
    measured.push(await timed(() => work(index)));
  }
  return { baseline: stats(base), measured: stats(measured) };
}

const ms = (value: number) => `${value.toFixed(2).padStart(7)} ms`;

async function main() {
  const wallStart = performance.now();
  await withBenchDatabase(10, async (db) => {
    const now = new Date();
    const firstMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - (MONTHS - 1), 1));
    const seedStart = performance.now();
    for (const sql of SEED_SQL) await db.query(sql, sql.includes('$2') ? [firstMonth, now] : sql.includes('$1') ? [firstMonth] : []);
    // Autovacuum does this on its own after bulk inserts (and keeps the BRIN summaries current);
    // here it runs once so the measurement does not race it.
    await db.query('vacuum analyze');
    const seedSeconds = (performance.now() - seedStart) / 1000;

    const { rows: sizes } = await db.query<{ events: number; attempts: number; invoices: number; subscriptions: number; table: string }>(
      `select (select count(*) from usage_events) as events, (select count(*) from payment_attempts) as attempts,
              (select count(*) from invoices) as invoices, (select count(*) from subscriptions) as subscriptions,
              pg_size_pretty(pg_total_relation_size('usage_events')) as table`,
    );
    const { rows: userRows } = await db.query<{ id: string; email: string }>('select id, email from users order by id');
    const months = Array.from({ length: MONTHS }, (_, index) =>
      new Date(Date.UTC(firstMonth.getUTCFullYear(), firstMonth.getUTCMonth() + index, 1)).toISOString().slice(0, 7),
    );
    const monthRange = (month: string) => {
      const [year, monthIndex] = month.split('-').map(Number) as [number, number];
      return { startDate: `${month}-01`, endDate: new Date(Date.UTC(year, monthIndex, 0)).toISOString().slice(0, 10) };
    };
    const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)]!;
    const userActor = (): Actor => {
      const user = pick(userRows);
      const claims = {
        sub: user.id,
        aud: 'authenticated',
        role: 'authenticated',
        exp: Math.floor(Date.now() / 1000) + 3600,
        email: user.email,
      };
      return { kind: 'user', userId: user.id, claims };
    };
    const baseline = () => db.query('select id, email from users where id = $1', [pick(userRows).id]);
    const userMonth = () => getUserAnalytics(db, userActor(), monthRange(pick(months)));
    const adminMonth = () => getAdminAnalytics(db, { month: pick(months) });

    // Warm-up: caches, connections, plans.
    for (let i = 0; i < 50; i++) await Promise.all([baseline(), userMonth()]);
    for (let i = 0; i < 5; i++) await adminMonth();

    const user = await interleaved(USER_SAMPLES, baseline, userMonth);
    const operators = await interleaved(ADMIN_SAMPLES, baseline, adminMonth);

    const { rows: plan } = await db.query<{ 'QUERY PLAN': string }>(
      `explain select plan_id, count(*) from usage_events
       where created_at >= $1 and created_at < $2 group by plan_id`,
      [`${months[5]}-01T00:00:00Z`, `${months[6]}-01T00:00:00Z`],
    );
    const scan =
      plan
        .map((row) => row['QUERY PLAN'])
        .find((line) => /Scan/.test(line))
        ?.trim() ?? '?';

    const size = sizes[0]!;
    console.log(
      `PostgreSQL 15: ${size.events.toLocaleString('en')} usage events (${size.table} with indexes), ${USERS} users, ${AGENTS} agents, ` +
        `${MONTHS} months; ${size.attempts.toLocaleString('en')} payment attempts, ${size.invoices.toLocaleString('en')} invoices, ` +
        `${size.subscriptions} subscriptions; seeded + vacuumed in ${seedSeconds.toFixed(1)} s`,
    );
    console.log(`baseline: primary-key lookup round trip, interleaved call by call with the measured work`);
    const report = (label: string, result: Awaited<ReturnType<typeof interleaved>>, samples: number, target: number) => {
      const ratio50 = result.measured.p50 / result.baseline.p50;
      const ratio95 = result.measured.p95 / result.baseline.p95;
      console.log(
        `${label.padEnd(44)} n=${String(samples).padStart(3)}  p50 ${ms(result.measured.p50)}  p95 ${ms(result.measured.p95)}  max ${ms(result.measured.max)}`,
      );
      console.log(
        `${'  its baseline'.padEnd(44)}        p50 ${ms(result.baseline.p50)}  p95 ${ms(result.baseline.p95)}   ratio p50 ${ratio50.toFixed(1)}x, p95 ${ratio95.toFixed(1)}x`,
      );
      console.log(`  target p95 < ${target} ms: ${result.measured.p95 < target ? 'met' : 'NOT met'}`);
    };
    report("(a) one user's month, through RLS", user, USER_SAMPLES, TARGET_USER_P95_MS);
    report('(b) admin figures for a month, all users', operators, ADMIN_SAMPLES, TARGET_ADMIN_P95_MS);
    console.log(`admin usage-by-plan scan: ${scan}`);
    console.log(`whole bench: ${((performance.now() - wallStart) / 1000).toFixed(0)} s`);
  });
}

await main();
