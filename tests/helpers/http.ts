import { createHash } from 'node:crypto';

type Handler = (request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response>;

export interface CallOptions {
  /** HTTP method; POST unless given. */
  method?: string;
  body?: unknown;
  /** A raw body, sent as is (for malformed JSON). */
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
  /** Dynamic path segments, as Next.js passes them (e.g. `{ subscriptionId }`). */
  params?: Record<string, string>;
}

/**
 * Each caller looks like a client of its own address (derived from its token), so the per-address
 * rate limits count one user's calls as one client, as they would from separate homes. Tests of
 * those limits pass `x-forwarded-for` themselves.
 */
function addressOf(token: string | undefined): string {
  const digest = createHash('sha256')
    .update(token ?? 'anonymous')
    .digest();
  return `10.${digest[0]}.${digest[1]}.${digest[2]}`;
}

/** Calls a route handler in-process with a real Request and Next's route context, as Next.js would. */
export async function call(handler: Handler, path: string, options: CallOptions = {}) {
  const headers = new Headers({ 'content-type': 'application/json', 'x-forwarded-for': addressOf(options.token), ...options.headers });
  if (options.token) headers.set('authorization', `Bearer ${options.token}`);
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const response = await handler(new Request(`http://app.test${path}`, { method: options.method ?? 'POST', headers, body }), {
    params: Promise.resolve(options.params ?? {}),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** `call` with the method first, and the answer's `data` loosely typed for terse assertions. */
export async function api(handler: Handler, method: string, path: string, options: Omit<CallOptions, 'method'> = {}) {
  const answer = await call(handler, path, { ...options, method });
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- it is needed: the rule takes `any` for the same type, but without it `data` is unknown
  return answer as { status: number; body: { data?: any; error?: { code: string; message: string } } };
}
