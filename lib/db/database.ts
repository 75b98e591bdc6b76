import pg from 'pg';
import type { JwtClaims } from '@/lib/auth/claims';

// The one way the app reaches Postgres: a pg.Pool, over a real connection (DATABASE_URL) or over
// embedded PGlite. Two kinds of transaction exist:
//   * user transactions run as role `authenticated` with `request.jwt.claims` set, exactly as
//     PostgREST does, so row level security decides what the user's own queries see;
//   * system work (webhooks, usage accounting, jobs) runs as the connecting owner role, which RLS
//     does not restrict; it is only reachable from server code after authentication.

export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  readonly pool: pg.Pool;
  systemTransaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  userTransaction<T>(claims: JwtClaims, work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// bigint (int8) and numeric arrive as strings by default; every money column is bigint and fits
// comfortably in a double below 2^53 micro-dollars ($9 billion), checked on the way in.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new Error(`int8 out of safe range: ${value}`);
  return parsed;
});

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']); // serialization failure, deadlock
const MAX_ATTEMPTS = 3;

export function wrapPool(pool: pg.Pool, kind: Database['kind'], onClose?: () => Promise<void>): Database {
  async function transaction<T>(begin: (client: pg.PoolClient) => Promise<void>, work: (tx: Queryable) => Promise<T>) {
    for (let attempt = 1; ; attempt++) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        await begin(client);
        const result = await work(client);
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        const code = (error as { code?: unknown }).code;
        if (attempt < MAX_ATTEMPTS && typeof code === 'string' && RETRYABLE_SQLSTATES.has(code)) continue;
        throw error;
      } finally {
        client.release();
      }
    }
  }

  return {
    kind,
    pool,
    query: (text, values) => pool.query(text, values),
    systemTransaction: (work) => transaction(async () => undefined, work),
    userTransaction: (claims, work) =>
      transaction(async (client) => {
        await client.query(
          "select set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)",
          [JSON.stringify(claims)],
        );
      }, work),
    close: async () => {
      await pool.end();
      await onClose?.();
    },
  };
}

export function connectPostgres(connectionString: string, max = 10): Database {
  const pool = new pg.Pool({ connectionString, max });
  // An idle client's error (e.g. the server restarting) must not crash the process.
  pool.on('error', () => undefined);
  return wrapPool(pool, 'postgres');
}

// PGlite is single-connection and takes no file lock: exactly one process may open a data
// folder, and the pool must have one client (see STACK-NOTES.md).
export async function openPglite(dataDir: string | undefined): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { createPgConfig } = await import('@electric-sql/pglite/node-postgres');
  if (dataDir) {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dataDir, { recursive: true });
  }
  const pglite = await PGlite.create(dataDir ? { dataDir } : {});
  const pool = new pg.Pool({ ...createPgConfig(pglite), max: 1 });
  return wrapPool(pool, 'pglite', () => pglite.close());
}
