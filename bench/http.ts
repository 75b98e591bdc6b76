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
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
// Four ports from BENCH_PORT (3171): the app, its local auth, its local Stripe, the floor.
const BASE_PORT = Number(process.env.BENCH_PORT ?? 3171);
const APP_PORT = BASE_PORT;
const AUTH_PORT = BASE_PORT + 1;
const STRIPE_PORT = BASE_PORT + 2;
const FLOOR_PORT = BASE_PORT + 3;

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

interface OpenSample {
  due: number; // when the request was due (performance.now())
  sent: number; // when the client actually sent it
  done: number; // when its answer had arrived
}

async function openLoop(
  port: number,
  key: string,
  users: string[],
): Promise<Figures & { offered: number; errors: number; samples: OpenSample[]; window: [number, number] }> {
  const total = Math.round(RATE * SECONDS);
  const latencies: number[] = [];
  const samples: OpenSample[] = [];
  let errors = 0;
  const started = performance.now();
  const requests: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const userId = users[i % USERS]!;
    const sent = performance.now();
    requests.push(
      post(port, '/api/usage/reserve', key, { userId, estimatedCost: 0.000001, idempotencyKey: `o${++sequence}` }).then(
        () => {
          const done = performance.now();
          latencies.push(done - due);
          samples.push({ due, sent, done });
        },
        () => void errors++,
      ),
    );
  }
  await Promise.all(requests);
  const seconds = (performance.now() - started) / 1000;
  return {
    ...summarize(latencies, latencies.length, seconds),
    offered: RATE,
    errors,
    samples,
    window: [performance.timeOrigin + started, performance.timeOrigin + performance.now()],
  };
}

/** CPU time per request of the reserve route handler in-process, and of reserveUsage() alone. */
async function wrapperCost(db: Database, key: string, users: string[], beforeHandler?: () => Promise<void>) {
  const { POST: reserveRoute } = await import('@/pages/api/usage/reserve');
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
  const { POST: eventsRoute } = await import('@/pages/api/usage/events');
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

interface DiagEntry {
  t: 'gc' | 'stall' | 'req' | 'pg' | 'pgs';
  at: number; // ms since the epoch
  ms: number;
  kind?: number;
  url?: string;
  waiting?: number;
  n?: number;
}

/** What bench/diag-preload.mjs wrote under `dir` (every process's file), from `since` on. */
function readDiag(dir: string, window: [number, number]): DiagEntry[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.jsonl'))
    .flatMap((file) => readFileSync(path.join(dir, file), 'utf8').split('\n'))
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as DiagEntry)
    .filter((entry) => entry.at + entry.ms >= window[0] && entry.at <= window[1]);
}

