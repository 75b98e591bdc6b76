import pg from 'pg';
import type { JwtClaims } from '@/lib/auth/claims';

// The one way the app reaches Postgres: a pg.Pool over a real connection (DATABASE_URL), or
// embedded PGlite (real Postgres in WebAssembly) behind the same interface. Two kinds of
// transaction exist:
//   * user transactions run as role `authenticated` with `request.jwt.claims` set, exactly as
//     PostgREST does, so row level security decides what the user's own queries see;
//   * system work (webhooks, usage accounting, jobs) runs as the connecting owner role, which RLS
//     does not restrict; it is only reachable from server code after authentication.

export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /**
   * One statement as a named prepared statement: parsed and planned once per connection, not on
   * every call (the usage hot path). On PGlite and behind a transaction-mode pooler, a plain query.
   */
  prepared<R extends pg.QueryResultRow = pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>>;
  /** One session (not a transaction) for work that spans statements, e.g. advisory locks. */
  withSession<T>(work: (session: Queryable) => Promise<T>): Promise<T>;
  systemTransaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  userTransaction<T>(claims: JwtClaims, work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// bigint (int8) and numeric arrive as strings by default; every money column is bigint and fits
// comfortably in a double below 2^53 micro-dollars ($9 billion), checked on the way in.
function parseSafeInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new Error(`int8 out of safe range: ${value}`);
  return parsed;
}
pg.types.setTypeParser(pg.types.builtins.INT8, parseSafeInteger);

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']); // serialization failure, deadlock
const MAX_ATTEMPTS = 3;

interface Session extends Queryable {
  release(): void;
}

// Transactions and sessions over any source of sessions (a pg.Pool, or the single PGlite one).
// `runQuery` runs one statement on its own; by default it borrows a session for it.
function buildDatabase(
  kind: Database['kind'],
  acquire: () => Promise<Session>,
  close: () => Promise<void>,
  runQuery?: Queryable['query'],
  runPrepared?: Database['prepared'],
): Database {
  async function withSession<T>(work: (session: Queryable) => Promise<T>): Promise<T> {
    const session = await acquire();
    try {
      return await work(session);
    } finally {
      session.release();
    }
  }

  async function transaction<T>(begin: (session: Session) => Promise<void>, work: (tx: Queryable) => Promise<T>) {
    for (let attempt = 1; ; attempt++) {
      const session = await acquire();
      try {
        await session.query('begin');
        await begin(session);
        const result = await work(session);
        await session.query('commit');
        return result;
      } catch (error) {
        await session.query('rollback').catch(() => undefined);
        const code = (error as { code?: unknown }).code;
        if (attempt < MAX_ATTEMPTS && typeof code === 'string' && RETRYABLE_SQLSTATES.has(code)) continue;
        throw error;
      } finally {
        session.release();
      }
    }
  }

  return {
    kind,
    query: runQuery ?? ((text, values) => withSession((session) => session.query(text, values))),
    prepared: runPrepared ?? ((_name, text, values) => withSession((session) => session.query(text, values))),
    withSession,
    systemTransaction: (work) => transaction(async () => undefined, work),
    userTransaction: (claims, work) =>
      transaction(async (session) => {
        await session.query("select set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)", [
          JSON.stringify(claims),
        ]);
      }, work),
    close,
  };
}

/**
 * `transaction`: the connection string is a transaction-mode pooler (Supabase's pooler on port
 * 6543, PgBouncer before 1.21), where consecutive statements may reach different server
 * connections, so a named prepared statement made on one is missing on the next.
 */
export type PoolerMode = 'none' | 'transaction';

/** The configured mode, else a guess from the port: 6543 is Supabase's transaction-mode pooler. */
export function poolerMode(connectionString: string, configured: PoolerMode | undefined): PoolerMode {
  if (configured) return configured;
  try {
    return new URL(connectionString).port === '6543' ? 'transaction' : 'none';
  } catch {
    return 'none';
  }
}

export function connectPostgres(connectionString: string, max = 10, pooler: PoolerMode = 'none'): Database {
  const pool = new pg.Pool({ connectionString, max });
  // An idle client's error (e.g. the server restarting) must not crash the process.
  pool.on('error', () => undefined);
  return buildDatabase(
    'postgres',
    () => pool.connect(),
    () => pool.end(),
    (text, values) => pool.query(text, values),
    // Behind a transaction-mode pooler every statement is unnamed (parsed on each call).
    pooler === 'transaction'
      ? (_name, text, values) => pool.query(text, values)
      : (name, text, values) => pool.query({ name, text, values }),
  );
}

// PGlite is one single-user session and takes no file lock: exactly one process may open a
// data folder (see STACK-NOTES.md). Work is queued so a transaction owns the session until it
// ends, as a pool of size one would; PGlite's own API is used because its node-postgres adapter
// loses sync with pg after a server-side error.
export async function openPglite(dataDir: string | undefined): Promise<Database> {
  const { PGlite, types } = await import('@electric-sql/pglite');
  if (dataDir) {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dataDir, { recursive: true });
  }
  const pglite = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    parsers: { [types.INT8]: (value: string) => parseSafeInteger(value) },
  });

  let queue: Promise<void> = Promise.resolve();
  const acquire = (): Promise<Session> =>
    new Promise((resolveSession) => {
      queue = queue.then(
        () =>
          new Promise<void>((release) => {
            resolveSession({ query: (text, values) => runOnPglite(text, values), release: () => release() });
          }),
      );
    });

  async function runOnPglite<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    // Parameterless text may hold several statements (migrations); exec runs them all.
    if (!values || values.length === 0) {
      const results = await pglite.exec(text);
      const last = results.at(-1);
      return toPgResult<R>(last?.rows ?? [], last?.affectedRows, (last?.fields.length ?? 0) > 0);
    }
    const result = await pglite.query<R>(text, values);
    return toPgResult<R>(result.rows, result.affectedRows, result.fields.length > 0);
  }

  return buildDatabase('pglite', acquire, () => pglite.close());
}

// pg's rowCount: rows returned by a SELECT (or RETURNING), rows changed otherwise. PGlite's
// affectedRows is 0 for a plain SELECT, so row-returning statements count their rows.
function toPgResult<R extends pg.QueryResultRow>(
  rows: unknown[],
  affectedRows: number | undefined,
  returnsRows: boolean,
): pg.QueryResult<R> {
  const rowCount = returnsRows ? Math.max(rows.length, affectedRows ?? 0) : (affectedRows ?? rows.length);
  return { rows: rows as R[], rowCount, command: '', oid: 0, fields: [] };
}
