// npm run bench:http – the task runner's API through the server a user actually runs (`npm start`,
// i.e. `next start` on a `next build`), on a real PostgreSQL, beside a floor measured in the same
// run: a bare node:http + pg server making the same SQL calls (bench/http-floor.ts), and the same
// commits called in-process. Rounds are interleaved (floor, app, in-process, ...) because the
// machine is shared and noisy; ratios are what to compare.
//
// Workloads, 32 clients each:
//   pairs   – reserve + commit over HTTP, closed loop;
//   batches – POST /api/usage/events with BENCH_BATCH events (100) per request, closed loop;
//   commits – commitUsage() in-process (the app's pool size, 10), closed loop;
//   open    – reserves at a fixed offered rate (300/s), open loop: latency is measured from the
//             time each request was due, so a stall counts against every request it delays.
//   wrapper – the reserve route handler called in-process vs reserveUsage() itself: CPU time per
//             request of the route wrapper (auth, body, parsing, envelope), without HTTP.
//             BENCH_ONLY=wrapper runs only this (five rounds, median and min), with
//             BENCH_PROFILE=<file.cpuprofile> a CPU profile of the handler loop.
// Each server's CPU per request comes from its process group's CPU time in /proc.
// Each client works for its own users (256 users, 8 per client), as a task runner batches the
// events of its own tasks. Env: BENCH_SECONDS (8), BENCH_ROUNDS (2), BENCH_BATCH (100),
// BENCH_RATE (300), DATABASE_URL (a PostgreSQL server; default a throwaway PostgreSQL 15).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createTaskRunnerKey } from '@/lib/auth/task-runner-keys';
import { commitUsage, reserveUsage } from '@/lib/billing/usage';
import { useDatabase, type Database } from '@/lib/db';
import { percentile, withBenchDatabase } from './support';

const CLIENTS = 32;
const USERS = 256;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const RATE = Number(process.env.BENCH_RATE ?? 300);
const APP_PORT = 3171;
const FLOOR_PORT = 3174;

