import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { authenticateUser, credentialsOf, ensureUserRow, isTaskRunner, type Actor } from '@/lib/auth/actor';
import { getDatabase, type Database } from '@/lib/db';
import { JSON_BODY_LIMIT_BYTES, readBodyText, readNodeBodyText } from '@/lib/http/body';
import { cleanJson } from '@/lib/http/clean-text';
import { assertSameOriginWrite, type RequestHead } from '@/lib/http/csrf';
import { API_HEADERS, AppError, errorAnswer, errorResponse } from '@/lib/http/errors';
import { clientAddress, enforceAddressRateLimit, type AddressRateLimitedAction } from '@/lib/payments/rate-limit';

// The small wrapper every route handler uses: authenticate, parse (zod), call one lib function,
// answer `{ data }` or the shared error body. No business logic lives here.
//
// Two front ends share it: `route()` makes an App Router route handler (a fetch `Request` in, a
// `Response` out), `nodeRoute()` a Pages Router API route (Node.js's request and response). The
// task runner's usage routes are the second kind (pages/api/usage/*): Next.js serves an App
// Router handler by turning the Node.js request into a fetch Request and piping the Response
// back through web streams, which on Node 20 cost ~0.5 ms of CPU per request and survive young
// GCs (each stream holds a weak native handle), so the old generation fills with them. Measured
// in docs/benchmarks.md (issue 13); the routes answer the same either way (tests/integration/node-route.test.ts).

// 'task-runner': usage writes; a signed-in user gets 403 (they check and read, never write usage).
// 'task-runner-batch': the same, for calls that act for no single user (each item names its
// own, as in batch ingestion); the handler's actor is then the runner itself.
type AuthMode = 'user' | 'user-or-task-runner' | 'task-runner' | 'task-runner-batch';
export interface TaskRunnerCaller {
  kind: 'task-runner';
  userId: null;
  claims: null;
}
type ActorOf<Mode extends AuthMode> = Mode extends 'task-runner-batch' ? TaskRunnerCaller : Actor;

interface RouteSpec<Body, Query, Params, Mode extends AuthMode> {
  auth: Mode;
  /** Largest accepted body; JSON_BODY_LIMIT_BYTES unless given. */
  maxBodyBytes?: number;
  body?: z.ZodType<Body>;
  query?: z.ZodType<Query>;
  /** Dynamic path segments, e.g. `[subscriptionId]`. */
  params?: z.ZodType<Params>;
  /** A per-address rate limit counted after validation, before the handler. */
  addressLimit?: AddressRateLimitedAction;
}

interface RouteContext<Body, Query, Params, Mode extends AuthMode> {
  request: Request;
  db: Database;
  actor: ActorOf<Mode>;
  body: Body;
  query: Query;
  params: Params;
  /** When the request arrived, before any await (tells concurrent requests from later ones). */
  receivedAt: Date;
}

type SpecBody<Spec> = Spec extends { body: z.ZodType<infer Body> } ? Body : undefined;
type SpecQuery<Spec> = Spec extends { query: z.ZodType<infer Query> } ? Query : undefined;
type SpecMode<Spec> = Spec extends { auth: infer Mode extends AuthMode } ? Mode : never;
/** A handler for a route's spec that both front ends can run (it does not read the fetch Request). */
export type RouteHandler<Spec> = (
  context: Omit<RouteContext<SpecBody<Spec>, SpecQuery<Spec>, undefined, SpecMode<Spec>>, 'request'>,
) => Promise<unknown>;

interface NextRouteContext {
  params: Promise<Record<string, string | string[]>>;
}

const onBehalfOfSchema = z.object({ userId: z.uuid({ error: 'userId must be a UUID' }) });
// Built once: a zod schema made per request is compiled again on its first parse, every request.
const noQuerySchema = z.strictObject({});
const JSON_ANSWER_HEADERS = { 'content-type': 'application/json', ...API_HEADERS };

