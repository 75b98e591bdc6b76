import { randomUUID } from 'node:crypto';
import { request as send } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import commitNode, { POST as commitFetch } from '@/pages/api/usage/commit';
import eventsNode, { POST as eventsFetch } from '@/pages/api/usage/events';
import releaseNode, { POST as releaseFetch } from '@/pages/api/usage/release';
import reserveNode, { POST as reserveFetch } from '@/pages/api/usage/reserve';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { backends } from '@/tests/helpers/databases';
import { serveNodeRoute, type ServedNodeRoute } from '@/tests/helpers/node-route';
import { createUser } from '@/tests/helpers/users';

// The task runner's usage routes are Pages Router API routes (lib/http/route.ts, `nodeRoute`):
// Next.js serves their Node.js handler, while the other tests call the same route's fetch handler
// in-process. Here both front ends get the same requests, and must give the same answers: status,
// body and API headers, refusals and successes alike (a success repeated through the other front
// end is the same task, answered as a duplicate).

const TASK_RUNNER_KEY = 'tr_test_key_0123456789';
const ROUTES = [
  { path: '/api/usage/reserve', node: reserveNode, fetch: reserveFetch },
  { path: '/api/usage/commit', node: commitNode, fetch: commitFetch },
  { path: '/api/usage/release', node: releaseNode, fetch: releaseFetch },
  { path: '/api/usage/events', node: eventsNode, fetch: eventsFetch },
];

let auth: TestAuth;
const served = new Map<string, ServedNodeRoute>();
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  process.env.TASK_RUNNER_API_KEY = TASK_RUNNER_KEY;
  for (const route of ROUTES) served.set(route.path, await serveNodeRoute(route.node));
});
afterAll(async () => {
  for (const server of served.values()) await server.close();
  await auth.close();
});

interface Ask {
  method?: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string;
}
const requestTo = (path: string, ask: Ask) =>
  new Request(`http://app.test${path}${ask.query ?? ''}`, {
    method: ask.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...ask.headers },
    body: ask.body,
  });

/** What must match between the two front ends. */
async function answerOf(response: Response) {
  const headers = Object.fromEntries(
    ['content-type', 'cache-control', 'x-content-type-options', 'retry-after', 'allow'].flatMap((name) => {
      const value = response.headers.get(name);
      return value === null ? [] : [[name, name === 'content-type' ? value.split(';')[0] : value]];
    }),
  );
  const text = await response.text();
  return { status: response.status, headers, body: text ? (JSON.parse(text) as { data?: any; error?: { code: string } }) : null };
}

const viaNode = async (path: string, ask: Ask) => answerOf(await served.get(path)!.call(requestTo(path, ask)));
const viaFetch = async (path: string, ask: Ask) => answerOf(await ROUTES.find((r) => r.path === path)!.fetch(requestTo(path, ask)));

