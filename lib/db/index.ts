import { env } from '@/lib/env';
import { connectPostgres, openPglite, type Database } from '@/lib/db/database';
import { migrate } from '@/lib/db/migrate';

export type { Database, Queryable } from '@/lib/db/database';

// One database per process, opened lazily (never at import: `next build` evaluates modules) and
// kept on globalThis so hot reloads in development reuse it instead of opening another PGlite.
const holder = globalThis as typeof globalThis & { __billingDatabase?: Promise<Database> };

export function getDatabase(): Promise<Database> {
  holder.__billingDatabase ??= (async () => {
    const config = env();
    const db = config.DATABASE_URL ? connectPostgres(config.DATABASE_URL) : await openPglite(config.PGLITE_DATA_DIR);
    await migrate(db);
    return db;
  })().catch((error: unknown) => {
    holder.__billingDatabase = undefined;
    throw error;
  });
  return holder.__billingDatabase;
}

/** Makes this process use an already opened database (scripts and tests that own their own). */
export function useDatabase(db: Database): void {
  holder.__billingDatabase = Promise.resolve(db);
}

/** The database this process has opened or been given, without opening one (local glue, tests). */
export function openedDatabase(): Promise<Database> | undefined {
  return holder.__billingDatabase;
}