interface Figures {
  perSecond: number; // requests (or events) per second
  p50: number;
  p99: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function get(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function post(port: number, path: string, key: string, body: unknown): Promise<{ status: number; data: any }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), authorization: `Bearer ${key}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data?: unknown; error?: unknown };
          if (res.statusCode !== 200) reject(new Error(`${path}: ${res.statusCode} ${JSON.stringify(parsed.error)}`));
          else resolve({ status: res.statusCode, data: parsed.data });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

function summarize(latencies: number[], count: number, seconds: number): Figures {
  latencies.sort((a, b) => a - b);
  return { perSecond: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** CLIENTS loops of `step` for SECONDS; `step` returns how many units (requests, events) it did. */
async function closedLoop(step: (client: number, record: (ms: number) => void) => Promise<number>): Promise<Figures> {
  const latencies: number[] = [];
  const record = (ms: number) => latencies.push(ms);
  let units = 0;
  const started = performance.now();
  const until = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      while (performance.now() < until) {
        const done = await step(client, record); // not `units += await …`: that reads units before the await
        units += done;
      }
    }),
  );
  return summarize(latencies, units, (performance.now() - started) / 1000);
}

async function timed<T>(record: (ms: number) => void, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await work();
  record(performance.now() - started);
  return result;
}

let sequence = 0;
const userOf = (users: string[], client: number) => users[client + CLIENTS * Math.floor(Math.random() * (USERS / CLIENTS))]!;

const pairs = (port: number, key: string, users: string[]) =>
  closedLoop(async (client, record) => {
    const userId = userOf(users, client);
    const held = await timed(record, () =>
      post(port, '/api/usage/reserve', key, { userId, estimatedCost: 0.01, idempotencyKey: `r${++sequence}` }),
    );
    const reservationId = (held.data as { reservationId: string }).reservationId;
    await timed(record, () =>
      post(port, '/api/usage/commit', key, {
        userId,
        reservationId,
        agent: 'bench',
        tokens: 1,
        executionMs: 0,
        idempotencyKey: `c${++sequence}`,
      }),
    );
    return 2;
  });

const health = (port: number) =>
  closedLoop(async (_client, record) => {
    await timed(record, () => get(port, '/api/health'));
    return 1;
  });

const batches = (port: number, key: string, users: string[]) =>
  closedLoop(async (client, record) => {
    const events = Array.from({ length: BATCH }, () => ({
      userId: userOf(users, client),
      agent: 'bench',
      tokens: 1,
      executionMs: 0,
      idempotencyKey: `e${++sequence}`,
    }));
    const answer = await timed(record, () => post(port, '/api/usage/events', key, { events }));
    const results = (answer.data as { results: Array<{ status?: string; outcome?: string }> }).results;
    const recorded = results.filter((r) => (r.status ?? r.outcome) === 'recorded').length;
    if (recorded !== BATCH)
      throw new Error(
        `batch recorded ${recorded} of ${BATCH}: ${JSON.stringify(results.find((r) => (r.status ?? r.outcome) !== 'recorded'))}`,
      );
    return BATCH;
  });

const inProcessCommits = (db: Database, users: string[]) =>
  closedLoop(async (client, record) => {
    const userId = userOf(users, client);
    await timed(record, () =>
      commitUsage(
        db,
        { kind: 'task-runner', userId, claims: null },
        { agent: 'bench', tokens: 1, executionMs: 0, idempotencyKey: `i${++sequence}` },
      ),
    );
    return 1;
  });

async function openLoop(port: number, key: string, users: string[]): Promise<Figures & { offered: number; errors: number }> {
  const total = Math.round(RATE * SECONDS);
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const requests: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const userId = users[i % USERS]!;
    requests.push(
      post(port, '/api/usage/reserve', key, { userId, estimatedCost: 0.000001, idempotencyKey: `o${++sequence}` }).then(
        () => void latencies.push(performance.now() - due),
        () => void errors++,
      ),
    );
  }
  await Promise.all(requests);
  const seconds = (performance.now() - started) / 1000;
  return { ...summarize(latencies, latencies.length, seconds), offered: RATE, errors };
}

/** CPU time per request of the reserve route handler in-process, and of reserveUsage() alone. */
async function wrapperCost(db: Database, key: string, users: string[], beforeHandler?: () => Promise<void>) {
  const { POST: reserveRoute } = await import('@/app/api/usage/reserve/route');
  const n = 4000;
  const cpuPer = async (work: (i: number) => Promise<unknown>) => {
    let next = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < n) await work(next++);
      }),
    );
    const used = process.cpuUsage(cpu);
    return { cpuMicros: (used.user + used.system) / n, perSecond: n / ((performance.now() - started) / 1000) };
  };
  const lib = await cpuPer((i) =>
    reserveUsage(
      db,
      { kind: 'task-runner', userId: users[i % USERS]!, claims: null },
      { estimatedCost: 1, idempotencyKey: `w${++sequence}` },
      900,
    ),
  );
  await beforeHandler?.();
  const handler = await cpuPer(async (i) => {
    const body = JSON.stringify({ userId: users[i % USERS], estimatedCost: 0.000001, idempotencyKey: `h${++sequence}` });
    const response = await reserveRoute(
      new Request('http://127.0.0.1/api/usage/reserve', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body,
      }),
    );
    if (response.status !== 200) throw new Error(`reserve route answered ${response.status}: ${await response.text()}`);
    await response.text();
  });
  return { lib, handler, wrapperCpuMicros: handler.cpuMicros - lib.cpuMicros };
}

/** CPU time per batch of BATCH events: the events route in-process, recordUsageEvents(), and the bare SQL call. */
async function batchCost(db: Database, key: string, users: string[]) {
  const { POST: eventsRoute } = await import('@/app/api/usage/events/route');
  const { recordUsageEvents } = await import('@/lib/billing/usage-events');
  const n = 200;
  const events = () =>
    Array.from({ length: BATCH }, (_, i) => ({
      userId: users[i % USERS]!,
      agent: 'bench',
      tokens: 1,
      executionMs: 0,
      idempotencyKey: `b${++sequence}`,
    }));
  const cpuPer = async (work: () => Promise<unknown>) => {
    let next = 0;
    const cpu = process.cpuUsage();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next++ < n) await work();
      }),
    );
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / n;
  };
  const sql = await cpuPer(() =>
    db.query('select * from app_private.commit_usage_batch($1::jsonb)', [JSON.stringify(events().map((e, i) => ({ ...e, i })))]),
  );
  const lib = await cpuPer(() => recordUsageEvents(db, events()));
  const handler = await cpuPer(async () => {
    const response = await eventsRoute(
      new Request('http://127.0.0.1/api/usage/events', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ events: events() }),
      }),
    );
    if (response.status !== 200) throw new Error(`events route answered ${response.status}`);
    await response.text();
  });
  return { sql, lib, handler };
}

async function waitFor(port: number, child: ChildProcess, what: string) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/api/health', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what} did not come up on port ${port}`);
}

