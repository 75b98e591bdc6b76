import { spawn, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

// A throwaway PgBouncer in transaction mode in front of a PostgreSQL server, for the tests and
// the usage benchmark: the kind of pooler serverless hosts connect through (Supabase's pooler on
// port 6543). Debian's pgbouncer is 1.18, which keeps no named prepared statements in this mode.
// Every database name is forwarded to the same server, so per-test clones are reachable too.

const BIN = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';

export interface ThrowawayPgbouncer {
  /** `serverUrl` with the pooler's host and port. */
  url: string;
  stop(): Promise<void>;
}

export const pgbouncerInstalled = () => existsSync(BIN);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function startThrowawayPgbouncer(serverUrl: string, poolSize = 40): Promise<ThrowawayPgbouncer> {
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username || 'postgres');
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-pgbouncer-'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'users.txt'), `"${user}" ""\n`);
  writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 1000',
      'max_db_connections = 0',
      'server_reset_query =',
      'ignore_startup_parameters = extra_float_digits,options',
      'logfile =',
      '',
    ].join('\n'),
  );
  // PgBouncer refuses to run as root: run it as the postgres user, as the server runs.
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const file of ['', 'users.txt', 'pgbouncer.ini']) chownSync(path.join(dir, file), uid, gid);
  }
  const [command, args] = isRoot
    ? ['runuser', ['-u', 'postgres', '--', BIN, path.join(dir, 'pgbouncer.ini')]]
    : [BIN, [path.join(dir, 'pgbouncer.ini')]];
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  const url = new URL(serverUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited with code ${child.exitCode}: ${stderr.trim()}`);
    const client = new pg.Client({ connectionString: url.toString() });
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      break;
    } catch {
      await client.end().catch(() => undefined);
      if (Date.now() - started > 15_000) throw new Error(`pgbouncer did not start in time: ${stderr.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 50)); // polling for readiness
    }
  }
  return {
    url: url.toString(),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        // runuser does not forward signals: signal pgbouncer itself (SIGINT: shut down at once).
        const pid = isRoot
          ? Number(
              execFileSync('pgrep', ['-P', String(child.pid)])
                .toString()
                .trim(),
            )
          : child.pid;
        if (pid) process.kill(pid, 'SIGINT');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
