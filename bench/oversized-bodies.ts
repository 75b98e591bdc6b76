// tsx bench/oversized-bodies.ts <app url> <server pid> [posts=20] [megabytes=25] [path=/api/payments/webhook]
// Resident memory of a running app (`npm start`, or `next start` of an older build) while
// `posts` concurrent unauthenticated POSTs of `megabytes` each (streamed, chunked, no
// Content-Length) hit `path` (the webhook: no authentication comes before its body), and how
// long a small request takes meanwhile. RSS is read from /proc/<pid>/status every 50 ms.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

const [url = 'http://127.0.0.1:3000', pidArg, postsArg = '20', megabytesArg = '25', path = '/api/payments/webhook'] = process.argv.slice(2);
const pid = Number(pidArg);
const posts = Number(postsArg);
const megabytes = Number(megabytesArg);
if (!pid) throw new Error('usage: tsx bench/oversized-bodies.ts <url> <pid> [posts] [megabytes]');

const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

function post(path: string): Promise<number> {
  return new Promise((resolve) => {
    const target = new URL(path, url);
    const req = request(
      target,
      { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(-1)); // the server may close the connection once it has answered
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < megabytes) {
        sent += 1;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

async function smallRequestMs(): Promise<number> {
  const started = performance.now();
  await fetch(new URL('/api/health', url));
  return performance.now() - started;
}

const baseline = rssMb();
let peak = baseline;
const sampler = setInterval(() => (peak = Math.max(peak, rssMb())), 50);
const started = performance.now();
const statusesPromise = Promise.all(Array.from({ length: posts }, () => post(path)));
const probe = await new Promise<number>((resolve) => setTimeout(() => void smallRequestMs().then(resolve), 300));
const statuses = await statusesPromise;
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
const counts = statuses.reduce<Record<string, number>>((all, status) => ({ ...all, [status]: (all[status] ?? 0) + 1 }), {});
console.log(
  `${posts} concurrent posts of ${megabytes} MB to ${path}: RSS ${baseline.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB (+${(peak - baseline).toFixed(0)} MB); ` +
    `answers ${JSON.stringify(counts)} in ${seconds.toFixed(1)} s; GET /api/health meanwhile ${probe.toFixed(0)} ms`,
);