export function validationError(error: z.ZodError): AppError {
  const issue = error.issues[0];
  const field = issue?.path.join('.') ?? '';
  const message = issue?.message ?? 'Invalid request';
  // Our schemas' messages name their field already; zod's generic ones get it prefixed.
  return new AppError('validation_failed', field && !message.startsWith(field) ? `${field}: ${message}` : message, {
    details: error.issues.map((item) => ({ path: item.path.join('.'), message: item.message })),
  });
}

export function parseWith<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input);
  if (!result.success) throw validationError(result.error);
  return result.data;
}

// Authentication comes before parsing, so an anonymous caller learns nothing about the body's
// rules. The task runner names the user in the body (`userId`); a user may only name themself.
// Null means the task runner, whose user is only known once the body is read.
async function authenticate(request: RequestHead, mode: AuthMode): Promise<Actor | null> {
  const credentials = credentialsOf(request);
  if (mode !== 'user' && (await isTaskRunner(credentials))) return null;
  const user = await authenticateUser(credentials);
  if (mode === 'task-runner' || mode === 'task-runner-batch') throw new AppError('forbidden', 'Only the task runner may record usage');
  return user;
}

function actorFor(user: Actor | null, body: Record<string, unknown>): Actor {
  if (!user) {
    const { userId } = parseWith(onBehalfOfSchema, body);
    return { kind: 'task-runner', userId, claims: null };
  }
  if (body.userId !== undefined && body.userId !== user.userId) {
    throw new AppError('forbidden', 'You can only act for your own account');
  }
  return user;
}

/** A request as the wrapper reads it, from either front end. */
interface Incoming extends RequestHead {
  /** The body as text; a 413 AppError past `limitBytes`. */
  readText(limitBytes: number): Promise<string>;
  /** Next.js's dynamic path segments (App Router). */
  params?: Promise<Record<string, string | string[]>>;
  /** The headers `clientAddress` reads (only routes with an address limit). */
  fetchHeaders(): Headers;
}

/** Everything up to the handler: the checks, the parsed input, the database. */
async function prepare<Body, Query, Params, Mode extends AuthMode>(
  spec: RouteSpec<Body, Query, Params, Mode>,
  incoming: Incoming,
): Promise<Omit<RouteContext<Body, Query, Params, Mode>, 'request' | 'receivedAt'>> {
  assertSameOriginWrite(incoming, spec.body !== undefined);
  const user = await authenticate(incoming, spec.auth);
  const rawBody = spec.body ? await readJsonObject(incoming, spec.maxBodyBytes ?? JSON_BODY_LIMIT_BYTES) : {};
  const batch = spec.auth === 'task-runner-batch';
  const actor = batch ? null : actorFor(user, rawBody);
  const { userId: _named, ...namedFields } = rawBody;
  const bodyFields = batch ? rawBody : namedFields;
  const body = spec.body ? parseWith(spec.body, bodyFields) : (undefined as Body);
  // No query string (the usual API call): nothing to clean or check, the same as an empty one.
  const searchParams = incoming.url.includes('?')
    ? (parseWith(cleanJson, Object.fromEntries(new URL(incoming.url).searchParams)) as Record<string, string>)
    : {};
  // Without a query schema no parameter is expected, and an unknown one is an error.
  const query = spec.query ? parseWith(spec.query, searchParams) : (parseWith(noQuerySchema, searchParams), undefined as Query);
  const rawParams = incoming.params
    ? Object.fromEntries(Object.entries(await incoming.params).map(([key, value]) => [key, Array.isArray(value) ? value.join('/') : value]))
    : {};
  const params = spec.params ? parseWith(spec.params, rawParams) : (undefined as Params);
  const db = await getDatabase();
  if (actor) await ensureUserRow(db, actor);
  if (spec.addressLimit) await enforceAddressRateLimit(db, clientAddress(incoming.fetchHeaders()), spec.addressLimit);
  const caller = (actor ?? { kind: 'task-runner', userId: null, claims: null }) as ActorOf<Mode>;
  return { db, actor: caller, body, query, params };
}

