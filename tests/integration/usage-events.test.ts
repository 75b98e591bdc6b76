import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskRunnerKey, revokeTaskRunnerKey } from '@/lib/auth/task-runner-keys';
import { reserveUsage } from '@/lib/billing/usage';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { POST as recordEvents } from '@/pages/api/usage/events';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { backends } from '@/tests/helpers/databases';
import { api, call } from '@/tests/helpers/http';
import { asTaskRunner, createUser } from '@/tests/helpers/users';

// POST /api/usage/events: batch ingestion, called in-process with real Requests on both engines.
// Every test checks the ledger against the counters afterwards.

const BOOTSTRAP_KEY = 'tr_test_key_0123456789';
const PATH = '/api/usage/events';
// Starter: 300 tokens at $0.001 + 6 s at $0.10/min = $0.31
const TASK = { agent: 'planner', tokens: 300, executionMs: 6_000 } as const;
const TASK_COST = 310_000;

let auth: TestAuth;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  process.env.TASK_RUNNER_API_KEY = BOOTSTRAP_KEY;
});
afterAll(async () => auth.close());

describe.each(backends())('usage event batches on $name', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await backend.open();
    useDatabase(db);
  }, 60_000);
  afterAll(async () => db.close());

  const send = (events: unknown, token = BOOTSTRAP_KEY) => api(recordEvents, 'POST', PATH, { token, body: { events } });
  const reservation = async (userId: string, dollars = 0.5) => {
    const held = await reserveUsage(db, asTaskRunner(userId), { estimatedCost: dollars * 1_000_000, idempotencyKey: randomUUID() }, 900);
    if (!held.reservationId) throw new Error('reservation refused');
    return held.reservationId;
  };

  /** Per user: used_micros on the period rows, the ledger's sum, and how many events. */
  const books = async (userIds: string[]) => {
    const { rows } = await db.query<{ user_id: string; used: number; ledger: number; events: number }>(
      `select u.id as user_id,
              coalesce((select sum(used_micros) from user_usage where user_id = u.id), 0)::bigint as used,
              coalesce((select sum(cost_micros) from usage_events where user_id = u.id), 0)::bigint as ledger,
              (select count(*) from usage_events where user_id = u.id)::int as events
         from users u where u.id = any($1::uuid[]) order by u.id`,
      [userIds],
    );
    return rows;
  };

  it('rejects an event above the per-task ceiling (422) as a single commit would, recording the others', async () => {
    const alice = await createUser(db);
    // Enterprise rates would make this $200,000; on Starter, 10^9 tokens cost $1,000,000: far above the $1,000 default.
    const huge = { ...TASK, tokens: 1_000_000_000, userId: alice.userId, idempotencyKey: randomUUID() };
    const fine = { ...TASK, userId: alice.userId, idempotencyKey: randomUUID() };
    const answer = await send([huge, fine]);
    expect(answer.status).toBe(200);
    expect(answer.body.data.results).toEqual([
      { status: 'rejected', code: 'unprocessable', message: expect.stringMatching(/per-task ceiling/i) },
      { status: 'recorded', eventId: expect.any(String), costMicros: TASK_COST },
    ]);
    expect(await books([alice.userId])).toEqual([{ user_id: alice.userId, used: TASK_COST, ledger: TASK_COST, events: 1 }]);
  });

  it('records each event on its own and answers one result per event, in request order', async () => {
    const alice = await createUser(db);
    const bob = await createUser(db);
    const held = await reservation(alice.userId);
    const released = await reservation(alice.userId);
    await db.query("update usage_reservations set status = 'released' where id = $1", [released]);
    const stranger = randomUUID();
    const answer = await send([
      { userId: alice.userId, ...TASK, idempotencyKey: 'a-1' },
      { userId: alice.userId, reservationId: held, ...TASK, idempotencyKey: 'a-2' },
      { userId: bob.userId, ...TASK, tokens: -1, idempotencyKey: 'b-1' },
      { userId: bob.userId, ...TASK, idempotencyKey: 'b-2' },
      { userId: alice.userId, ...TASK, idempotencyKey: 'a-1' },
      { userId: alice.userId, ...TASK, tokens: 301, idempotencyKey: 'a-1' },
      { userId: alice.userId, reservationId: randomUUID(), ...TASK, idempotencyKey: 'a-3' },
      { userId: alice.userId, reservationId: released, ...TASK, idempotencyKey: 'a-4' },
      { userId: stranger, ...TASK, idempotencyKey: 's-1' },
      { ...TASK, idempotencyKey: 'nobody' },
      'not an event',
      { userId: bob.userId, ...TASK, idempotencyKey: 'b-3', surprise: true },
    ]);
    const recorded = { status: 'recorded', eventId: expect.any(String), costMicros: TASK_COST };
    expect(answer.status).toBe(200);
    expect(answer.body.data.results).toEqual([
      recorded,
      recorded,
      { status: 'rejected', code: 'validation_failed', message: 'tokens must be between 0 and 1000000000' },
      recorded,
      { status: 'duplicate', eventId: answer.body.data.results[0].eventId, costMicros: TASK_COST },
      { status: 'rejected', code: 'idempotency_conflict', message: 'Idempotency key reused with different usage' },
      { status: 'rejected', code: 'not_found', message: 'Reservation not found' },
      { status: 'rejected', code: 'conflict', message: 'Reservation is already released' },
      { status: 'rejected', code: 'not_found', message: 'User not found' },
      { status: 'rejected', code: 'validation_failed', message: 'userId must be a UUID' },
      { status: 'rejected', code: 'validation_failed', message: 'Invalid input: expected object, received string' },
      { status: 'rejected', code: 'validation_failed', message: 'Unrecognized key: "surprise"' },
    ]);
    expect(await books([alice.userId, bob.userId])).toEqual(
      [
        { user_id: alice.userId, used: 2 * TASK_COST, ledger: 2 * TASK_COST, events: 2 },
        { user_id: bob.userId, used: TASK_COST, ledger: TASK_COST, events: 1 },
      ].sort((a, b) => a.user_id.localeCompare(b.user_id)),
    );
    const { rows } = await db.query('select status from usage_reservations where id = $1', [held]);
    expect(rows).toEqual([{ status: 'committed' }]);
    expect((await db.query('select 1 from users where id = $1', [stranger])).rowCount).toBe(0);
  });

  it('answers the same batch sent twice with the same events, counted once', async () => {
    const user = await createUser(db);
    const held = await reservation(user.userId);
    const batch = [
      { userId: user.userId, reservationId: held, ...TASK, idempotencyKey: 'r-1' },
      ...Array.from({ length: 20 }, (_, i) => ({ userId: user.userId, ...TASK, idempotencyKey: `k-${i}` })),
      { userId: user.userId, reservationId: randomUUID(), ...TASK, idempotencyKey: 'r-2' },
    ];
    const first = await send(batch);
    const second = await send(batch);
    expect(first.body.data.results.filter((r: { status: string }) => r.status === 'recorded')).toHaveLength(21);
    expect(second.body.data.results).toEqual(
      first.body.data.results.map((r: { status: string }) => (r.status === 'recorded' ? { ...r, status: 'duplicate' } : r)),
    );
    expect(await books([user.userId])).toEqual([{ user_id: user.userId, used: 21 * TASK_COST, ledger: 21 * TASK_COST, events: 21 }]);
  });

  it('records every key once when concurrent batches overlap, in any order, without deadlocks', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => createUser(db)));
    const holds = await Promise.all(users.flatMap((user) => [0, 1, 2].map(async (n) => ({ user, n, id: await reservation(user.userId) }))));
    const events = [
      ...holds.map(({ user, n, id }) => ({ userId: user.userId, reservationId: id, ...TASK, idempotencyKey: `hold-${n}` })),
      ...users.flatMap((user) => Array.from({ length: 10 }, (_, i) => ({ userId: user.userId, ...TASK, idempotencyKey: `free-${i}` }))),
    ];
    // Six batches of overlapping slices, each in its own order (reversed, rotated).
    const batches = Array.from({ length: 6 }, (_, b) => {
      const slice = events.filter((_, i) => (i + b) % 3 !== 0);
      const rotated = [...slice.slice(b * 5), ...slice.slice(0, b * 5)];
      return b % 2 ? rotated.reverse() : rotated;
    });
    const answers = await Promise.all(batches.map((batch) => send(batch)));
    const byKey = new Map<string, { recorded: number; eventIds: Set<string> }>();
    answers.forEach((answer, b) => {
      expect(answer.status).toBe(200);
      answer.body.data.results.forEach((result: { status: string; eventId: string }, i: number) => {
        const event = batches[b]![i]!;
        expect(['recorded', 'duplicate']).toContain(result.status);
        const key = `${event.userId}/${event.idempotencyKey}`;
        const seen = byKey.get(key) ?? { recorded: 0, eventIds: new Set() };
        if (result.status === 'recorded') seen.recorded += 1;
        seen.eventIds.add(result.eventId);
        byKey.set(key, seen);
      });
    });
    expect(byKey.size).toBe(events.length);
    for (const [key, seen] of byKey) {
      expect(seen.recorded, key).toBe(1);
      expect(seen.eventIds.size, key).toBe(1);
    }
    const perUser = events.length / users.length;
    expect((await books(users.map((u) => u.userId))).map((row) => [row.used, row.ledger, row.events])).toEqual(
      users.map(() => [perUser * TASK_COST, perUser * TASK_COST, perUser]),
    );
    const { rows } = await db.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from usage_reservations where id = any($1::uuid[]) group by status',
      [holds.map((h) => h.id)],
    );
    expect(rows).toEqual([{ status: 'committed', n: holds.length }]);
  });

  it('takes 500 events in one request and refuses 501', async () => {
    const user = await createUser(db);
    const events = Array.from({ length: 500 }, (_, i) => ({
      userId: user.userId,
      agent: 'bulk',
      tokens: 1,
      executionMs: 0,
      idempotencyKey: `bulk-${i}`,
    }));
    const answer = await send(events);
    expect(answer.status).toBe(200);
    expect(answer.body.data.results.every((r: { status: string }) => r.status === 'recorded')).toBe(true);
    const tooMany = await send([...events, { ...events[0], idempotencyKey: 'bulk-500' }]);
    expect(tooMany).toEqual({
      status: 400,
      body: { error: { code: 'validation_failed', message: 'events must be a list of 1 to 500 usage events', details: expect.any(Array) } },
    });
    expect(await books([user.userId])).toEqual([{ user_id: user.userId, used: 500 * 1_000, ledger: 500 * 1_000, events: 500 }]);
  });

  // [case, body for the user (or raw text), expected error]. Each is a 400 and writes nothing.
  const listMessage = 'events must be a list of 1 to 500 usage events';
  const BAD_REQUESTS: Array<[string, { body?: (userId: string) => unknown; rawBody?: string }, { code: string; message: string }]> = [
    ['no events', { body: () => ({}) }, { code: 'validation_failed', message: listMessage }],
    ['an empty list', { body: () => ({ events: [] }) }, { code: 'validation_failed', message: listMessage }],
    ['events as an object', { body: () => ({ events: { a: 1 } }) }, { code: 'validation_failed', message: listMessage }],
    // A valid event beside the unknown field: the field alone is refused, and the event not recorded.
    [
      'an unknown field beside a valid event',
      { body: (userId) => ({ events: [{ userId, ...TASK, idempotencyKey: 'beside-extra' }], extra: 1 }) },
      { code: 'validation_failed', message: 'Unrecognized key: "extra"' },
    ],
    ['a top-level field only', { body: () => ({ extra: 1 }) }, { code: 'validation_failed', message: listMessage }],
    ['malformed JSON', { rawBody: '{"events": [' }, { code: 'invalid_json', message: 'Request body must be valid JSON' }],
    ['a JSON list', { rawBody: '[{"agent": "a"}]' }, { code: 'validation_failed', message: 'Request body must be a JSON object' }],
  ];
  it.each(BAD_REQUESTS)('refuses %s with 400 and writes nothing', async (_name, request, error) => {
    const user = await createUser(db);
    const before = await books([user.userId]);
    const rawBody = request.rawBody ?? JSON.stringify(request.body!(user.userId));
    const answer = await call(recordEvents, PATH, { token: BOOTSTRAP_KEY, rawBody });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: { ...error, ...((answer.body.error as { details?: unknown }).details ? { details: expect.any(Array) } : {}) },
    });
    expect(await books([user.userId])).toEqual(before);
  });

  it('refuses a body over 500 KiB with 413 and writes nothing', async () => {
    const user = await createUser(db);
    const events = [{ userId: user.userId, ...TASK, idempotencyKey: 'big', padding: 'x'.repeat(600_000) }];
    expect(await call(recordEvents, PATH, { token: BOOTSTRAP_KEY, body: { events } })).toEqual({
      status: 413,
      body: { error: { code: 'payload_too_large', message: 'Request body must be at most 512000 bytes' } },
    });
    expect(await books([user.userId])).toEqual([{ user_id: user.userId, used: 0, ledger: 0, events: 0 }]);
  });

  describe('credentials', () => {
    const unauthorized = (message: string) => ({ status: 401, body: { error: { code: 'unauthorized', message } } });
    const forbidden = { status: 403, body: { error: { code: 'forbidden', message: 'Only the task runner may record usage' } } };
    // [case, bearer token (or none), expected answer]
    const CASES: Array<[string, () => Promise<string | undefined>, unknown]> = [
      ['no credentials', async () => undefined, unauthorized('Sign in to continue')],
      ['a wrong key', async () => 'tr_wrong_key_0123456789', unauthorized('Invalid access token')],
      ['an unknown named key', async () => `trk_${'A'.repeat(43)}`, unauthorized('Invalid access token')],
      [
        'a revoked named key',
        async () => {
          const made = await createTaskRunnerKey(db, 'revoked', null);
          await revokeTaskRunnerKey(db, made.id);
          return made.key;
        },
        unauthorized('Invalid access token'),
      ],
      ['a signed-in user', async () => (await auth.signUp()).accessToken, forbidden],
    ];
    it.each(CASES)('refuses %s and writes nothing', async (_name, token, expected) => {
      const user = await createUser(db);
      const answer = await call(recordEvents, PATH, {
        ...(await token().then((t) => (t ? { token: t } : {}))),
        body: { events: [{ userId: user.userId, ...TASK, idempotencyKey: 'x' }] },
      });
      expect(answer).toEqual(expected);
      expect(await books([user.userId])).toEqual([{ user_id: user.userId, used: 0, ledger: 0, events: 0 }]);
    });

    it('accepts a live named key', async () => {
      const user = await createUser(db);
      const made = await createTaskRunnerKey(db, 'agents', null);
      const answer = await send([{ userId: user.userId, ...TASK, idempotencyKey: 'named' }], made.key);
      expect(answer.body.data.results).toEqual([{ status: 'recorded', eventId: expect.any(String), costMicros: TASK_COST }]);
    });
  });
});
