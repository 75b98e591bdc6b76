// npm run bench:webhooks – signed Stripe events per second through POST /api/payments/webhook into
// a real PostgreSQL, 10% of them re-deliveries of earlier event ids, with 32 concurrent clients,
// beside a baseline measured in the same run: per event, the bare signature check plus one
// single-row insert into a scratch table. The machine is shared and noisy, so the two are
// interleaved (baseline, route, baseline, route) and compared as ratios. Then the route alone at
// the target rate (1,000 events/s offered, open loop) for the latency target at that rate. Every event is a
// `payment_intent.succeeded` top-up (no Stripe API call); at the end the money is checked: each
// distinct event credited exactly once. CPU time per event of this process and of its database
// backends is printed too: on a shared machine it varies far less than events per second.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { POST } from '@/app/api/payments/webhook/route';
import { useDatabase } from '@/lib/db';
import { verifyWebhookEvent } from '@/lib/stripe/client';
import { signatureHeader } from '@/local/stripe/webhooks/sign';
import { percentile, withBenchDatabase } from './support';

const CLIENTS = 32;
const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000); // route deliveries in all (10% re-deliveries), split over the rounds
const USERS = 500;
const ROUNDS = 2;
const PER_ROUND = Math.ceil(EVENTS / ROUNDS);
const DUPLICATE_SHARE = 0.1;
const WARM_UP_EVENTS = 500;
const PACED_EVENTS = Number(process.env.BENCH_PACED_EVENTS ?? 10_000); // 10 s at the target rate
const TARGET_EVENTS_PER_SECOND = 1_000;
const TARGET_P99_MS = 50;
const SECRET = 'whsec_bench_webhooks_secret';
const MICROS_PER_CENT = 10_000;

// The route reads its secret through env(), once per process: set it before anything calls env().
process.env.STRIPE_WEBHOOK_SECRET = SECRET;

interface Delivery {
  eventId: string;
  body: string;
  signature: string;
  amountCents: number;
  redelivery: boolean;
}

interface RunResult {
  eventsPerSecond: number;
  p50: number;
  p99: number;
  nodeCpuMs: number; // per event, this process
  dbCpuMs: number; // per event, the benchmark database's backends (NaN when not measurable)
}

interface Seeded {
  id: string;
  customer: string | null;
}

/** Every distinct event delivered (warm-up and all rounds): id -> amount received, in cents. */
const delivered = new Map<string, number>();
const outcomes = new Map<string, number>();

/** `count` signed deliveries; every tenth is a re-delivery (same payload) of a recent earlier one. */
function buildDeliveries(count: number, users: Seeded[]): Delivery[] {
  const timestamp = Math.floor(Date.now() / 1000); // Stripe signs with wall-clock time; 300 s tolerance
  const originals: Delivery[] = [];
  const deliveries: Delivery[] = [];
  for (let i = 0; i < count; i++) {
    if (originals.length > 0 && (i + 1) % Math.round(1 / DUPLICATE_SHARE) === 0) {
      // A recent one, so some re-deliveries race their original (as Stripe's retries can).
      const window = Math.min(originals.length, 200);
      const original = originals[originals.length - 1 - Math.floor(Math.random() * window)]!;
      deliveries.push({ ...original, redelivery: true });
      continue;
    }
    const user = users[i % users.length]!;
    const amountCents = 500 + Math.floor(Math.random() * 9_500);
    const intentId = `pi_bench_${randomUUID().replaceAll('-', '')}`;
    const eventId = `evt_bench_${randomUUID().replaceAll('-', '')}`;
    const event = {
      id: eventId,
      object: 'event',
      api_version: '2026-10-28.endive',
      created: timestamp,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type: 'payment_intent.succeeded',
      data: {
        object: {
          id: intentId,
          object: 'payment_intent',
          amount: amountCents,
          amount_received: amountCents,
          currency: 'usd',
          customer: user.customer,
          status: 'succeeded',
          created: timestamp,
          livemode: false,
          metadata: { purpose: 'usage_topup', userId: user.id },
        },
      },
    };
    const body = JSON.stringify(event);
    const delivery = { eventId, body, signature: signatureHeader(body, SECRET, timestamp), amountCents, redelivery: false };
    originals.push(delivery);
    deliveries.push(delivery);
  }
  return deliveries;
}

/**
 * CPU milliseconds used so far by the server processes serving `database` (Linux: backends show
 * the database name in their title), or NaN when there are none to see (a remote DATABASE_URL).
 */
