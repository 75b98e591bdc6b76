// What the benchmark scripts share: a migrated scratch database on a real PostgreSQL
// (DATABASE_URL, or a throwaway PostgreSQL 15 cluster), dropped afterwards, and percentiles.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { connectPostgres, type Database } from '@/lib/db/database';
import { migrate } from '@/lib/db/migrate';
import { startThrowawayPostgres, withDatabase, type ThrowawayPostgres } from '@/local/db/throwaway-postgres';

/** The p-th percentile (0–100) of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Runs `work` on a fresh migrated database (a pool of `poolSize`), then drops it. */
export async function withBenchDatabase(
  poolSize: number,
  work: (db: Database, databaseName: string, databaseUrl: string) => Promise<void>,
): Promise<void> {
  let cluster: ThrowawayPostgres | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    cluster = await startThrowawayPostgres();
    serverUrl = cluster.url;
  }
  const name = `billing_bench_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const databaseUrl = withDatabase(serverUrl, name);
  const db = connectPostgres(databaseUrl, poolSize);
  try {
    await migrate(db);
    await work(db, name, databaseUrl);
  } finally {
    await db.close();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    await cluster?.stop();
  }
}