async function readJsonObject(incoming: Incoming, maxBytes: number): Promise<Record<string, unknown>> {
  const text = await incoming.readText(maxBytes);
  let value: unknown;
  try {
    value = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new AppError('invalid_json', 'Request body must be valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError('validation_failed', 'Request body must be a JSON object');
  }
  parseWith(cleanJson, value);
  return value as Record<string, unknown>;
}

/** An App Router route handler. */
export function route<Body = undefined, Query = undefined, Params = undefined, Mode extends AuthMode = AuthMode>(
  spec: RouteSpec<Body, Query, Params, Mode>,
  handler: (context: RouteContext<Body, Query, Params, Mode>) => Promise<unknown>,
) {
  return async (request: Request, next?: NextRouteContext): Promise<Response> => {
    const receivedAt = new Date();
    try {
      const incoming: Incoming = {
        method: request.method,
        url: request.url,
        headers: request.headers,
        readText: (limitBytes) => readBodyText(request, limitBytes),
        params: next?.params,
        fetchHeaders: () => request.headers,
      };
      const context = await prepare(spec, incoming);
      const data = await handler({ ...context, request, receivedAt });
      if (!(data instanceof Response)) return new Response(JSON.stringify({ data }), { headers: JSON_ANSWER_HEADERS });
      for (const [name, value] of Object.entries(API_HEADERS)) data.headers.set(name, value);
      return data;
    } catch (error) {
      return errorResponse(error);
    }
  };
}

/** The headers of a Node.js request, read as a fetch `Headers` would read them. */
function headerReader(request: IncomingMessage): RequestHead['headers'] {
  return {
    get(name) {
      const value = request.headers[name.toLowerCase()];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

function send(response: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const text = JSON.stringify(body);
  // One write, with its length: no chunked encoding, one packet for a small answer.
  response.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  response.end(text);
}

/**
 * A Pages Router API route (`export default nodeRoute(...)` under pages/api, with
 * `export const config = { api: { bodyParser: false } }`: the wrapper reads the body itself, with
 * its limit). The same checks and answers as `route()`; handlers that need the fetch `Request`
 * itself, dynamic segments or an address limit stay App Router routes. Other methods get 405 in
 * the shared error shape, OPTIONS 204, each with `Allow`.
 */
export function nodeRoute<Body = undefined, Query = undefined, Mode extends AuthMode = AuthMode>(
  method: 'POST',
  spec: RouteSpec<Body, Query, undefined, Mode> & { params?: never; addressLimit?: never },
  handler: (context: Omit<RouteContext<Body, Query, undefined, Mode>, 'request'>) => Promise<unknown>,
) {
  const allow = `OPTIONS, ${method}`;
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const receivedAt = new Date();
    if (request.method === 'OPTIONS') return void response.writeHead(204, { ...API_HEADERS, allow }).end();
    let bodyLeftUnread = false;
    try {
      if (request.method !== method) throw new AppError('method_not_allowed', `Use ${method} for this endpoint`);
      const incoming: Incoming = {
        method: request.method,
        // As Next.js makes a route handler's Request URL: the scheme of the connection, the Host header.
        url: `${(request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'}://${request.headers.host ?? 'localhost'}${request.url ?? '/'}`,
        headers: headerReader(request),
        readText: (limitBytes) =>
          readNodeBodyText(request, limitBytes).catch((error: unknown) => {
            bodyLeftUnread = true;
            throw error;
          }),
        fetchHeaders: () => new Headers(),
      };
      const context = await prepare<Body, Query, undefined, Mode>(spec, incoming);
      const data = await handler({ ...context, receivedAt });
      if (data instanceof Response) throw new Error('nodeRoute handlers answer with data, not a Response');
      send(response, 200, API_HEADERS, { data });
    } catch (error) {
      const answer = errorAnswer(error);
      if (answer.status === 405) answer.headers.allow = allow;
      // A body refused part-way is not read to its end: the connection cannot carry another request.
      if (bodyLeftUnread) answer.headers.connection = 'close';
      send(response, answer.status, answer.headers, answer.body);
    }
  };
}
