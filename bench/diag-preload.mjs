// Diagnostics for `npm run bench:http` (BENCH_DIAG=<dir>): loaded into the servers with
// NODE_OPTIONS=--import, so into every Node process of `npm start` (npm, tsx, the app). Each
// process appends to <dir>/<pid>.jsonl, once a second and at exit, what could stall a request:
//   {"t":"gc", at, ms, kind}        every GC pause (kind: 1 minor, 4 major, 8 incremental, 16 weak callbacks)
//   {"t":"stall", at, ms}           the event loop ran a 10 ms timer at least 5 ms late
//   {"t":"req", at, ms, url}        an HTTP request that took ≥ 5 ms from its headers to the end of the answer
//   {"t":"pg", at, ms, waiting}     a pg Pool query that took ≥ 5 ms (with the queue length when it was sent)
//   {"t":"pgs", at, ms: 0, n}       how many pg Pool queries were sent since the previous note (once a second)
// `at` is when it started (ms since the epoch). Measurement only: nothing here changes behaviour.
// BENCH_DIAG_PROFILE=<sampling interval, µs> also writes a CPU profile of the process's whole life to <dir>/<pid>.cpuprofile
// (--cpu-prof is not allowed in NODE_OPTIONS).
import { appendFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import path from 'node:path';
import diagnostics from 'node:diagnostics_channel';
import { PerformanceObserver, performance } from 'node:perf_hooks';

const dir = process.env.BENCH_DIAG;
if (dir) {
  const file = path.join(dir, `${process.pid}.jsonl`);
  let lines = [];
  let queries = 0;
  const origin = performance.timeOrigin;
  const note = (entry) => lines.push(JSON.stringify(entry));
  const flush = () => {
    if (queries > 0) {
      note({ t: 'pgs', at: Date.now(), ms: 0, n: queries });
      queries = 0;
    }
    if (lines.length === 0) return;
    const text = lines.join('\n') + '\n';
    lines = [];
    appendFileSync(file, text);
  };
  setInterval(flush, 1000).unref();
  process.on('exit', flush);

  // BENCH_DIAG_V8_FLAGS: V8 tracing flags not allowed in NODE_OPTIONS (e.g. --trace-gc-nvp), set at start.
  if (process.env.BENCH_DIAG_V8_FLAGS) (await import('node:v8')).setFlagsFromString(process.env.BENCH_DIAG_V8_FLAGS);

  if (process.env.BENCH_DIAG_PROFILE) {
    const session = new Session();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_DIAG_PROFILE) || 1000 });
    session.post('Profiler.start');
    // A session on the main thread answers synchronously, so this works in an exit handler.
    process.on('exit', () =>
      session.post('Profiler.stop', (error, result) => {
        if (!error) writeFileSync(path.join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
      }),
    );
  }

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      note({ t: 'gc', at: origin + entry.startTime, ms: entry.duration, kind: entry.detail?.kind ?? entry.kind });
  }).observe({ entryTypes: ['gc'] });

  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - last - 10;
    if (late >= 5) note({ t: 'stall', at: origin + last + 10, ms: late });
    last = now;
  }, 10).unref();

  const started = new WeakMap();
  diagnostics.subscribe('http.server.request.start', ({ request }) => started.set(request, performance.now()));
  diagnostics.subscribe('http.server.response.finish', ({ request }) => {
    const at = started.get(request);
    if (at === undefined) return;
    const ms = performance.now() - at;
    if (ms >= 5) note({ t: 'req', at: origin + at, ms, url: request.url });
  });

  try {
    const pg = createRequire(path.join(process.cwd(), 'package.json'))('pg');
    const query = pg.Pool.prototype.query;
    pg.Pool.prototype.query = function (...args) {
      const at = performance.now();
      const waiting = this.waitingCount;
      queries++;
      const result = query.apply(this, args);
      if (result && typeof result.then === 'function')
        result.then(
          () => {
            const ms = performance.now() - at;
            if (ms >= 5) note({ t: 'pg', at: origin + at, ms, waiting });
          },
          () => undefined,
        );
      return result;
    };
  } catch {
    // no pg here (npm itself)
  }
}
