import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { backends } from '@/tests/helpers/databases';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { call } from '@/tests/helpers/http';
import { POST as checkUsageLimit } from '@/app/api/payments/check-usage-limit/route';
import { POST as reserve } from '@/pages/api/usage/reserve';
import { POST as commit } from '@/pages/api/usage/commit';
import { POST as release } from '@/pages/api/usage/release';
import { POST as webhook } from '@/app/api/payments/webhook/route';
import { startTestStripe, type TestStripe } from '@/tests/helpers/stripe';

// The task runner's HTTP API, called in-process with real Requests: real JWTs from the local
// Supabase Auth, real databases, exact response bodies.

const TASK_RUNNER_KEY = 'tr_test_key_0123456789';
const endpoints = {
  '/api/payments/check-usage-limit': checkUsageLimit,
  '/api/usage/reserve': reserve,
  '/api/usage/commit': commit,
  '/api/usage/release': release,
} as const;
type Path = keyof typeof endpoints;

const validBodies: Record<Path, Record<string, unknown>> = {
  '/api/payments/check-usage-limit': { estimatedCost: 25 },
  '/api/usage/reserve': { estimatedCost: 0.5, idempotencyKey: 'r-1' },
  '/api/usage/commit': { agent: 'planner', tokens: 100, executionMs: 2000, idempotencyKey: 'c-1' },
  '/api/usage/release': { reservationId: randomUUID() },
};

const invalid = (message: string, details?: unknown) => ({
  error: { code: 'validation_failed', message, ...(details ? { details } : {}) },
});

// Invalid bodies, as data: [endpoint, body, expected message]. Each must answer 400 and change nothing.
const INVALID_BODIES: Array<[Path, unknown, string]> = [
  ['/api/payments/check-usage-limit', {}, 'estimatedCost must be a number of dollars'],
  ['/api/payments/check-usage-limit', { estimatedCost: '25.00' }, 'estimatedCost must be a number of dollars'],
  ['/api/payments/check-usage-limit', { estimatedCost: -1 }, 'estimatedCost must be between 0 and 10000 dollars'],
  ['/api/payments/check-usage-limit', { estimatedCost: 1e12 }, 'estimatedCost must be between 0 and 10000 dollars'],
  ['/api/payments/check-usage-limit', { estimatedCost: 0.0000001 }, 'estimatedCost must have at most 6 decimal places'],
  ['/api/payments/check-usage-limit', { estimatedCost: null }, 'estimatedCost must be a number of dollars'],
  ['/api/payments/check-usage-limit', { estimatedCost: 1, extra: true }, 'Unrecognized key: "extra"'],
  ['/api/usage/reserve', { estimatedCost: 0, idempotencyKey: 'k' }, 'estimatedCost must be between 0.000001 and 10000 dollars'],
  ['/api/usage/reserve', { estimatedCost: 1 }, 'idempotencyKey is required'],
  ['/api/usage/reserve', { estimatedCost: 1, idempotencyKey: '' }, 'idempotencyKey is required'],
  ['/api/usage/reserve', { estimatedCost: 1, idempotencyKey: 'k'.repeat(256) }, 'idempotencyKey must be at most 255 characters'],
  ['/api/usage/commit', { tokens: 1, executionMs: 0, idempotencyKey: 'k' }, 'agent is required'],
  ['/api/usage/commit', { agent: ' ', tokens: 1, executionMs: 0, idempotencyKey: 'k' }, 'agent is required'],
  ['/api/usage/commit', { agent: 'a', tokens: 1.5, executionMs: 0, idempotencyKey: 'k' }, 'tokens must be a whole number'],
  ['/api/usage/commit', { agent: 'a', tokens: -1, executionMs: 0, idempotencyKey: 'k' }, 'tokens must be between 0 and 1000000000'],
  [
    '/api/usage/commit',
    { agent: 'a', tokens: 1, executionMs: 86_400_001, idempotencyKey: 'k' },
    'executionMs must be between 0 and 86400000',
  ],
  [
    '/api/usage/commit',
    { agent: 'a', tokens: 1, executionMs: 0, idempotencyKey: 'k', reservationId: 'r1' },
    'reservationId must be a UUID',
  ],
  ['/api/usage/release', {}, 'reservationId must be a UUID'],
  ['/api/usage/release', { reservationId: 42 }, 'reservationId must be a UUID'],
];

