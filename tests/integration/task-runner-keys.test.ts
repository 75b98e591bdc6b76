import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskRunnerKey, flushLastUsed, listTaskRunnerKeys, revokeTaskRunnerKey } from '@/lib/auth/task-runner-keys';
import { connectPostgres, type Database } from '@/lib/db/database';
import { useDatabase } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { POST as reserve } from '@/pages/api/usage/reserve';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { backends, createPostgresClone } from '@/tests/helpers/databases';
import { call } from '@/tests/helpers/http';
import { createUser } from '@/tests/helpers/users';

// Named task-runner keys: stored as digests, several live at once, last use kept without a write
// per request, and a key revoked anywhere (another process) refused within a second.

let auth: TestAuth;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  process.env.TASK_RUNNER_API_KEY = 'tr_test_key_0123456789';
});
afterAll(async () => auth.close());

const unauthorized = { status: 401, body: { error: { code: 'unauthorized', message: 'Invalid access token' } } };

describe.each(backends())('task-runner keys on $name', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await backend.open();
    useDatabase(db);
  }, 60_000);
  afterAll(async () => db.close());

  const reserveWith = async (key: string, userId: string) =>
    call(reserve, '/api/usage/reserve', { token: key, body: { userId, estimatedCost: 0.01, idempotencyKey: randomUUID() } });

  it('keeps only a digest, shows the key once, and lets several keys work at once', async () => {
    const user = await createUser(db);
    const first = await createTaskRunnerKey(db, 'agents-a', 'ops@example.test');
    const second = await createTaskRunnerKey(db, 'agents-b', null);
    expect(first.key).toMatch(/^trk_[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.query<{ stored: string }>('select row_to_json(k)::text as stored from task_runner_keys k where id = $1', [
      first.id,
    ]);
    expect(rows[0]!.stored).not.toContain(first.key.slice(4));
    expect(rows[0]!.stored).toContain(createHash('sha256').update(first.key).digest('hex'));
    expect((await reserveWith(first.key, user.userId)).status).toBe(200);
    expect((await reserveWith(second.key, user.userId)).status).toBe(200);
    const listed = await listTaskRunnerKeys(db);
    expect(listed.find((key) => key.id === first.id)).toEqual({
      id: first.id,
      name: 'agents-a',
      keyPrefix: first.key.slice(0, 12),
      createdBy: 'ops@example.test',
      createdAt: first.createdAt,
      lastUsedAt: expect.any(String),
      revokedAt: null,
    });
    expect(JSON.stringify(listed)).not.toContain(first.key);
  });

  it('refuses a key revoked by another process within a second, and only that key', async () => {
    const user = await createUser(db);
    const revoked = await createTaskRunnerKey(db, 'to-revoke', null);
    const kept = await createTaskRunnerKey(db, 'kept', null);
    expect((await reserveWith(revoked.key, user.userId)).status).toBe(200);
    // Another process revokes it: this process's cache is not told.
    await db.query('update task_runner_keys set revoked_at = now() where id = $1', [revoked.id]);
    const started = Date.now();
    let answer = await reserveWith(revoked.key, user.userId);
    while (answer.status === 200 && Date.now() - started < 2_000) answer = await reserveWith(revoked.key, user.userId);
    expect(answer).toEqual(unauthorized);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await reserveWith(kept.key, user.userId)).status).toBe(200);
  });

  it('refuses a key revoked in this process at once, and says when an id is unknown', async () => {
    const user = await createUser(db);
    const key = await createTaskRunnerKey(db, 'at-once', null);
    expect((await reserveWith(key.key, user.userId)).status).toBe(200);
    const revoked = await revokeTaskRunnerKey(db, key.id);
    expect(revoked.revokedAt).toEqual(expect.any(String));
    expect(await reserveWith(key.key, user.userId)).toEqual(unauthorized);
    // Revoking twice keeps the first time.
    expect((await revokeTaskRunnerKey(db, key.id)).revokedAt).toBe(revoked.revokedAt);
    await expect(revokeTaskRunnerKey(db, randomUUID())).rejects.toEqual(new AppError('not_found', 'Key not found'));
  });

  it('keeps the last-used time without writing it on every request', async () => {
    const user = await createUser(db);
    const key = await createTaskRunnerKey(db, 'busy', null);
    for (let i = 0; i < 20; i++) expect((await reserveWith(key.key, user.userId)).status).toBe(200);
    const before = await db.query('select last_used_at from task_runner_keys where id = $1', [key.id]);
    expect(before.rows).toEqual([{ last_used_at: null }]);
    await flushLastUsed(db);
    const after = await db.query<{ last_used_at: Date }>('select last_used_at from task_runner_keys where id = $1', [key.id]);
    expect(Date.now() - after.rows[0]!.last_used_at.getTime()).toBeLessThan(10_000);
  });

  it('lets only admins read the keys through RLS', async () => {
    await createTaskRunnerKey(db, 'rls', null);
    const user = await createUser(db);
    const asUser = await db.userTransaction(user.claims, (tx) => tx.query('select id from task_runner_keys'));
    expect(asUser.rows).toEqual([]);
    const admin = { ...user.claims, app_metadata: { role: 'admin' } };
    expect((await listTaskRunnerKeys(db, admin)).length).toBeGreaterThan(0);
    await expect(db.userTransaction(admin, (tx) => tx.query('select key_sha256 from task_runner_keys'))).rejects.toThrow(
      /permission denied/,
    );
  });
});

describe('npm run runner-keys', () => {
  const run = promisify(execFile);
  let clone: Awaited<ReturnType<typeof createPostgresClone>>;
  let db: Database;
  beforeAll(async () => {
    clone = await createPostgresClone();
    db = connectPostgres(clone.url, 2);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await clone?.drop();
  });
  const cli = (...args: string[]) =>
    run('node_modules/.bin/tsx', ['scripts/runner-keys.ts', ...args], {
      env: { ...process.env, DATABASE_URL: clone.url },
      timeout: 60_000,
    });

  it('creates a key shown once, lists it, and revokes it', async () => {
    const created = await cli('create', 'nightly', 'agents');
    const [, key] = created.stdout.trim().split('\n');
    expect(key).toMatch(/^trk_[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.query<{ id: string; name: string }>('select id, name from task_runner_keys');
    expect(rows).toEqual([{ id: expect.any(String), name: 'nightly agents' }]);
    const listed = await cli('list');
    expect(listed.stdout).toContain(`${rows[0]!.id}  ${key!.slice(0, 12)}…  nightly agents  live`);
    expect(listed.stdout).not.toContain(key);
    const revoked = await cli('revoke', rows[0]!.id);
    expect(revoked.stdout).toContain('Revoked key "nightly agents"');
    expect((await cli('list')).stdout).toContain('nightly agents  revoked');
    await expect(cli('revoke', 'not-a-uuid')).rejects.toMatchObject({ code: 1 });
    await expect(cli('frobnicate')).rejects.toMatchObject({ code: 2 });
  }, 120_000);
});