function backendCpuMs(database: string): number {
  let ticks = 0;
  let seen = 0;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${database} `)) continue;
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        ticks += Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (USER_HZ = 100)
        seen++;
      } catch {
        // the process ended meanwhile
      }
    }
  } catch {
    return Number.NaN;
  }
  return seen > 0 ? ticks * 10 : Number.NaN;
}

let databaseName = '';

/** Runs every delivery through `step` from CLIENTS concurrent loops, timing each one. */
async function measure(deliveries: Delivery[], step: (delivery: Delivery) => Promise<void>): Promise<RunResult> {
  const latencies: number[] = [];
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const dbCpuBefore = backendCpuMs(databaseName);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < deliveries.length) {
        const delivery = deliveries[next++]!;
        const t0 = performance.now();
        await step(delivery);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const dbCpu = backendCpuMs(databaseName) - dbCpuBefore;
  latencies.sort((a, b) => a - b);
  return {
    eventsPerSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    nodeCpuMs: (cpu.user + cpu.system) / 1000 / latencies.length,
    dbCpuMs: dbCpu / latencies.length,
  };
}

/**
 * Open loop at a fixed offered rate: delivery i is due at start + i/rate, whatever happened to the
 * earlier ones, and its latency counts from when it was due (so time spent queued behind a slow
 * moment counts too). This is "p99 at that rate"; `measure` above gives the saturation rate.
 */
async function measureAtRate(deliveries: Delivery[], perSecond: number, step: (delivery: Delivery) => Promise<void>) {
  const latencies: number[] = [];
  const inFlight: Array<Promise<void>> = [];
  const started = performance.now();
  for (let i = 0; i < deliveries.length; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(step(deliveries[i]!).then(() => void latencies.push(performance.now() - due)));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { eventsPerSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** One delivery through the route handler, exactly as Next.js would call it. Anything but 200 aborts. */
async function throughRoute(delivery: Delivery): Promise<void> {
  const response = await POST(
    new Request('http://127.0.0.1/api/payments/webhook', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': delivery.signature },
      body: delivery.body,
    }),
  );
  const text = await response.text();
  if (response.status !== 200) throw new Error(`route answered ${response.status} for ${delivery.eventId}: ${text}`);
  const outcome = JSON.parse(text) as { data?: { outcome?: string }; outcome?: string };
  const name = outcome.data?.outcome ?? outcome.outcome ?? 'unknown';
  outcomes.set(name, (outcomes.get(name) ?? 0) + 1);
  delivered.set(delivery.eventId, delivery.amountCents);
}

async function main() {
  await withBenchDatabase(CLIENTS, async (db, name) => {
    databaseName = name;
    useDatabase(db); // the route's getDatabase() now answers this pool
    // Half the users already have a Stripe customer (the intent names it), half not (customer null).
    const users: Seeded[] = Array.from({ length: USERS }, (_, i) => ({
      id: randomUUID(),
      customer: i % 2 === 0 ? `cus_bench_${i}` : null,
    }));
    await db.query(
      `insert into users (id, email, stripe_customer_id)
       select id, id::text || '@bench.test', customer from unnest($1::uuid[], $2::text[]) as u (id, customer)`,
      [users.map((u) => u.id), users.map((u) => u.customer)],
    );
    await db.query(
      'create table bench_scratch (id bigint generated always as identity primary key, event_id text not null, payload jsonb not null)',
    );

    // Baseline: the bare signature check and one single-row insert.
    const baselineStep = async (delivery: Delivery) => {
      const event = verifyWebhookEvent(delivery.body, delivery.signature, SECRET);
      await db.query('insert into bench_scratch (event_id, payload) values ($1, $2)', [event.id, delivery.body]);
    };

    await measure(buildDeliveries(WARM_UP_EVENTS, users), throughRoute); // warm-up (JIT, plans, pool)
    await measure(buildDeliveries(WARM_UP_EVENTS, users), baselineStep);

    const baselines: RunResult[] = [];
    const routes: RunResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const deliveries = buildDeliveries(PER_ROUND, users); // fresh ids each round, signed just before use
      baselines.push(await measure(deliveries, baselineStep));
      routes.push(await measure(deliveries, throughRoute));
    }

    // The latency target is at the target rate: offer exactly that, open loop.
    const pacedDeliveries = buildDeliveries(PACED_EVENTS, users);
    const paced = await measureAtRate(pacedDeliveries, TARGET_EVENTS_PER_SECOND, throughRoute);

    const mean = (runs: RunResult[], key: keyof RunResult) => runs.reduce((sum, run) => sum + run[key], 0) / runs.length;
    const row = (label: string, runs: RunResult[]) =>
      `${label.padEnd(40)} ${mean(runs, 'eventsPerSecond').toFixed(0).padStart(7)} events/s   p50 ${mean(runs, 'p50').toFixed(2).padStart(6)} ms   p99 ${mean(runs, 'p99').toFixed(2).padStart(6)} ms` +
      `   cpu/event: node ${mean(runs, 'nodeCpuMs').toFixed(3)} ms, postgres ${Number.isNaN(mean(runs, 'dbCpuMs')) ? 'n/a' : `${mean(runs, 'dbCpuMs').toFixed(3)} ms`}`;
    console.log(
      `PostgreSQL, ${CLIENTS} concurrent clients, ${USERS} users, ${PER_ROUND} deliveries per run (${DUPLICATE_SHARE * 100}% re-deliveries), ${ROUNDS} interleaved rounds`,
    );
    for (let round = 0; round < ROUNDS; round++) {
      console.log(row(`  round ${round + 1} baseline`, [baselines[round]!]));
      console.log(row(`  round ${round + 1} route`, [routes[round]!]));
    }
    console.log(row('baseline: verify signature + one INSERT', baselines));
    console.log(row('POST /api/payments/webhook', routes));
    const throughputRatio = mean(routes, 'eventsPerSecond') / mean(baselines, 'eventsPerSecond');
    const p50Ratio = mean(routes, 'p50') / mean(baselines, 'p50');
    const p99Ratio = mean(routes, 'p99') / mean(baselines, 'p99');
    console.log(
      `ratios to baseline: throughput ${(throughputRatio * 100).toFixed(0)}%, p50 ${p50Ratio.toFixed(2)}x, p99 ${p99Ratio.toFixed(2)}x`,
    );
    console.log(
      `route at ${TARGET_EVENTS_PER_SECOND} events/s offered (${PACED_EVENTS} deliveries, open loop): achieved ${paced.eventsPerSecond.toFixed(0)} events/s, p50 ${paced.p50.toFixed(2)} ms, p99 ${paced.p99.toFixed(2)} ms`,
    );
    console.log(`route outcomes: ${[...outcomes].map(([outcome, count]) => `${outcome} ${count}`).join(', ')}`);

    // Money: every distinct event credited exactly once, for exactly its amount.
    const expectedCount = delivered.size;
    const expectedMicros = [...delivered.values()].reduce((sum, cents) => sum + cents * MICROS_PER_CENT, 0);
    const { rows } = await db.query<{
      grants: number;
      granted: number | null;
      attempts: number;
      succeeded: number;
      attempted_cents: number | null;
      events: number;
      processed: number;
      credits: number | null;
    }>(
      `select (select count(*) from credit_grants where source = 'payment_intent')::bigint as grants,
              (select sum(amount_micros) from credit_grants where source = 'payment_intent')::bigint as granted,
              (select count(*) from payment_attempts)::bigint as attempts,
              (select count(*) from payment_attempts where status = 'succeeded')::bigint as succeeded,
              (select sum(amount_cents) from payment_attempts)::bigint as attempted_cents,
              (select count(*) from webhook_events)::bigint as events,
              (select count(*) from webhook_events where status = 'processed')::bigint as processed,
              (select sum(left_micros) from credit_grants)::bigint as credits`,
    );
    const found = rows[0]!;
    const problems = [
      found.grants !== expectedCount && `credit_grants ${found.grants}, distinct events ${expectedCount}`,
      found.granted !== expectedMicros && `credited ${found.granted} micro-dollars, paid ${expectedMicros}`,
      found.credits !== expectedMicros && `credit left on grants ${found.credits} micro-dollars, paid ${expectedMicros}`,
      found.attempts !== expectedCount && `payment_attempts ${found.attempts}, distinct events ${expectedCount}`,
      found.succeeded !== expectedCount && `succeeded payment_attempts ${found.succeeded} of ${found.attempts}`,
      found.attempted_cents !== expectedMicros / MICROS_PER_CENT && `payment_attempts sum ${found.attempted_cents} cents`,
      found.events !== expectedCount && `webhook_events ${found.events}, distinct events ${expectedCount}`,
      found.processed !== expectedCount && `processed webhook_events ${found.processed} of ${found.events}`,
      outcomes.get('processed') !== expectedCount &&
        `route said processed ${outcomes.get('processed') ?? 0} times for ${expectedCount} events`,
    ].filter(Boolean);
    if (problems.length > 0) throw new Error(`MONEY CHECK FAILED: ${problems.join('; ')}`);
    console.log(
      `money check: ${expectedCount} distinct events, each credited exactly once ($${(expectedMicros / 1_000_000).toFixed(2)} in all), every payment attempt succeeded`,
    );

    const rate = mean(routes, 'eventsPerSecond');
    const p99 = paced.p99;
    const pass = rate >= TARGET_EVENTS_PER_SECOND && p99 < TARGET_P99_MS;
    console.log(
      `${pass ? 'PASS' : 'FAIL'}: route ${rate.toFixed(0)} events/s at saturation (target >= ${TARGET_EVENTS_PER_SECOND}: ${rate >= TARGET_EVENTS_PER_SECOND ? 'met' : 'NOT met'}), ` +
        `p99 ${p99.toFixed(2)} ms at ${TARGET_EVENTS_PER_SECOND}/s offered (target < ${TARGET_P99_MS} ms: ${p99 < TARGET_P99_MS ? 'met' : 'NOT met'})`,
    );
    if (!pass) process.exitCode = 1;
  });
}

await main();