describe.each(backends())('the usage routes through Next.js’s Node.js handler and the fetch handler on $name', (backend) => {
  let db: Database;
  let userId: string;
  let signedIn: { accessToken: string };
  beforeAll(async () => {
    db = await backend.open();
    useDatabase(db);
    userId = (await createUser(db)).userId;
    signedIn = await auth.signUp();
  }, 60_000);
  afterAll(async () => db.close());

  const runner = { authorization: `Bearer ${TASK_RUNNER_KEY}` };
  const bodyFor = (path: string) =>
    path === '/api/usage/events'
      ? { events: [{ userId, agent: 'chat', tokens: 1, executionMs: 1, idempotencyKey: randomUUID() }] }
      : path === '/api/usage/release'
        ? { userId, reservationId: randomUUID() }
        : path === '/api/usage/commit'
          ? { userId, agent: 'chat', tokens: 1, executionMs: 1, idempotencyKey: randomUUID() }
          : { userId, estimatedCost: 0.01, idempotencyKey: randomUUID() };

  // Refusals write nothing, so both front ends can be asked the very same thing.
  const REFUSALS: Array<[string, (path: string) => Ask, number]> = [
    ['no credentials', (path) => ({ body: JSON.stringify(bodyFor(path)) }), 401],
    ['an unknown key', (path) => ({ headers: { authorization: 'Bearer trk_nope' }, body: JSON.stringify(bodyFor(path)) }), 401],
    [
      'a signed-in user',
      (path) => ({ headers: { authorization: `Bearer ${signedIn.accessToken}` }, body: JSON.stringify(bodyFor(path)) }),
      403,
    ],
    [
      'a cookie from another site',
      (path) => ({ headers: { cookie: 'sb-session=x', origin: 'https://evil.test' }, body: JSON.stringify(bodyFor(path)) }),
      403,
    ],
    ['malformed JSON', () => ({ headers: runner, body: '{"userId":' }), 400],
    ['a JSON array', () => ({ headers: runner, body: '[]' }), 400],
    ['a NUL in a key', () => ({ headers: runner, body: JSON.stringify({ 'a\u0000': 1 }) }), 400],
    ['an unknown query parameter', (path) => ({ headers: runner, query: '?x=1', body: JSON.stringify(bodyFor(path)) }), 400],
    ['no fields', () => ({ headers: runner, body: '{}' }), 400],
    ['a user that does not exist', (path) => ({ headers: runner, body: JSON.stringify({ ...bodyFor(path), userId: randomUUID() }) }), 404],
    ['a declared length over the limit', () => ({ headers: { ...runner, 'content-length': String(10 * 1024 * 1024) } }), 413],
  ];

  it.each(ROUTES.flatMap((route) => REFUSALS.map(([what, ask, status]) => [route.path, what, ask, status] as const)))(
    '%s, %s: the same refusal from both',
    async (path, what, ask, status) => {
      // The batch route names its users per event: a missing user is a per-event result there.
      if (path === '/api/usage/events' && what === 'a user that does not exist') return;
      const asked = ask(path);
      // A declared length cannot be sent with a shorter body; the fetch handler is told it in a header.
      const node = what === 'a declared length over the limit' ? await declaredTooLong(path) : await viaNode(path, asked);
      const fetched = await viaFetch(path, asked);
      expect(node).toEqual(fetched);
      expect(node.status).toBe(status);
      expect(node.headers).toMatchObject({
        'content-type': 'application/json',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
    },
  );

  /** A request declaring 10 MiB that sends a few bytes: refused from the header alone, before the body. */
  function declaredTooLong(path: string) {
    const url = new URL(served.get(path)!.url);
    return new Promise<Awaited<ReturnType<typeof answerOf>>>((resolve, reject) => {
      const outgoing = send(
        {
          host: url.hostname,
          port: url.port,
          path,
          method: 'POST',
          headers: { host: 'app.test', ...runner, 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) },
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('end', () => {
            const headers = Object.entries(incoming.headers).flatMap(([name, value]) =>
              typeof value === 'string' ? [[name, value] as [string, string]] : [],
            );
            resolve(answerOf(new Response(Buffer.concat(chunks), { status: incoming.statusCode, headers })));
          });
        },
      );
      outgoing.on('error', reject);
      outgoing.write('{"a":1}'); // and never the rest
    });
  }

  it.each(ROUTES.map((route) => route.path))('%s: a success through Node.js is the same task through fetch (a duplicate)', async (path) => {
    const body = JSON.stringify(
      path === '/api/usage/release'
        ? {
            userId,
            reservationId: (await viaFetch('/api/usage/reserve', { headers: runner, body: JSON.stringify(bodyFor('/api/usage/reserve')) }))
              .body!.data.reservationId,
          }
        : bodyFor(path),
    );
    const node = await viaNode(path, { headers: runner, body });
    expect(node.status).toBe(200);
    expect(node.headers).toEqual({ 'content-type': 'application/json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    const again = await viaFetch(path, { headers: runner, body });
    expect(again.status).toBe(200);
    if (path === '/api/usage/reserve') {
      expect(again.body!.data).toEqual({ ...node.body!.data, duplicate: true });
    } else if (path === '/api/usage/commit') {
      expect(again.body!.data).toMatchObject({ eventId: node.body!.data.eventId, duplicate: true, costMicros: node.body!.data.costMicros });
    } else if (path === '/api/usage/events') {
      expect(node.body!.data.results).toEqual([expect.objectContaining({ status: 'recorded' })]);
      expect(again.body!.data.results).toEqual([expect.objectContaining({ status: 'duplicate' })]);
    } else {
      expect(node.body!.data).toMatchObject({ status: 'released', duplicate: false });
      expect(again.body!.data).toEqual({ ...node.body!.data, duplicate: true });
    }
  });

  it.each(ROUTES.map((route) => route.path))('%s: other methods get 405 in the error shape, OPTIONS 204, each with Allow', async (path) => {
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const answer = await viaNode(path, { method, headers: runner, body: method === 'GET' ? undefined : '{}' });
      expect(answer).toEqual({
        status: 405,
        headers: {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          allow: 'OPTIONS, POST',
        },
        body: { error: { code: 'method_not_allowed', message: 'Use POST for this endpoint' } },
      });
    }
    expect(await viaNode(path, { method: 'OPTIONS' })).toEqual({
      status: 204,
      headers: { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', allow: 'OPTIONS, POST' },
      body: null,
    });
  });

  it('a body streamed past the limit without a length: 413 as soon as it passes, and the connection is closed', async () => {
    const url = new URL(served.get('/api/usage/reserve')!.url);
    const answer = await new Promise<{ status?: number; connection?: string; body: string }>((resolve, reject) => {
      const outgoing = send(
        {
          host: url.hostname,
          port: url.port,
          path: '/api/usage/reserve',
          method: 'POST',
          headers: { ...runner, 'content-type': 'application/json' },
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('end', () =>
            resolve({ status: incoming.statusCode, connection: incoming.headers.connection, body: Buffer.concat(chunks).toString() }),
          );
        },
      );
      outgoing.on('error', reject);
      // 100 KB in 1 KB chunks (chunked encoding), more than the 64 KB limit; the rest never comes.
      for (let i = 0; i < 100; i++) outgoing.write(' '.repeat(1024));
    });
    expect(answer).toEqual({
      status: 413,
      connection: 'close',
      body: JSON.stringify({ error: { code: 'payload_too_large', message: 'Request body must be at most 65536 bytes' } }),
    });
  });

  it('answers with a length, not chunked', async () => {
    const response = await served
      .get('/api/usage/reserve')!
      .call(requestTo('/api/usage/reserve', { headers: runner, body: JSON.stringify(bodyFor('/api/usage/reserve')) }));
    const text = await response.text();
    expect(response.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(response.headers.get('transfer-encoding')).toBeNull();
  });
});