// One auth server per file: the app reads its URL from the environment once per process.
let auth: TestAuth;
let stripeServer: TestStripe;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  process.env.TASK_RUNNER_API_KEY = TASK_RUNNER_KEY;
  // A short allowance answers with a PaymentIntent for the shortfall, from the local Stripe.
  stripeServer = await startTestStripe(webhook);
});
afterAll(async () => {
  await stripeServer.close();
  await auth.close();
});

describe.each(backends())('usage API on $name', (backend) => {
  let db: Database;
  let user: { userId: string; accessToken: string };

  const ledgerCounts = async (userId: string) => {
    const { rows } = await db.query<{ events: number; reservations: number; periods: number }>(
      `select (select count(*) from usage_events where user_id = $1)::int as events,
              (select count(*) from usage_reservations where user_id = $1)::int as reservations,
              (select count(*) from user_usage where user_id = $1)::int as periods`,
      [userId],
    );
    return rows[0];
  };

  beforeAll(async () => {
    db = await backend.open();
    useDatabase(db);
    user = await auth.signUp();
  }, 60_000);
  afterAll(async () => db.close());

  it('answers a limit check for the signed-in user in the specification shape', async () => {
    const response = await call(checkUsageLimit, '/api/payments/check-usage-limit', {
      token: user.accessToken,
      body: { estimatedCost: 25.0 },
    });
    expect(response).toEqual({
      status: 200,
      body: {
        data: expect.objectContaining({
          allowed: false,
          remainingCents: 1000,
          shortfallCents: 1500,
          estimatedCostMicros: 25_000_000,
          planId: 'starter',
          requiresPayment: true,
          paymentIntent: expect.objectContaining({ amountCents: 1500, amount: 15, status: 'requires_payment_method' }),
        }),
      },
    });
  });

  it('creates the user row from the verified token on first use', async () => {
    const fresh = await auth.signUp();
    await call(checkUsageLimit, '/api/payments/check-usage-limit', { token: fresh.accessToken, body: { estimatedCost: 1 } });
    const { rows } = await db.query('select id, email from users where id = $1', [fresh.userId]);
    expect(rows).toEqual([{ id: fresh.userId, email: fresh.email }]);
  });

  it('runs a task end to end for the task runner: reserve, commit, and a retried commit counts once', async () => {
    const runner = { token: TASK_RUNNER_KEY };
    const reserved = await call(reserve, '/api/usage/reserve', {
      ...runner,
      body: { userId: user.userId, estimatedCost: 0.5, idempotencyKey: `task-${randomUUID()}` },
    });
    expect(reserved.status).toBe(200);
    const reservationId = (reserved.body.data as { reservationId: string }).reservationId;
    const commitBody = {
      userId: user.userId,
      reservationId,
      agent: 'planner',
      tokens: 300,
      executionMs: 6_000,
      idempotencyKey: `done-${reservationId}`,
    };
    const first = await call(commit, '/api/usage/commit', { ...runner, body: commitBody });
    const retries = await Promise.all(Array.from({ length: 9 }, () => call(commit, '/api/usage/commit', { ...runner, body: commitBody })));
    // 300 tokens at $0.001 + 6 s at $0.10/min = $0.31
    expect(first.body.data).toMatchObject({ duplicate: false, costMicros: 310_000, planId: 'starter' });
    for (const retry of retries) expect(retry.body.data).toMatchObject({ duplicate: true, costMicros: 310_000 });
    const { rows } = await db.query('select sum(cost_micros)::bigint as total from usage_events where user_id = $1', [user.userId]);
    expect(rows[0]).toEqual({ total: 310_000 });
  });

  it('releases a reservation through the API and refuses a second commit of it', async () => {
    const runner = { token: TASK_RUNNER_KEY };
    const reserved = await call(reserve, '/api/usage/reserve', {
      ...runner,
      body: { userId: user.userId, estimatedCost: 1, idempotencyKey: `r-${randomUUID()}` },
    });
    const reservationId = (reserved.body.data as { reservationId: string }).reservationId;
    expect(await call(release, '/api/usage/release', { ...runner, body: { userId: user.userId, reservationId } })).toEqual({
      status: 200,
      body: { data: { reservationId, status: 'released', duplicate: false } },
    });
    expect(
      await call(commit, '/api/usage/commit', {
        ...runner,
        body: { userId: user.userId, reservationId, agent: 'a', tokens: 1, executionMs: 0, idempotencyKey: `c-${randomUUID()}` },
      }),
    ).toEqual({ status: 409, body: { error: { code: 'conflict', message: 'Reservation is already released' } } });
    expect(await call(release, '/api/usage/release', { ...runner, body: { userId: user.userId, reservationId: randomUUID() } })).toEqual({
      status: 404,
      body: { error: { code: 'not_found', message: 'Reservation not found' } },
    });
  });

  // Issue 11, finding 2: the user read the runner's reservation id (their own row, through RLS)
  // and settled it with tokens: 0 or released it, so the task was never charged.
  it("refuses a signed-in user's reserve, commit and release (403) even with the runner's reservation id, and the runner's commit still charges the task", async () => {
    const victim = await auth.signUp();
    // Checking the limit stays the user's (and makes their row).
    expect(
      (await call(checkUsageLimit, '/api/payments/check-usage-limit', { token: victim.accessToken, body: { estimatedCost: 1 } })).status,
    ).toBe(200);
    const runner = { token: TASK_RUNNER_KEY };
    const reserved = await call(reserve, '/api/usage/reserve', {
      ...runner,
      body: { userId: victim.userId, estimatedCost: 5, idempotencyKey: `task-${randomUUID()}` },
    });
    expect(reserved.status).toBe(200);
    // The user can see the hold (the dashboard's "on hold"), id included...
    const claims = { sub: victim.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 3600 };
    const seen = await db.userTransaction(claims, (tx) => tx.query<{ id: string }>('select id from usage_reservations'));
    const reservationId = (reserved.body.data as { reservationId: string }).reservationId;
    expect(seen.rows).toEqual([{ id: reservationId }]);

    // ...but cannot settle it, nor write any usage, with a cookie or a bearer token.
    const before = await ledgerCounts(victim.userId);
    const forbidden = { status: 403, body: { error: { code: 'forbidden', message: 'Only the task runner may record usage' } } };
    const attempts: Array<[Path, Record<string, unknown>]> = [
      ['/api/usage/commit', { reservationId, agent: 'a', tokens: 0, executionMs: 0, idempotencyKey: `steal-${randomUUID()}` }],
      ['/api/usage/commit', { agent: 'a', tokens: 1, executionMs: 0, idempotencyKey: `own-${randomUUID()}` }],
      ['/api/usage/release', { reservationId }],
      ['/api/usage/reserve', { estimatedCost: 1, idempotencyKey: `r-${randomUUID()}` }],
      [
        '/api/usage/commit',
        { userId: victim.userId, reservationId, agent: 'a', tokens: 0, executionMs: 0, idempotencyKey: `x-${randomUUID()}` },
      ],
    ];
    for (const [path, body] of attempts) {
      expect(await call(endpoints[path], path, { token: victim.accessToken, body })).toEqual(forbidden);
    }
    expect(await ledgerCounts(victim.userId)).toEqual(before);
    const { rows } = await db.query('select status from usage_reservations where id = $1', [reservationId]);
    expect(rows).toEqual([{ status: 'open' }]);

    const committed = await call(commit, '/api/usage/commit', {
      ...runner,
      body: {
        userId: victim.userId,
        reservationId,
        agent: 'writer',
        tokens: 1_000,
        executionMs: 0,
        idempotencyKey: `done-${reservationId}`,
      },
    });
    expect(committed).toMatchObject({ status: 200, body: { data: { duplicate: false, costMicros: 1_000_000 } } });
  });

  it.each(INVALID_BODIES)('%s rejects %j with 400 and changes nothing', async (path, body, message) => {
    const someone = await auth.signUp();
    await call(checkUsageLimit, '/api/payments/check-usage-limit', { token: someone.accessToken, body: { estimatedCost: 0 } });
    const before = await ledgerCounts(someone.userId);
    // Usage writes are the task runner's (naming the user); the limit check is the user's own.
    const asCaller =
      path === '/api/payments/check-usage-limit'
        ? { token: someone.accessToken, body }
        : { token: TASK_RUNNER_KEY, body: { ...(body as object), userId: someone.userId } };
    const response = await call(endpoints[path], path, asCaller);
    expect(response.status).toBe(400);
    expect(response.body).toEqual(invalid(message, expect.any(Array)));
    expect(await ledgerCounts(someone.userId)).toEqual(before);
  });

  it.each(Object.keys(endpoints) as Path[])('%s rejects malformed JSON and non-object bodies', async (path) => {
    const token = path === '/api/payments/check-usage-limit' ? user.accessToken : TASK_RUNNER_KEY;
    expect(await call(endpoints[path], path, { token, rawBody: '{"estimatedCost": ' })).toEqual({
      status: 400,
      body: { error: { code: 'invalid_json', message: 'Request body must be valid JSON' } },
    });
    expect(await call(endpoints[path], path, { token, rawBody: '[1, 2]' })).toEqual({
      status: 400,
      body: { error: { code: 'validation_failed', message: 'Request body must be a JSON object' } },
    });
  });

  describe('authentication', () => {
    const claimsFor = (userId: string, overrides: Record<string, unknown> = {}) => ({
      iss: `${auth.url}/auth/v1`,
      sub: userId,
      aud: 'authenticated',
      role: 'authenticated',
      iat: Math.floor(Date.now() / 1000) - 60,
      exp: Math.floor(Date.now() / 1000) + 3600,
      email: 'someone@example.test',
      ...overrides,
    });
    const unauthorized = (message: string) => ({ status: 401, body: { error: { code: 'unauthorized', message } } });

    // [case, how the request is made, expected answer]
    const cases: Array<[string, () => Promise<{ token?: string; headers?: Record<string, string> }>, ReturnType<typeof unauthorized>]> = [
      ['no credentials', async () => ({}), unauthorized('Sign in to continue')],
      ['a user-id header alone', async () => ({ headers: { 'user-id': user.userId } }), unauthorized('Sign in to continue')],
      [
        'a forged token (foreign key)',
        async () => ({ token: await auth.signWithForeignKey(claimsFor(user.userId)) }),
        unauthorized('Invalid access token'),
      ],
      [
        'an expired token',
        async () => ({ token: await auth.signWithServerKey(claimsFor(user.userId, { exp: Math.floor(Date.now() / 1000) - 10 })) }),
        unauthorized('Session expired'),
      ],
      [
        'a token for another audience',
        async () => ({ token: await auth.signWithServerKey(claimsFor(user.userId, { aud: 'other' })) }),
        unauthorized('Invalid access token'),
      ],
      [
        'a token from another issuer',
        async () => ({ token: await auth.signWithServerKey(claimsFor(user.userId, { iss: 'https://evil.example/auth/v1' })) }),
        unauthorized('Invalid access token'),
      ],
      [
        'an anon-role token',
        async () => ({ token: await auth.signWithServerKey(claimsFor(user.userId, { role: 'anon' })) }),
        unauthorized('Invalid access token'),
      ],
      [
        'a tampered payload',
        async () => {
          const [header, , signature] = user.accessToken.split('.');
          const payload = Buffer.from(JSON.stringify(claimsFor(randomUUID()))).toString('base64url');
          return { token: `${header}.${payload}.${signature}` };
        },
        unauthorized('Invalid access token'),
      ],
      ['a wrong task-runner key', async () => ({ token: 'tr_wrong_key_0123456789' }), unauthorized('Invalid access token')],
      ['garbage', async () => ({ token: 'not-a-jwt' }), unauthorized('Invalid access token')],
    ];

    it.each(
      cases.flatMap(([name, make, expected]) => (Object.keys(endpoints) as Path[]).map((path) => [name, path, make, expected] as const)),
    )('refuses %s on %s with 401 and writes nothing', async (_name, path, make, expected) => {
      const before = await ledgerCounts(user.userId);
      expect(await call(endpoints[path], path, { ...(await make()), body: { ...validBodies[path], userId: user.userId } })).toEqual(
        expected,
      );
      expect(await ledgerCounts(user.userId)).toEqual(before);
    });

    it('refuses a user acting for someone else (403) and a task runner naming nobody (400) or a stranger (404)', async () => {
      const other = await auth.signUp();
      expect(
        await call(checkUsageLimit, '/api/payments/check-usage-limit', {
          token: user.accessToken,
          body: { estimatedCost: 1, userId: other.userId },
        }),
      ).toEqual({ status: 403, body: { error: { code: 'forbidden', message: 'You can only act for your own account' } } });
      expect(
        await call(reserve, '/api/usage/reserve', { token: TASK_RUNNER_KEY, body: { estimatedCost: 1, idempotencyKey: 'x' } }),
      ).toEqual({
        status: 400,
        body: invalid('userId must be a UUID', expect.any(Array)),
      });
      expect(
        await call(reserve, '/api/usage/reserve', {
          token: TASK_RUNNER_KEY,
          body: { userId: randomUUID(), estimatedCost: 1, idempotencyKey: 'x' },
        }),
      ).toEqual({ status: 404, body: { error: { code: 'not_found', message: 'User not found' } } });
    });
  });
});
