import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTaskRunnerClient, TaskRunnerApiError, type TaskRunnerClient } from '@/clients/task-runner';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { POST as checkUsageLimit } from '@/app/api/payments/check-usage-limit/route';
import { POST as webhook } from '@/app/api/payments/webhook/route';
import { POST as commit } from '@/pages/api/usage/commit';
import { POST as events } from '@/pages/api/usage/events';
import { POST as release } from '@/pages/api/usage/release';
import { POST as reserve } from '@/pages/api/usage/reserve';
import { startAppServer, type AppServer } from '@/tests/helpers/app-server';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { backends } from '@/tests/helpers/databases';
import { startTestStripe, type TestStripe } from '@/tests/helpers/stripe';
import { createUser } from '@/tests/helpers/users';

// The task runner's client against the real app: the route handlers behind a real HTTP server,
// real databases, the local Stripe for the shortfall payment. Faults are injected at the server.

const KEY = 'tr_test_key_0123456789';
const TASK = { tokens: 300, executionMs: 6_000 }; // $0.31 on Starter

let auth: TestAuth;
let stripeServer: TestStripe;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  process.env.TASK_RUNNER_API_KEY = KEY;
  stripeServer = await startTestStripe(webhook);
});
afterAll(async () => {
  await stripeServer.close();
  await auth.close();
});

