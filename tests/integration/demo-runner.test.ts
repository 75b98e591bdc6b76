import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { GET as billing } from '@/app/api/payments/billing/route';
import { POST as checkUsageLimit } from '@/app/api/payments/check-usage-limit/route';
import { POST as webhook } from '@/app/api/payments/webhook/route';
import { POST as commit } from '@/pages/api/usage/commit';
import { POST as events } from '@/pages/api/usage/events';
import { POST as release } from '@/pages/api/usage/release';
import { POST as reserve } from '@/pages/api/usage/reserve';
import { startAppServer, type AppServer } from '@/tests/helpers/app-server';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { openPostgresClone } from '@/tests/helpers/databases';
import { startTestStripe, type TestStripe } from '@/tests/helpers/stripe';

// `npm run demo:runner` against the real app (its route handlers behind a real HTTP server, the
// local auth, PostgreSQL 15): it signs up its demo account, its agents run tasks through the
// typed client, and Ctrl-C (SIGINT) stops it cleanly with every queued commit sent and no hold
// left behind. What the dashboard would show moves: usage, by agent, equal to the ledger.

const KEY = 'tr_demo_runner_test_key_01';

let auth: TestAuth;
let stripeServer: TestStripe;
let db: Database;
let app: AppServer;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  process.env.TASK_RUNNER_API_KEY = KEY;
  stripeServer = await startTestStripe(webhook);
  db = await openPostgresClone();
  useDatabase(db);
  app = await startAppServer({
    '/api/payments/billing': billing,
    '/api/payments/check-usage-limit': checkUsageLimit,
    '/api/usage/reserve': reserve,
    '/api/usage/commit': commit,
    '/api/usage/release': release,
    '/api/usage/events': events,
  });
}, 60_000);
afterAll(async () => {
  await app?.close();
  await db?.close();
  await stripeServer?.close();
  await auth?.close();
});

async function usageOf(email: string) {
  const { rows } = await db.query<{ user_id: string; events: number; agents: number; ledger: string; counter: string; open: number }>(
    `select u.id as user_id,
       (select count(*) from usage_events e where e.user_id = u.id)::int as events,
       (select count(distinct agent) from usage_events e where e.user_id = u.id)::int as agents,
       (select coalesce(sum(cost_micros), 0) from usage_events e where e.user_id = u.id)::text as ledger,
       (select coalesce(sum(used_micros), 0) from user_usage p where p.user_id = u.id)::text as counter,
       (select count(*) from usage_reservations r where r.user_id = u.id and r.status = 'open')::int as open
     from users u where u.email = $1`,
    [email],
  );
  return rows[0];
}

describe('npm run demo:runner', () => {
  it('runs simulated agents for the demo account through the client, and stops cleanly on Ctrl-C', async () => {
    const email = `demo-${randomUUID()}@example.test`;
    const runner = spawn(
      'node_modules/.bin/tsx',
      ['scripts/demo-runner.ts', '--url', app.url, '--email', email, '--agents', '4', '--pace', '20'],
      { env: { ...process.env, NEXT_PUBLIC_SUPABASE_URL: auth.url, TASK_RUNNER_API_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    runner.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    runner.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(runner, 'exit');

    // Until tasks of at least two kinds are recorded (each sleeps its 1-8 s of "work").
    const deadline = Date.now() + 60_000;
    let seen = await usageOf(email);
    while (!seen || seen.events < 3 || seen.agents < 2) {
      if (Date.now() > deadline || runner.exitCode !== null) throw new Error(`the demo runner recorded too little:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
      seen = await usageOf(email);
    }
    runner.kill('SIGINT');
    const [code] = await exited;
    expect(code, output).toBe(0);
    expect(output).toContain(`[demo] signed up ${email}`);
    expect(output).toMatch(/\[demo\] stopped; this run spent \$\d+\.\d\d/);

    // Every queued commit was sent before it exited; holds of interrupted tasks were given back.
    const after = await usageOf(email);
    expect(after!.events).toBeGreaterThanOrEqual(seen.events);
    expect(after!.open).toBe(0);
    expect(after!.counter).toBe(after!.ledger);
    expect(BigInt(after!.ledger)).toBeGreaterThan(0n);
  }, 90_000);
});
