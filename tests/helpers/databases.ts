import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { connectPostgres, openPglite, type Database, type PoolerMode } from '@/lib/db/database';
import { migrate } from '@/lib/db/migrate';
import { withDatabase } from '@/local/db/throwaway-postgres';

// The two real Postgres engines every database test runs on: PostgreSQL 15 (a fresh clone of
// the migrated template) and PGlite (a fresh in-memory database, migrated from scratch).

export interface Backend {
  name: 'postgres' | 'pglite';
  open(): Promise<Database>;
}

/**
 * A fresh clone of the migrated template database: its URL (through the test pooler when there
 * is one, see global-postgres.ts), the pooler mode to connect with, and how to drop it.
 */
export async function createPostgresClone(): Promise<{ url: string; pooler: PoolerMode; drop(): Promise<void> }> {
  const serverUrl = inject('postgresServerUrl');
  if (!serverUrl) throw new Error('PostgreSQL is not available');
  const name = `billing_test_${randomUUID().replaceAll('-', '')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name} template ${inject('postgresTemplate')}`);
  await admin.end();
  const poolerUrl = inject('postgresPoolerUrl');
  return {
    url: withDatabase(poolerUrl ?? serverUrl, name),
    pooler: poolerUrl ? 'transaction' : 'none',
    async drop() {
      const cleanup = new pg.Client({ connectionString: serverUrl });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

export async function openPostgresClone(poolSize = 20): Promise<Database> {
  const clone = await createPostgresClone();
  const db = connectPostgres(clone.url, poolSize, clone.pooler);
  const close = db.close.bind(db);
  return {
    ...db,
    close: async () => {
      await close();
      await clone.drop();
    },
  };
}

export async function openPgliteMigrated(): Promise<Database> {
  const db = await openPglite(undefined);
  await migrate(db);
  return db;
}

export function backends(): Backend[] {
  const list: Backend[] = [{ name: 'pglite', open: openPgliteMigrated }];
  if (inject('postgresServerUrl')) list.unshift({ name: 'postgres', open: () => openPostgresClone() });
  return list;
}
