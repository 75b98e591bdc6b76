// npm run bench:usage – reserve+commit throughput and latency with 32 concurrent clients on a
// real PostgreSQL, beside a baseline measured in the same run: the same number of bare
// single-statement `UPDATE … SET x = x + $1` round trips. The machine is shared and noisy, so
// the two are interleaved (baseline, usage, baseline, usage) and compared as ratios.
// The usage side runs in two modes, side by side: straight to PostgreSQL with named prepared
// statements, and through PgBouncer 1.18 in transaction mode with unnamed ones
// (DATABASE_POOLER=transaction), each beside a baseline over the same connection.
// BENCH_WITH_BUDGETS=1 gives every user a budget the run goes past, so commits also take the
// budget-alert path, and checks at the end that each threshold reached alerted exactly once.
import { randomUUID } from 'node:crypto';
import { commitUsage, reserveUsage } from '@/lib/billing/usage';
import { connectPostgres, type Database } from '@/lib/db/database';
import { pgbouncerInstalled, startThrowawayPgbouncer } from '@/local/db/pgbouncer';
import { withDatabase } from '@/local/db/throwaway-postgres';
import { percentile, withBenchDatabase } from './support';

const CLIENTS = 32;
const OPERATIONS = Number(process.env.BENCH_OPERATIONS ?? 20_000); // per run; a task is 2 operations
const USERS = 256;
const ROUNDS = 2;
const WITH_BUDGETS = process.env.BENCH_WITH_BUDGETS === '1';
// Five cents: each user's ~80 one-token tasks ($0.001 each) pass 80% and 100% during the run.
const BUDGET_CENTS = 5;

interface RunResult {
  opsPerSecond: number;
  p50: number;
  p99: number;
}

