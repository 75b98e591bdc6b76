import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Database, Queryable } from '@/lib/db/database';

// Applies supabase/migrations/*.sql in name order, each once, each in its own transaction,
// recorded in the same table the Supabase CLI uses. The SQL files are read at run time (the
// turbopackIgnore hints keep the bundler from tracing the whole project for them; next.config.js
// ships the folders with the server output instead). Each transaction first takes a
// transaction-level advisory lock and re-reads what is applied, so two processes (dev server and
// a script) never migrate the same database at once. No session state is used, so this also works
// through a transaction-mode pooler, where a session lock and its unlock could land on different
// server connections and the lock would leak.

export interface MigrateOptions {
  migrationsDir?: string;
  /** Local stand-ins for Supabase's roles and auth.* functions; applied only when auth.uid() is missing. */
  shimsFile?: string;
}

export const DEFAULT_MIGRATIONS_DIR = path.join(process.cwd(), 'supabase', 'migrations');
export const DEFAULT_SHIMS_FILE = path.join(process.cwd(), 'local', 'db', 'supabase-shims.sql');
const MIGRATION_LOCK_KEY = 727_001;

export async function migrate(db: Database, options: MigrateOptions = {}): Promise<string[]> {
  const migrationsDir = options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR;
  const shimsFile = options.shimsFile ?? DEFAULT_SHIMS_FILE;
  const files = (await readdir(/* turbopackIgnore: true */ migrationsDir)).filter((name) => /^\d+_[\w-]+\.sql$/.test(name)).sort();
  const locked = <T>(work: (tx: Queryable) => Promise<T>) =>
    db.systemTransaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      return work(tx);
    });
  const appliedVersions = async (tx: Queryable) =>
    new Set(
      (await tx.query<{ version: string }>('select version from supabase_migrations.schema_migrations')).rows.map((row) => row.version),
    );

  const done = await locked(async (tx) => {
    const { rows: auth } = await tx.query<{ present: boolean }>(
      // auth.sessions came later than auth.uid(): a local database made before it gets the shims again.
      "select to_regprocedure('auth.uid()') is not null and to_regclass('auth.sessions') is not null as present",
    );
    if (!auth[0]?.present) await tx.query(await readFile(/* turbopackIgnore: true */ shimsFile, 'utf8'));
    await tx.query(`
      create schema if not exists supabase_migrations;
      create table if not exists supabase_migrations.schema_migrations (
        version text primary key, statements text[], name text)`);
    return appliedVersions(tx);
  });
  // A database migrated with files that no longer exist (the pre-2026-12-01 migrations were
  // squashed into a baseline) would fail half-way through the baseline: say what to do.
  const known = new Set(files.map((file) => file.split('_')[0]));
  const unknown = [...done].filter((version) => !known.has(version)).sort();
  if (unknown.length > 0) {
    throw new Error(
      `Database was migrated with migrations that no longer exist (${unknown.join(', ')}). ` +
        'Recreate it: for local PGlite, stop the app and delete PGLITE_DATA_DIR (default .data/pglite).',
    );
  }

  const applied: string[] = [];
  for (const file of files) {
    const [version, ...rest] = file.replace(/\.sql$/, '').split('_');
    if (!version || done.has(version)) continue;
    const sql = await readFile(/* turbopackIgnore: true */ path.join(migrationsDir, file), 'utf8');
    const ran = await locked(async (tx) => {
      if ((await appliedVersions(tx)).has(version)) return false; // another process got there first
      await tx.query(sql);
      await tx.query('insert into supabase_migrations.schema_migrations (version, name) values ($1, $2)', [version, rest.join('_')]);
      return true;
    }).catch((error: unknown) => {
      throw new Error(`Migration ${file} failed: ${(error as Error).message}`, { cause: error });
    });
    if (ran) applied.push(file);
  }
  return applied;
}
