type Handler = (request: Request) => Promise<Response>;

export interface CallOptions {
  /** HTTP method; POST unless given. */
  method?: string;
  body?: unknown;
  /** A raw body, sent as is (for malformed JSON). */
  rawBody?: string;
  token?: string;
  headers?: Record<string, string>;
}

/** Calls a route handler in-process with a real Request, as Next.js would. */
export async function call(handler: Handler, path: string, options: CallOptions = {}) {
  const headers = new Headers({ 'content-type': 'application/json', ...options.headers });
  if (options.token) headers.set('authorization', `Bearer ${options.token}`);
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const response = await handler(new Request(`http://app.test${path}`, { method: options.method ?? 'POST', headers, body }));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
