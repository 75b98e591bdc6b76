import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { JwtClaims } from '@/lib/auth/claims';
import type { Database, Queryable } from '@/lib/db';
import { env, isLoopback } from '@/lib/env';
import { AppError } from '@/lib/http/errors';

// Named API keys of the AI task runner. A key is `trk_` + 43 base64url characters (32 random
// bytes); only its SHA-256 digest is stored, and the key is shown once, when it is made.
//
// Checking a key must not cost a query per request (the task runner calls on every task), and a
// revoked key must stop working within a second, in every process. So each process keeps the
// digests of the live keys in memory and reloads them when they are older than LIVE_KEYS_MAX_AGE_MS
// (one small query, at most twice a second under load, none when idle). Last-used times are
// kept in memory too and written in one statement every LAST_USED_FLUSH_MS.
//
// TASK_RUNNER_API_KEY is a bootstrap key for local development: it is accepted only while the
// app signs users in with the local auth server (a loopback Supabase URL), never in production.

export const KEY_PREFIX = 'trk_';
const LIVE_KEYS_MAX_AGE_MS = 500;
/** A key not in the cache forces a reload at most this often (a new key works at once). */
const MISS_RELOAD_MIN_MS = 100;
const LAST_USED_FLUSH_MS = 5_000;

export const createTaskRunnerKeyBodySchema = z.strictObject({
  name: z
    .string({ error: 'name is required' })
    .trim()
    .min(1, { error: 'name is required' })
    .max(100, { error: 'name must be at most 100 characters' }),
});
export const revokeTaskRunnerKeyBodySchema = z.strictObject({ id: z.uuid({ error: 'id must be a UUID' }) });

export interface TaskRunnerKey {
  id: string;
  name: string;
  keyPrefix: string;
  createdBy: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface CreatedTaskRunnerKey extends TaskRunnerKey {
  /** The key itself: shown once, never stored. */
  key: string;
}

interface KeyRow {
  id: string;
  name: string;
  key_prefix: string;
  created_by: string | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const toKey = (row: KeyRow): TaskRunnerKey => ({
  id: row.id,
  name: row.name,
  keyPrefix: row.key_prefix,
  createdBy: row.created_by,
  createdAt: row.created_at.toISOString(),
  lastUsedAt: row.last_used_at?.toISOString() ?? null,
  revokedAt: row.revoked_at?.toISOString() ?? null,
});

const digest = (key: string) => createHash('sha256').update(key).digest('hex');

interface KeyCache {
  loadedAt: number;
  live: Map<string, string>; // digest -> key id
  loading: Promise<void> | null;
  used: Map<string, number>; // key id -> last use (ms), not yet written
  flushedAt: number;
}

const caches = new WeakMap<Database, KeyCache>();

function cacheOf(db: Database): KeyCache {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = { loadedAt: 0, live: new Map(), loading: null, used: new Map(), flushedAt: Date.now() }));
  return cache;
}

function reload(db: Database, cache: KeyCache): Promise<void> {
  cache.loading ??= (async () => {
    const startedAt = Date.now();
    try {
      const { rows } = await db.query<{ id: string; key_sha256: string }>(
        'select id, key_sha256 from public.task_runner_keys where revoked_at is null',
      );
      cache.live = new Map(rows.map((row) => [row.key_sha256, row.id]));
      cache.loadedAt = startedAt;
    } finally {
      cache.loading = null;
    }
    if (startedAt - cache.flushedAt >= LAST_USED_FLUSH_MS) void flushLastUsed(db).catch(() => undefined);
  })();
  return cache.loading;
}

/** Writes the last-used times noted since the previous write, in one statement. */
export async function flushLastUsed(db: Database): Promise<void> {
  const cache = cacheOf(db);
  cache.flushedAt = Date.now();
  if (cache.used.size === 0) return;
  const uses = [...cache.used].map(([id, at]) => ({ id, at: new Date(at).toISOString() }));
  cache.used.clear();
  await db.query(
    `update public.task_runner_keys k set last_used_at = greatest(k.last_used_at, u.at)
       from jsonb_to_recordset($1::jsonb) as u(id uuid, at timestamptz) where k.id = u.id`,
    [JSON.stringify(uses)],
  );
}

function isBootstrapKey(token: string): boolean {
  const config = env();
  if (!isLoopback(config.NEXT_PUBLIC_SUPABASE_URL)) return false;
  const given = Buffer.from(token);
  const expected = Buffer.from(config.TASK_RUNNER_API_KEY);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Whether a bearer token is a live task-runner key: a named key (its id) or the local bootstrap
 * key ('bootstrap'). Null otherwise.
 */
export async function verifyTaskRunnerKey(db: () => Promise<Database>, token: string): Promise<string | null> {
  if (!token.startsWith(KEY_PREFIX)) return isBootstrapKey(token) ? 'bootstrap' : null;
  const database = await db();
  const cache = cacheOf(database);
  const age = Date.now() - cache.loadedAt;
  if (age > LIVE_KEYS_MAX_AGE_MS) await reload(database, cache);
  const hash = digest(token);
  let id = cache.live.get(hash);
  if (id === undefined && Date.now() - cache.loadedAt > MISS_RELOAD_MIN_MS) {
    await reload(database, cache);
    id = cache.live.get(hash);
  }
  if (id === undefined) return null;
  cache.used.set(id, Date.now());
  return id;
}

export async function createTaskRunnerKey(db: Database, name: string, createdBy: string | null): Promise<CreatedTaskRunnerKey> {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  const { rows } = await db.query<KeyRow>(
    `insert into public.task_runner_keys (name, key_prefix, key_sha256, created_by) values ($1, $2, $3, $4)
     returning id, name, key_prefix, created_by, created_at, last_used_at, revoked_at`,
    [name, key.slice(0, 12), digest(key), createdBy],
  );
  const row = rows[0];
  if (!row) throw new Error('insert returned no row');
  // Usable at once here; other processes load it within LIVE_KEYS_MAX_AGE_MS (or on a miss).
  cacheOf(db).live.set(digest(key), row.id);
  return { ...toKey(row), key };
}

/** Every key, live first. With an admin's claims it is read through RLS as that admin. */
export async function listTaskRunnerKeys(db: Database, adminClaims?: JwtClaims): Promise<TaskRunnerKey[]> {
  await flushLastUsed(db);
  const read = (tx: Queryable) =>
    tx.query<KeyRow>(
      `select id, name, key_prefix, created_by, created_at, last_used_at, revoked_at from public.task_runner_keys
       order by revoked_at is not null, created_at desc`,
    );
  const { rows } = adminClaims ? await db.userTransaction(adminClaims, read) : await read(db);
  return rows.map(toKey);
}

/** Revokes a key: every process refuses it within LIVE_KEYS_MAX_AGE_MS, this one at once. */
export async function revokeTaskRunnerKey(db: Database, id: string): Promise<TaskRunnerKey> {
  const { rows } = await db.query<KeyRow>(
    `update public.task_runner_keys set revoked_at = coalesce(revoked_at, now()) where id = $1
     returning id, name, key_prefix, created_by, created_at, last_used_at, revoked_at`,
    [id],
  );
  const row = rows[0];
  if (!row) throw new AppError('not_found', 'Key not found');
  const cache = cacheOf(db);
  for (const [hash, keyId] of cache.live) if (keyId === id) cache.live.delete(hash);
  return toKey(row);
}
