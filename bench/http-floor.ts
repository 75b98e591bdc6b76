// The floor for `npm run bench:http`: a bare node:http + pg server making the same SQL calls as
// the app's usage routes (reserve_usage, commit_usage, commit_usage_batch), with the same pool
// size (10), a bearer check (the SHA-256 digest of the key against the stored one), JSON in and
// out, and nothing else: no framework, no validation library, no error mapping beyond 4xx/500.
// Started as its own process by bench/http.ts: FLOOR_PORT, FLOOR_DATABASE_URL, FLOOR_KEY_SHA256.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.FLOOR_DATABASE_URL, max: 10 });
pg.types.setTypeParser(pg.types.builtins.INT8, Number);
const expected = Buffer.from(process.env.FLOOR_KEY_SHA256 ?? '', 'hex');

function authorized(req: IncomingMessage): boolean {
  const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!token) return false;
  return timingSafeEqual(createHash('sha256').update(token).digest(), expected);
}

function send(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

async function handle(path: string, body: Record<string, unknown>): Promise<unknown> {
  if (path === '/api/usage/reserve') {
    const { rows } = await pool.query({
      name: 'reserve',
      text: 'select * from app_private.reserve_usage($1, $2, $3, $4)',
      values: [body.userId, Math.round(Number(body.estimatedCost) * 1e6), body.idempotencyKey, 900],
    });
    return rows[0];
  }
  if (path === '/api/usage/commit') {
    const { rows } = await pool.query({
      name: 'commit',
      text: 'select * from app_private.commit_usage($1, $2, $3, $4, $5, $6)',
      values: [body.userId, body.reservationId ?? null, body.agent, body.tokens, body.executionMs, body.idempotencyKey],
    });
    return rows[0];
  }
  if (path === '/api/usage/events') {
    const events = (body.events as Array<Record<string, unknown>>).map((event, i) => ({ ...event, i }));
    const { rows } = await pool.query('select * from app_private.commit_usage_batch($1::jsonb)', [JSON.stringify(events)]);
    return { results: rows };
  }
  if (path === '/api/health') {
    await pool.query('select 1');
    return { ok: true };
  }
  return undefined;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (!authorized(req) && req.url !== '/api/health') return send(res, 401, { error: { code: 'unauthorized', message: 'Invalid key' } });
    let body: Record<string, unknown>;
    try {
      body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      return send(res, 400, { error: { code: 'invalid_json', message: 'Bad JSON' } });
    }
    handle(req.url ?? '', body).then(
      (data) => (data === undefined ? send(res, 404, { error: { code: 'not_found', message: 'Not found' } }) : send(res, 200, { data })),
      (error: unknown) => send(res, 500, { error: { code: 'internal_error', message: String(error) } }),
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.FLOOR_PORT), '127.0.0.1', () => console.log('floor ready'));
process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