function stopGroup(child: ChildProcess) {
  if (child.pid && child.exitCode === null) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

/** CPU time (ms) used so far by every process of a process group (Linux /proc; 0 elsewhere). */
function groupCpuMs(pgid: number | undefined): number {
  if (!pgid) return 0;
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** Runs `work` and returns its figures with the CPU (µs) each server used per unit of work. */
async function withCpu<T extends Figures>(
  servers: { app: number | undefined; floor: number | undefined },
  which: 'app' | 'floor',
  seconds: () => number,
  work: () => Promise<T>,
) {
  const pgid = servers[which];
  const before = groupCpuMs(pgid);
  const started = performance.now();
  const figures = await work();
  const units = figures.perSecond * ((performance.now() - started) / 1000);
  void seconds;
  return { ...figures, cpuMicrosPerUnit: units > 0 ? ((groupCpuMs(pgid) - before) * 1000) / units : 0 };
}

const fmt = (f: Figures, unit: string) =>
  `${Math.round(f.perSecond).toLocaleString('en-US')} ${unit}/s, p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms`;
const pct = (a: number, b: number) => `${Math.round((100 * a) / b)}%`;

async function main() {
  if (!existsSync('.next/BUILD_ID') || process.env.BENCH_BUILD === '1') {
    console.log('[bench] next build …');
    const built = spawnSync('npx', ['next', 'build'], { stdio: 'inherit' });
    if (built.status !== 0) throw new Error('next build failed');
  }
  await withBenchDatabase(10, async (db, _name, databaseUrl) => {
    useDatabase(db);
    const users = Array.from({ length: USERS }, () => randomUUID());
    await db.query("insert into users (id, email) select id, id::text || '@bench.test' from unnest($1::uuid[]) as id", [users]);
    const key = (await createTaskRunnerKey(db, 'bench', 'bench:http')).key;
    const clearHolds = () => db.query("update usage_reservations set status = 'released', settled_at = now() where status = 'open'");
    if (process.env.BENCH_ONLY === 'wrapper') {
      // Only the in-process route wrapper measurement (for profiling: NODE_OPTIONS=--cpu-prof).
      const profile = process.env.BENCH_PROFILE; // a .cpuprofile path: profile the last measurement only
      const rounds = Number(process.env.BENCH_WRAPPER_ROUNDS ?? 5);
      const handlerCpu: number[] = [];
      const libCpu: number[] = [];
      const batchCpu: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const session = profile && i === rounds - 1 ? new (await import('node:inspector/promises')).Session() : null;
        // Profiles the route handler's loop only (not reserveUsage alone, not the batches).
        const wrapper = await wrapperCost(db, key, users, async () => {
          if (!session) return;
          session.connect();
          await session.post('Profiler.enable');
          await session.post('Profiler.setSamplingInterval', { interval: 200 });
          await session.post('Profiler.start');
        });
        const taken = session ? (await session.post('Profiler.stop')).profile : null;
        if (taken && profile) (await import('node:fs')).writeFileSync(profile, JSON.stringify(taken));
        const batch = await batchCost(db, key, users);
        await clearHolds();
        if (!session) {
          handlerCpu.push(wrapper.handler.cpuMicros);
          libCpu.push(wrapper.lib.cpuMicros);
          batchCpu.push(batch.handler - batch.lib);
        }
        console.log(
          `round ${i + 1}: reserve route ${wrapper.handler.cpuMicros.toFixed(0)} µs CPU/req, reserveUsage ${wrapper.lib.cpuMicros.toFixed(0)} µs; batch of ${BATCH}: route ${batch.handler.toFixed(0)} µs, recordUsageEvents ${batch.lib.toFixed(0)} µs, SQL call alone ${batch.sql.toFixed(0)} µs`,
        );
      }
      const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)] ?? 0;
      const min = (values: number[]) => Math.min(...values);
      const wrapperCpu = handlerCpu.map((h, i) => h - libCpu[i]!);
      console.log(
        `route wrapper CPU per reserve: median ${median(wrapperCpu).toFixed(0)} µs, min ${min(wrapperCpu).toFixed(0)} µs (route median ${median(handlerCpu).toFixed(0)} µs, reserveUsage median ${median(libCpu).toFixed(0)} µs)`,
      );
      console.log(
        `route wrapper CPU per batch of ${BATCH}: median ${median(batchCpu).toFixed(0)} µs, min ${min(batchCpu).toFixed(0)} µs; load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')}`,
      );
      return;
    }

    const scratch = mkdtempSync(path.join(tmpdir(), 'bench-http-'));
    // BENCH_APP_PROFILE=<dir>: serve with `next start` under node --cpu-prof instead (profiling only).
    const profileDir = process.env.BENCH_APP_PROFILE;
    const command: [string, string[]] = profileDir
      ? [
          process.execPath,
          [
            '--cpu-prof',
            `--cpu-prof-dir=${profileDir}`,
            'node_modules/next/dist/bin/next',
            'start',
            '--port',
            String(APP_PORT),
            '--hostname',
            '127.0.0.1',
          ],
        ]
      : ['npm', ['start']];
    const app = spawn(command[0], command[1], {
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        DATABASE_URL: databaseUrl,
        PORT: String(APP_PORT),
        NEXT_PUBLIC_SUPABASE_URL: 'http://127.0.0.1:3172',
        STRIPE_API_BASE: 'http://127.0.0.1:3173',
        LOCAL_DATA_DIR: scratch,
      },
    });
    const floor = spawn('node_modules/.bin/tsx', ['bench/http-floor.ts'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        FLOOR_PORT: String(FLOOR_PORT),
        FLOOR_DATABASE_URL: databaseUrl,
        FLOOR_KEY_SHA256: createHash('sha256').update(key).digest('hex'),
      },
    });
    try {
      await Promise.all([waitFor(APP_PORT, app, 'npm start'), waitFor(FLOOR_PORT, floor, 'the floor server')]);
      // Warm-up: JIT, connection pools, prepared statements on both servers.
      for (const port of [FLOOR_PORT, APP_PORT]) {
        for (let i = 0; i < 200; i++)
          await post(port, '/api/usage/reserve', key, {
            userId: users[i % USERS],
            estimatedCost: 0.000001,
            idempotencyKey: `warm${++sequence}`,
          });
        await post(port, '/api/usage/events', key, {
          events: [{ userId: users[0], agent: 'warm', tokens: 1, executionMs: 0, idempotencyKey: `warm${++sequence}` }],
        });
      }
      await clearHolds();
      console.log(
        `[bench] ${CLIENTS} clients, ${USERS} users, ${SECONDS} s per run, batches of ${BATCH}, open loop at ${RATE}/s; load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')}`,
      );

      for (let round = 1; round <= ROUNDS; round++) {
        const servers = { app: app.pid, floor: floor.pid };
        const span = () => SECONDS;
        const floorPairs = await withCpu(servers, 'floor', span, () => pairs(FLOOR_PORT, key, users));
        const appPairs = await withCpu(servers, 'app', span, () => pairs(APP_PORT, key, users));
        const floorHealth = await withCpu(servers, 'floor', span, () => health(FLOOR_PORT));
        const appHealth = await withCpu(servers, 'app', span, () => health(APP_PORT));
        const floorBatches = await withCpu(servers, 'floor', span, () => batches(FLOOR_PORT, key, users));
        const appBatches = await withCpu(servers, 'app', span, () => batches(APP_PORT, key, users));
        const commits = await inProcessCommits(db, users);
        await clearHolds();
        const floorOpen = await openLoop(FLOOR_PORT, key, users);
        await clearHolds();
        const appOpen = await openLoop(APP_PORT, key, users);
        await clearHolds();
        const wrapper = await wrapperCost(db, key, users);
        await clearHolds();
        console.log(
          `\n[round ${round}] load average ${loadavg()
            .map((l) => l.toFixed(1))
            .join(' ')}`,
        );
        console.log(
          `  reserve+commit  floor ${fmt(floorPairs, 'req')} | app ${fmt(appPairs, 'req')} | app/floor ${pct(appPairs.perSecond, floorPairs.perSecond)}`,
        );
        console.log(
          `    server CPU per request: floor ${floorPairs.cpuMicrosPerUnit.toFixed(0)} µs | app ${appPairs.cpuMicrosPerUnit.toFixed(0)} µs`,
        );
        console.log(
          `  GET /api/health  floor ${fmt(floorHealth, 'req')} | app ${fmt(appHealth, 'req')} | app/floor ${pct(appHealth.perSecond, floorHealth.perSecond)}`,
        );
        console.log(
          `    server CPU per request: floor ${floorHealth.cpuMicrosPerUnit.toFixed(0)} µs | app ${appHealth.cpuMicrosPerUnit.toFixed(0)} µs`,
        );
        console.log(
          `  batched events  floor ${fmt(floorBatches, 'events')} | app ${fmt(appBatches, 'events')} | app/floor ${pct(appBatches.perSecond, floorBatches.perSecond)}`,
        );
        console.log(
          `    server CPU per event: floor ${floorBatches.cpuMicrosPerUnit.toFixed(0)} µs | app ${appBatches.cpuMicrosPerUnit.toFixed(0)} µs`,
        );
        console.log(
          `  in-process commits ${fmt(commits, 'events')} | app batched / in-process ${pct(appBatches.perSecond, commits.perSecond)} (target ≥ 70%, and ≥ 3,000 events/s: ${appBatches.perSecond >= 3000 && appBatches.perSecond >= 0.7 * commits.perSecond ? 'PASS' : 'FAIL'})`,
        );
        console.log(
          `  reserve open loop at ${RATE}/s  floor p50 ${floorOpen.p50.toFixed(1)} ms p99 ${floorOpen.p99.toFixed(1)} ms | app p50 ${appOpen.p50.toFixed(1)} ms p99 ${appOpen.p99.toFixed(1)} ms (target p99 ≤ 20 ms: ${appOpen.p99 <= 20 && appOpen.errors === 0 ? 'PASS' : 'FAIL'}), errors ${floorOpen.errors}/${appOpen.errors}`,
        );
        console.log(
          `  route wrapper (in-process reserve)  handler ${wrapper.handler.cpuMicros.toFixed(0)} µs CPU/req (${Math.round(wrapper.handler.perSecond)}/s) | reserveUsage ${wrapper.lib.cpuMicros.toFixed(0)} µs CPU/req (${Math.round(wrapper.lib.perSecond)}/s) | wrapper ≈ ${wrapper.wrapperCpuMicros.toFixed(0)} µs CPU/req`,
        );
      }
      const { rows: books } = await db.query<{ drift: number }>(
        `select count(*)::int as drift from user_usage u
          where u.used_micros <> coalesce((select sum(cost_micros) from usage_events e where e.user_id = u.user_id and e.period_start = u.period_start), 0)`,
      );
      console.log(`\n[bench] counters = ledger: ${books[0]!.drift === 0 ? 'yes' : `NO (${books[0]!.drift} periods drift)`}`);
    } finally {
      stopGroup(app);
      stopGroup(floor);
      agent.destroy();
      await new Promise((resolve) => setTimeout(resolve, 500));
      rmSync(scratch, { recursive: true, force: true });
    }
  });
}

await main();
