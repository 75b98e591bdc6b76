import { z } from 'zod';
import { authenticateUser, credentialsOf, ensureUserRow, isTaskRunner, type Actor } from '@/lib/auth/actor';
import { getDatabase, type Database } from '@/lib/db';
import { JSON_BODY_LIMIT_BYTES, readBodyText } from '@/lib/http/body';
import { cleanJson } from '@/lib/http/clean-text';
import { assertSameOriginWrite } from '@/lib/http/csrf';
import { API_HEADERS, AppError, errorResponse } from '@/lib/http/errors';
import { clientAddress, enforceAddressRateLimit, type AddressRateLimitedAction } from '@/lib/payments/rate-limit';

// The small wrapper every route handler uses: authenticate, parse (zod), call one lib function,
// answer `{ data }` or the shared error body. No business logic lives here.

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

async function readJsonObject(request: Request, maxBytes: number): Promise<Record<string, unknown>> {
  const text = await readBodyText(request, maxBytes);
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

// Authentication comes before parsing, so an anonymous caller learns nothing about the body's
// rules. The task runner names the user in the body (`userId`); a user may only name themself.
// Null means the task runner, whose user is only known once the body is read.
async function authenticate(request: Request, mode: AuthMode): Promise<Actor | null> {
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

export function route<Body = undefined, Query = undefined, Params = undefined, Mode extends AuthMode = AuthMode>(
  spec: RouteSpec<Body, Query, Params, Mode>,
  handler: (context: RouteContext<Body, Query, Params, Mode>) => Promise<unknown>,
) {
  return async (request: Request, next?: NextRouteContext): Promise<Response> => {
    const receivedAt = new Date();
    try {
      assertSameOriginWrite(request, spec.body !== undefined);
      const user = await authenticate(request, spec.auth);
      const rawBody = spec.body ? await readJsonObject(request, spec.maxBodyBytes ?? JSON_BODY_LIMIT_BYTES) : {};
      const batch = spec.auth === 'task-runner-batch';
      const actor = batch ? null : actorFor(user, rawBody);
      const { userId: _named, ...namedFields } = rawBody;
      const bodyFields = batch ? rawBody : namedFields;
      const body = spec.body ? parseWith(spec.body, bodyFields) : (undefined as Body);
      // No query string (the usual API call): nothing to clean or check, the same as an empty one.
      const searchParams = request.url.includes('?')
        ? (parseWith(cleanJson, Object.fromEntries(new URL(request.url).searchParams)) as Record<string, string>)
        : {};
      // Without a query schema no parameter is expected, and an unknown one is an error.
      const query = spec.query ? parseWith(spec.query, searchParams) : (parseWith(noQuerySchema, searchParams), undefined as Query);
      const rawParams = Object.fromEntries(
        Object.entries((await next?.params) ?? {}).map(([key, value]) => [key, Array.isArray(value) ? value.join('/') : value]),
      );
      const params = spec.params ? parseWith(spec.params, rawParams) : (undefined as Params);
      const db = await getDatabase();
      if (actor) await ensureUserRow(db, actor);
      if (spec.addressLimit) await enforceAddressRateLimit(db, clientAddress(request.headers), spec.addressLimit);
      const caller = (actor ?? { kind: 'task-runner', userId: null, claims: null }) as ActorOf<Mode>;
      const data = await handler({ request, db, actor: caller, body, query, params, receivedAt });
      if (!(data instanceof Response)) return new Response(JSON.stringify({ data }), { headers: JSON_ANSWER_HEADERS });
      for (const [name, value] of Object.entries(API_HEADERS)) data.headers.set(name, value);
      return data;
    } catch (error) {
      return errorResponse(error);
    }
  };
}
