import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { connectPostgres } from '@/lib/db/database';
import { migrate } from '@/lib/db/migrate';
import { postgresInstalled, startThrowawayPostgres, withDatabase, type ThrowawayPostgres } from '@/local/db/throwaway-postgres';
import { startThrowawayPgbouncer, type ThrowawayPgbouncer } from '@/local/db/pgbouncer';

// Integration tests run against a real PostgreSQL: DATABASE_URL when given (it must allow
// CREATE DATABASE), else a throwaway PostgreSQL 15 cluster. One migrated template database is
// prepared here; each test file clones it (CREATE DATABASE … TEMPLATE), which takes milliseconds.
// TEST_DATABASE_POOLER=pgbouncer puts a throwaway PgBouncer in transaction mode in front: the
// tests' databases are then reached through it (DATABASE_POOLER=transaction), as on a serverless
// host; creating and dropping the clones still goes to the server directly.

declare module 'vitest' {
  export interface ProvidedContext {
    postgresServerUrl: string | null;
    postgresTemplate: string;
    postgresPoolerUrl: string | null;
  }
}

const TEMPLATE = 'billing_test_template';
let cluster: ThrowawayPostgres | undefined;
let pooler: ThrowawayPgbouncer | undefined;

export async function setup(project: TestProject) {
  let serverUrl = process.env.DATABASE_URL || null;
  if (!serverUrl && postgresInstalled()) {
    cluster = await startThrowawayPostgres();
    serverUrl = cluster.url;
  }
  if (!serverUrl) {
    console.warn('No DATABASE_URL and no PostgreSQL installed: integration tests run on PGlite only.');
  } else {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`drop database if exists ${TEMPLATE} with (force)`);
    await admin.query(`create database ${TEMPLATE}`);
    await admin.end();
    const template = connectPostgres(withDatabase(serverUrl, TEMPLATE), 1);
    await migrate(template);
    await template.close();
  }
  if (process.env.TEST_DATABASE_POOLER === 'pgbouncer') {
    if (!serverUrl) throw new Error('TEST_DATABASE_POOLER=pgbouncer needs PostgreSQL');
    pooler = await startThrowawayPgbouncer(serverUrl);
    console.warn(`Databases are reached through PgBouncer (transaction mode) at ${pooler.url}`);
  }
  project.provide('postgresServerUrl', serverUrl);
  project.provide('postgresPoolerUrl', pooler?.url ?? null);
  project.provide('postgresTemplate', TEMPLATE);
}

export async function teardown() {
  await pooler?.stop();
  await cluster?.stop();
}