/** BENCH_DIAG: what happened in the server and the client while the open loop ran, and which late requests it explains. */
function diagReport(label: string, dir: string, open: Awaited<ReturnType<typeof openLoop>>): string {
  const server = readDiag(path.join(dir, label), open.window);
  const client = readDiag(path.join(dir, 'client'), open.window);
  const stat = (entries: DiagEntry[]) =>
    `${entries.length} (total ${entries.reduce((sum, e) => sum + e.ms, 0).toFixed(0)} ms, max ${Math.max(0, ...entries.map((e) => e.ms)).toFixed(1)} ms)`;
  const of = (entries: DiagEntry[], t: DiagEntry['t'], kind?: number) =>
    entries.filter((e) => e.t === t && (kind === undefined || e.kind === kind));
  const origin = performance.timeOrigin;
  const late = open.samples.filter((s) => s.done - s.due > 20);
  const overlaps = (entries: DiagEntry[], s: OpenSample) => entries.some((e) => e.at < origin + s.done && e.at + e.ms > origin + s.due);
  const serverPauses = server.filter((e) => e.t === 'gc' || e.t === 'stall');
  const clientPauses = client.filter((e) => e.t === 'gc' || e.t === 'stall');
  const lines = [
    // perf_hooks' kinds: 1 minor (scavenge), 4 major (mark-compact), 8 incremental marking, 16 weak callbacks.
    `    ${label} GC pauses: minor ${stat(of(server, 'gc', 1))}, major ${stat(of(server, 'gc', 4))}, incremental ${stat(of(server, 'gc', 8))}, weak callbacks ${stat(of(server, 'gc', 16))}`,
    `    ${label} event-loop stalls ≥ 5 ms: ${stat(of(server, 'stall'))}, of which with no GC pause in them ${stat(of(server, 'stall').filter((st) => !of(server, 'gc').some((g) => g.at < st.at + st.ms && g.at + g.ms > st.at)))}; requests ≥ 5 ms in the server: ${stat(of(server, 'req'))}; pg queries ≥ 5 ms: ${stat(of(server, 'pg'))}, most waiting ${Math.max(0, ...of(server, 'pg').map((e) => e.waiting ?? 0))}`,
    `    ${label} pg queries sent: ${of(readDiag(path.join(dir, label), [open.window[0], open.window[1] + 1100]), 'pgs').reduce((sum, e) => sum + (e.n ?? 0), 0)} for ${open.samples.length} reserves (counted once a second, so up to a second past the window)`,
    `    client GC: ${stat(of(client, 'gc'))}, stalls ≥ 5 ms: ${stat(of(client, 'stall'))}; requests sent ≥ 5 ms after due: ${open.samples.filter((s) => s.sent - s.due >= 5).length}`,
    `    late (> 20 ms): ${late.length} of ${open.samples.length}; overlapping a ${label} GC or stall ${late.filter((s) => overlaps(serverPauses, s)).length}, a client GC or stall ${late.filter((s) => overlaps(clientPauses, s)).length}, neither ${late.filter((s) => !overlaps(serverPauses, s) && !overlaps(clientPauses, s)).length}`,
  ];
  return lines.join('\n');
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
    // BENCH_DIAG=<dir>: GC pauses, event-loop stalls, slow requests and slow pg queries of each
    // server and of this client, written by bench/diag-preload.mjs under <dir>/{app,floor,client}.
    const diag = process.env.BENCH_DIAG ? path.resolve(process.env.BENCH_DIAG) : undefined;
    const preload = path.resolve('bench/diag-preload.mjs');
    const nodeOptions = (extra = '') =>
      [process.env.NODE_OPTIONS ?? '', diag ? `--import=${preload}` : '', extra].filter((o) => o !== '').join(' ');
    if (diag) {
      for (const which of ['app', 'floor', 'client']) {
        rmSync(path.join(diag, which), { recursive: true, force: true });
        mkdirSync(path.join(diag, which), { recursive: true });
      }
      process.env.BENCH_DIAG = path.join(diag, 'client');
      await import(preload);
    }
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
      // With BENCH_DIAG the app's output is kept (V8's GC traces go there).
      stdio: ['ignore', diag ? openSync(path.join(diag, 'app-stdout.log'), 'w') : 'ignore', 'inherit'],
      env: {
        ...process.env,
        NODE_ENV: 'production',
        // BENCH_APP_NODE_OPTIONS: Node/V8 flags for the app only (e.g. to try GC settings).
        NODE_OPTIONS: nodeOptions(process.env.BENCH_APP_NODE_OPTIONS),
        ...(diag ? { BENCH_DIAG: path.join(diag, 'app') } : {}),
        DATABASE_URL: databaseUrl,
        PORT: String(APP_PORT),
        NEXT_PUBLIC_SUPABASE_URL: `http://127.0.0.1:${AUTH_PORT}`,
        STRIPE_API_BASE: `http://127.0.0.1:${STRIPE_PORT}`,
        LOCAL_DATA_DIR: scratch,
      },
    });
    const floor = spawn('node_modules/.bin/tsx', ['bench/http-floor.ts'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        NODE_OPTIONS: nodeOptions(),
        ...(diag ? { BENCH_DIAG: path.join(diag, 'floor') } : {}),
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

      const loadAverage = () =>
        loadavg()
          .map((l) => l.toFixed(1))
          .join(' ');
      const openFigures = (open: Awaited<ReturnType<typeof openLoop>>) =>
        `p50 ${open.p50.toFixed(1)} ms, p90 ${percentile(
          open.samples.map((s) => s.done - s.due).sort((a, b) => a - b),
          90,
        ).toFixed(
          1,
        )} ms, p99 ${open.p99.toFixed(1)} ms, max ${Math.max(0, ...open.samples.map((s) => s.done - s.due)).toFixed(1)} ms, > 20 ms: ${open.samples.filter((s) => s.done - s.due > 20).length}, errors ${open.errors}`;
      if (process.env.BENCH_ONLY === 'open') {
        // Only the open loop, floor then app, ROUNDS times (to study the reserve tail quickly),
        // after one unreported run on each: in the full run the open loop comes after the other
        // workloads, with both servers' code optimised by then.
        await openLoop(FLOOR_PORT, key, users);
        await openLoop(APP_PORT, key, users);
        await clearHolds();
        for (let round = 1; round <= ROUNDS; round++) {
          const floorCpu = groupCpuMs(floor.pid);
          const floorOpen = await openLoop(FLOOR_PORT, key, users);
          const floorCpuPer = (groupCpuMs(floor.pid) - floorCpu) / floorOpen.samples.length;
          await clearHolds();
          const hrStart = process.hrtime.bigint() / 1000n;
          const appCpu = groupCpuMs(app.pid);
          const appOpen = await openLoop(APP_PORT, key, users);
          const appCpuPer = (groupCpuMs(app.pid) - appCpu) / appOpen.samples.length;
          // The window on the monotonic clock (µs), which CPU profiles' timestamps use too.
          if (diag)
            writeFileSync(
              path.join(diag, `app-window-${round}.json`),
              JSON.stringify([hrStart, process.hrtime.bigint() / 1000n].map(Number)),
            );
          await clearHolds();
          if (diag) await new Promise((resolve) => setTimeout(resolve, 1200)); // each process writes its notes once a second
          console.log(`\n[open round ${round}] ${RATE}/s offered for ${SECONDS} s; load average ${loadAverage()}`);
          console.log(`  floor ${openFigures(floorOpen)}; CPU ${(floorCpuPer * 1000).toFixed(0)} µs/request`);
          if (diag) console.log(diagReport('floor', diag, floorOpen));
          console.log(
            `  app   ${openFigures(appOpen)}; CPU ${(appCpuPer * 1000).toFixed(0)} µs/request (target p99 ≤ 20 ms: ${appOpen.p99 <= 20 && appOpen.errors === 0 ? 'PASS' : 'FAIL'})`,
          );
          if (diag) console.log(diagReport('app', diag, appOpen));
        }
        return;
      }

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
        if (diag) console.log(`${diagReport('floor', diag, floorOpen)}\n${diagReport('app', diag, appOpen)}`);
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
