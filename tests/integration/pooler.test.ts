import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { commitUsage, reserveUsage } from '@/lib/billing/usage';
import { connectPostgres, poolerMode, type Database } from '@/lib/db/database';
import { migrate } from '@/lib/db/migrate';
import { pgbouncerInstalled, startThrowawayPgbouncer, type ThrowawayPgbouncer } from '@/local/db/pgbouncer';
import { createPostgresClone } from '@/tests/helpers/databases';
import { createUser } from '@/tests/helpers/users';
import { withDatabase } from '@/local/db/throwaway-postgres';

describe('pooler mode', () => {
  it('is the setting when given, else transaction on port 6543 (Supabase pooler), else none', () => {
    expect(poolerMode('postgresql://u@db.example:6543/postgres', undefined)).toBe('transaction');
    expect(poolerMode('postgresql://u@db.example:5432/postgres', undefined)).toBe('none');
    expect(poolerMode('postgresql://u@db.example/postgres', undefined)).toBe('none');
    expect(poolerMode('postgresql://u@db.example:6543/postgres', 'none')).toBe('none');
    expect(poolerMode('postgresql://u@db.example:5432/postgres', 'transaction')).toBe('transaction');
  });
});

// Through a real PgBouncer 1.18 in transaction mode, started here in front of the test server.
const pgbouncers = inject('postgresServerUrl') && pgbouncerInstalled() ? [{ name: 'PgBouncer 1.18, transaction mode' }] : [];

describe.each(pgbouncers)('behind $name', () => {
  let bouncer: ThrowawayPgbouncer;
  let clone: Awaited<ReturnType<typeof createPostgresClone>>;
  let db: Database;
  beforeAll(async () => {
    bouncer = await startThrowawayPgbouncer(inject('postgresServerUrl')!, 8);
    clone = await createPostgresClone();
    const name = new URL(clone.url).pathname.slice(1);
    db = connectPostgres(withDatabase(bouncer.url, name), 16, 'transaction');
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await bouncer?.stop();
    await clone?.drop();
  });

  it('really is a transaction pooler: named prepared statements break there', async () => {
    const named = connectPostgres(withDatabase(bouncer.url, new URL(clone.url).pathname.slice(1)), 16, 'none');
    try {
      const outcomes = await Promise.allSettled(Array.from({ length: 64 }, (_, i) => named.prepared('probe', 'select $1::int as n', [i])));
      const failures = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(failures.length).toBeGreaterThan(0);
      expect(String((failures[0] as PromiseRejectedResult).reason)).toMatch(/prepared statement "probe"/);
    } finally {
      await named.close();
    }
  });

  it('runs 64 concurrent reserve + commit pairs with unnamed statements, each counted once', async () => {
    const user = await createUser(db);
    const actor = { kind: 'task-runner', userId: user.userId, claims: null } as const;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        const key = randomUUID();
        const hold = await reserveUsage(db, actor, { estimatedCost: 1_000, idempotencyKey: key }, 900);
        await commitUsage(db, actor, {
          reservationId: hold.reservationId ?? undefined,
          agent: 'pooled',
          tokens: 1,
          executionMs: 0,
          idempotencyKey: key,
        });
      }),
    );
    const { rows } = await db.query<{ events: number; used: number }>(
      'select (select count(*) from usage_events where user_id = $1)::int as events, (select sum(used_micros) from user_usage where user_id = $1)::bigint as used',
      [user.userId],
    );
    expect(rows[0]).toEqual({ events: 64, used: 64 * 1_000 });
  });

  it('migrates through the pooler without leaking a session lock: two concurrent runs, then a third', async () => {
    const admin = new pg.Client({ connectionString: inject('postgresServerUrl')! });
    await admin.connect();
    const name = `billing_pooler_${randomUUID().replaceAll('-', '')}`;
    await admin.query(`create database ${name}`);
    const fresh = connectPostgres(withDatabase(bouncer.url, name), 4, 'transaction');
    try {
      const [first, second] = await Promise.all([migrate(fresh), migrate(fresh)]);
      expect(first.length + second.length).toBeGreaterThan(0);
      expect(new Set([...first, ...second]).size).toBe(first.length + second.length); // each file once
      expect(await migrate(fresh)).toEqual([]);
      const { rows } = await admin.query<{ n: number }>("select count(*)::int as n from pg_locks where locktype = 'advisory'");
      expect(rows[0]?.n).toBe(0);
    } finally {
      await fresh.close();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});