/** Runs `operations` calls of `step` spread over CLIENTS concurrent loops; `step` may do several. */
async function measure(
  operations: number,
  step: (index: number, record: (ms: number) => void) => Promise<void>,
  perStep: number,
): Promise<RunResult> {
  const latencies: number[] = [];
  const record = (ms: number) => latencies.push(ms);
  let next = 0;
  const steps = operations / perStep;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < steps) await step(next++, record);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { opsPerSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function timed<T>(record: (ms: number) => void, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  record(performance.now() - started);
  return result;
}

async function main() {
  await withBenchDatabase(CLIENTS, async (db, databaseName, databaseUrl) => {
    const users = Array.from({ length: USERS }, () => randomUUID());
    await db.query("insert into users (id, email) select id, id::text || '@bench.test' from unnest($1::uuid[]) as id", [users]);
    if (WITH_BUDGETS) {
      await db.query('insert into budgets (user_id, monthly_budget_cents) select id, $2 from unnest($1::uuid[]) as id', [
        users,
        BUDGET_CENTS,
      ]);
    }
    await db.query('create table bench_counter (id int primary key, x bigint not null default 0)');
    await db.query('insert into bench_counter (id) select generate_series(0, $1::int - 1)', [USERS]);

    const baseline = (on: Database) =>
      measure(
        OPERATIONS,
        (i, record) =>
          timed(record, () => on.query('update bench_counter set x = x + $1 where id = $2', [1, i % USERS])).then(() => undefined),
        1,
      );
    const usage = (on: Database) =>
      measure(
        OPERATIONS,
        async (i, record) => {
          const actor = { kind: 'task-runner', userId: users[i % USERS]!, claims: null } as const;
          const key = randomUUID();
          const hold = await timed(record, () => reserveUsage(on, actor, { estimatedCost: 1_000, idempotencyKey: key }, 900));
          await timed(record, () =>
            commitUsage(on, actor, {
              reservationId: hold.reservationId ?? undefined,
              agent: 'bench',
              tokens: 1,
              executionMs: 0,
              idempotencyKey: key,
            }),
          );
        },
        2,
      );

    const bouncer = pgbouncerInstalled() ? await startThrowawayPgbouncer(databaseUrl, CLIENTS) : undefined;
    const pooled = bouncer && connectPostgres(withDatabase(bouncer.url, databaseName), CLIENTS, 'transaction');
    const modes: Array<{ label: string; db: Database; baselines: RunResult[]; usages: RunResult[] }> = [
      { label: 'direct, named prepared statements', db, baselines: [], usages: [] },
      ...(pooled ? [{ label: 'PgBouncer 1.18 transaction mode, unnamed', db: pooled, baselines: [], usages: [] }] : []),
    ];
    try {
      for (const mode of modes)
        await measure(2_000, (_i, record) => timed(record, () => mode.db.query('select 1')).then(() => undefined), 1); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        for (const mode of modes) {
          mode.baselines.push(await baseline(mode.db));
          mode.usages.push(await usage(mode.db));
        }
      }
    } finally {
      await pooled?.close();
      await bouncer?.stop();
    }
    const mean = (runs: RunResult[], key: keyof RunResult) => runs.reduce((sum, run) => sum + run[key], 0) / runs.length;
    const row = (label: string, runs: RunResult[]) =>
      `  ${label.padEnd(34)} ${mean(runs, 'opsPerSecond').toFixed(0).padStart(8)} ops/s   p50 ${mean(runs, 'p50').toFixed(2).padStart(6)} ms   p99 ${mean(runs, 'p99').toFixed(2).padStart(6)} ms`;

    console.log(
      `PostgreSQL, ${CLIENTS} concurrent clients, ${USERS} users, ${OPERATIONS} operations per run, ${ROUNDS} interleaved rounds per mode` +
        (WITH_BUDGETS ? `, every user with a ${BUDGET_CENTS}-cent budget` : ''),
    );
    if (!pooled) console.log('(pgbouncer is not installed: the pooled mode is left out; apt-get install -y pgbouncer)');
    for (const mode of modes) {
      console.log(`${mode.label}:`);
      console.log(row('baseline: bare UPDATE x = x + $1', mode.baselines));
      console.log(row('reserve + commit (each an op)', mode.usages));
      console.log(`  tasks (reserve+commit pairs) per second: ${(mean(mode.usages, 'opsPerSecond') / 2).toFixed(0)}`);
      const throughputRatio = mean(mode.usages, 'opsPerSecond') / mean(mode.baselines, 'opsPerSecond');
      const p99Ratio = mean(mode.usages, 'p99') / mean(mode.baselines, 'p99');
      console.log(
        `  throughput ratio ${(throughputRatio * 100).toFixed(0)}% of baseline (target >= 40%): ${throughputRatio >= 0.4 ? 'met' : 'NOT met'}`,
      );
      console.log(`  p99 ratio ${p99Ratio.toFixed(2)}x baseline (target <= 3x): ${p99Ratio <= 3 ? 'met' : 'NOT met'}`);
    }
    if (pooled) {
      const [direct, viaPooler] = modes;
      const ratio = mean(viaPooler!.usages, 'opsPerSecond') / mean(direct!.usages, 'opsPerSecond');
      console.log(`reserve + commit through the pooler: ${(ratio * 100).toFixed(0)}% of the direct throughput`);
    }

    const { rows } = await db.query<{ used: number; events: number }>(
      'select (select sum(used_micros) from user_usage)::bigint as used, (select sum(cost_micros) from usage_events)::bigint as events',
    );
    if (rows[0]?.used !== rows[0]?.events) throw new Error(`ledger mismatch after the benchmark: ${JSON.stringify(rows[0])}`);
    console.log(`ledger check: usage counters equal the ledger (${rows[0]?.used} micro-dollars)`);

    if (WITH_BUDGETS) {
      // Every threshold a user's usage reached alerted exactly once; none it did not reach.
      const { rows: wrong } = await db.query<{ user_id: string }>(
        `select u.user_id from user_usage u
         where (select count(*) from notifications n where n.user_id = u.user_id and n.kind = 'budget_80')
                 <> (u.used_micros >= $1::bigint * 8000)::int
            or (select count(*) from notifications n where n.user_id = u.user_id and n.kind = 'budget_100')
                 <> (u.used_micros >= $1::bigint * 10000)::int`,
        [BUDGET_CENTS],
      );
      if (wrong.length > 0) throw new Error(`budget alerts wrong for ${wrong.length} users after the benchmark`);
      const { rows: sent } = await db.query<{ n: number }>("select count(*)::int as n from notifications where kind like 'budget%'");
      console.log(`budget check: each threshold reached alerted once (${sent[0]?.n} alerts for ${USERS} users)`);
    }
  });
}

await main();