describe.each(backends())('task-runner client on $name', (backend) => {
  let db: Database;
  let app: AppServer;
  let clients: TaskRunnerClient[] = [];
  beforeAll(async () => {
    db = await backend.open();
    useDatabase(db);
    app = await startAppServer({
      '/api/payments/check-usage-limit': checkUsageLimit,
      '/api/usage/reserve': reserve,
      '/api/usage/commit': commit,
      '/api/usage/release': release,
      '/api/usage/events': events,
    });
  }, 60_000);
  afterEach(async () => {
    await Promise.all(clients.map((client) => client.close()));
    clients = [];
    app.fault = () => 'pass';
    app.seen.length = 0;
  });
  afterAll(async () => {
    await app.close();
    await db.close();
  });

  const client = (options: Partial<Parameters<typeof createTaskRunnerClient>[0]> = {}) => {
    const made = createTaskRunnerClient({ url: app.url, apiKey: KEY, backoffMs: 5, timeoutMs: 5_000, flushIntervalMs: 20, ...options });
    clients.push(made);
    return made;
  };
  const books = async (userId: string) => {
    const { rows } = await db.query<{ used: number; ledger: number; events: number; reservations: Record<string, number> | null }>(
      `select coalesce((select sum(used_micros) from user_usage where user_id = $1), 0)::bigint as used,
              coalesce((select sum(cost_micros) from usage_events where user_id = $1), 0)::bigint as ledger,
              (select count(*) from usage_events where user_id = $1)::int as events,
              (select jsonb_object_agg(status, n) from (select status, count(*)::int as n from usage_reservations
                 where user_id = $1 group by status) s) as reservations`,
      [userId],
    );
    return rows[0]!;
  };
  const paths = () => app.seen.map((request) => request.path);

  it('runs tasks: reserve, run, commit in batches; many tasks share few requests', async () => {
    const user = await createUser(db);
    const billing = client({ batchSize: 50, flushIntervalMs: 50 });
    // The twenty tasks finish together, so their commits share one batch.
    let started = 0;
    let allStarted!: () => void;
    const barrier = new Promise<void>((resolve) => (allStarted = resolve));
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        billing.runTask({ userId: user.userId, estimatedCost: 0.5, agent: i % 2 ? 'planner' : 'writer' }, async (task) => {
          expect(task.reservationId).toMatch(/^[0-9a-f-]{36}$/);
          if (++started === 20) allStarted();
          await barrier;
          return { ...TASK, answer: i };
        }),
      ),
    );
    for (const [i, outcome] of outcomes.entries()) {
      expect(outcome).toMatchObject({
        status: 'completed',
        result: { ...TASK, answer: i },
        usage: { costMicros: 310_000, duplicate: false },
      });
    }
    expect(await books(user.userId)).toEqual({ used: 20 * 310_000, ledger: 20 * 310_000, events: 20, reservations: { committed: 20 } });
    expect(paths().filter((path) => path === '/api/usage/reserve')).toHaveLength(20);
    expect(paths().filter((path) => path === '/api/usage/events')).toHaveLength(1);
    expect(paths()).not.toContain('/api/usage/commit');
  });

  it('does not run a task the allowance cannot cover and hands back the payment for the shortfall', async () => {
    const user = await createUser(db);
    let ran = false;
    const outcome = await client().runTask({ userId: user.userId, estimatedCost: 25, agent: 'researcher' }, async () => {
      ran = true;
      return TASK;
    });
    expect(ran).toBe(false);
    expect(outcome).toEqual({
      status: 'requiresPayment',
      taskId: expect.any(String),
      shortfallCents: 1500,
      paymentIntent: expect.objectContaining({ clientSecret: expect.stringMatching(/^pi_.+_secret_.+/), amountCents: 1500 }),
    });
    expect(await books(user.userId)).toMatchObject({ events: 0, reservations: null });
  });

  it('checks a limit for a user', async () => {
    const user = await createUser(db);
    expect(await client().check(user.userId, 1)).toMatchObject({
      allowed: true,
      remainingCents: 1000,
      requiresPayment: false,
      paymentIntent: null,
    });
  });

  it('releases the hold when the task throws, and rethrows', async () => {
    const user = await createUser(db);
    const failure = new Error('model overloaded');
    await expect(
      client().runTask({ userId: user.userId, estimatedCost: 0.5, agent: 'a' }, async () => Promise.reject(failure)),
    ).rejects.toBe(failure);
    expect(await books(user.userId)).toMatchObject({ used: 0, events: 0, reservations: { released: 1 } });
  });

  it('releases the hold when the caller aborts, and tells the task to stop', async () => {
    const user = await createUser(db);
    const controller = new AbortController();
    let taskSignal: AbortSignal | undefined;
    const running = client().runTask({ userId: user.userId, estimatedCost: 0.5, agent: 'a', signal: controller.signal }, (task) => {
      taskSignal = task.signal;
      setTimeout(() => controller.abort(new Error('user cancelled')), 10);
      return new Promise<typeof TASK>(() => undefined); // never finishes by itself
    });
    await expect(running).rejects.toThrow('user cancelled');
    expect(taskSignal?.aborted).toBe(true);
    expect(await books(user.userId)).toMatchObject({ used: 0, events: 0, reservations: { released: 1 } });
  });

  it('retries 5xx, dropped connections and lost answers with the same keys, counting each task once', async () => {
    const user = await createUser(db);
    // The first reserve is done by the app but its answer is lost; the first two event batches
    // get a 503 and a dropped connection; the third is recorded but its answer is lost too.
    app.fault = (request, nth) => {
      if (request.path === '/api/usage/reserve' && nth === 1) return 'drop-after';
      if (request.path === '/api/usage/events')
        return nth === 1
          ? { status: 503, body: { error: { code: 'service_unavailable', message: 'busy' } } }
          : nth === 2
            ? 'drop'
            : nth === 3
              ? 'drop-after'
              : 'pass';
      return 'pass';
    };
    const outcome = await client().runTask({ userId: user.userId, estimatedCost: 0.5, agent: 'a' }, async () => TASK);
    expect(outcome).toMatchObject({ status: 'completed', usage: { costMicros: 310_000, duplicate: true } });
    const sent = app.seen.filter((request) => request.path === '/api/usage/events').map((request) => request.body);
    expect(sent).toHaveLength(4);
    expect(new Set(sent).size).toBe(1);
    expect(app.seen.filter((request) => request.path === '/api/usage/reserve').map((r) => r.body)).toHaveLength(2);
    expect(await books(user.userId)).toEqual({ used: 310_000, ledger: 310_000, events: 1, reservations: { committed: 1 } });
  });

  it('times out a call that hangs and retries it', async () => {
    const user = await createUser(db);
    app.fault = (request, nth) => (request.path === '/api/payments/check-usage-limit' && nth === 1 ? 'hang' : 'pass');
    const started = Date.now();
    expect(await client({ timeoutMs: 200 }).check(user.userId, 1)).toMatchObject({ allowed: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(paths()).toEqual(['/api/payments/check-usage-limit', '/api/payments/check-usage-limit']);
  });

  it('gives up after its retries with the last error', async () => {
    const user = await createUser(db);
    app.fault = () => ({ status: 502, body: { error: { code: 'payment_provider_error', message: 'down' } } });
    await expect(client({ retries: 2 }).check(user.userId, 1)).rejects.toEqual(
      new TaskRunnerApiError('payment_provider_error', 'down', 502),
    );
    expect(paths()).toHaveLength(3);
  });

  // [case, call, expected error]: a 4xx is never retried.
  const REFUSALS: Array<[string, (c: TaskRunnerClient, userId: string) => Promise<unknown>, Partial<TaskRunnerApiError>, string?]> = [
    ['a bad estimate', (c, userId) => c.check(userId, -1), { code: 'validation_failed', status: 400 }],
    [
      'an unknown user',
      (c) => c.reserve({ userId: randomUUID(), estimatedCost: 1, idempotencyKey: 'k' }),
      { code: 'not_found', status: 404 },
    ],
    ['an unknown reservation', (c, userId) => c.release(userId, randomUUID()), { code: 'not_found', status: 404 }],
    [
      'a wrong key',
      (_c, userId) => createTaskRunnerClient({ url: app.url, apiKey: 'tr_wrong_key_0123456789', backoffMs: 1 }).check(userId, 1),
      { code: 'unauthorized', status: 401 },
    ],
  ];
  it.each(REFUSALS)('does not retry %s (4xx)', async (_name, make, expected) => {
    const user = await createUser(db);
    await expect(make(client(), user.userId)).rejects.toMatchObject(expected);
    expect(app.seen).toHaveLength(1);
  });

  it('answers a refused event as rejected and throws it from runTask', async () => {
    const user = await createUser(db);
    const billing = client();
    const result = await billing.commit({ userId: user.userId, agent: 'a', tokens: -1, executionMs: 0, idempotencyKey: 'neg' });
    expect(result).toEqual({ status: 'rejected', code: 'validation_failed', message: 'tokens must be between 0 and 1000000000' });
    await expect(
      billing.runTask({ userId: user.userId, estimatedCost: 0.5, agent: 'a' }, async () => ({ tokens: 2_000_000_000, executionMs: 0 })),
    ).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('sends queued commits on close, and refuses commits after it', async () => {
    const user = await createUser(db);
    const billing = client({ flushIntervalMs: 60_000, batchSize: 500 });
    const pending = Array.from({ length: 5 }, (_, i) =>
      billing.commit({ userId: user.userId, agent: 'a', ...TASK, idempotencyKey: `close-${i}` }),
    );
    expect(paths()).toEqual([]);
    await billing.close();
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual(Array(5).fill('recorded'));
    expect(paths()).toEqual(['/api/usage/events']);
    await expect(billing.commit({ userId: user.userId, agent: 'a', ...TASK, idempotencyKey: 'late' })).rejects.toMatchObject({
      code: 'closed',
    });
  });

  it('flushes as soon as a batch is full', async () => {
    const user = await createUser(db);
    const billing = client({ flushIntervalMs: 60_000, batchSize: 3 });
    const results = await Promise.all(
      Array.from({ length: 3 }, (_, i) => billing.commit({ userId: user.userId, agent: 'a', ...TASK, idempotencyKey: `full-${i}` })),
    );
    expect(results.map((r) => r.status)).toEqual(['recorded', 'recorded', 'recorded']);
  });
});
