type Handler = (request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response>;

export interface ApiCall {
  token?: string;
  body?: unknown;
  params?: Record<string, string>;
}

/** Calls a route handler in-process with a real Request and Next's route context. */
export async function api(handler: Handler, method: string, path: string, options: ApiCall = {}) {
  const headers = new Headers({ 'content-type': 'application/json' });
  if (options.token) headers.set('authorization', `Bearer ${options.token}`);
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const response = await handler(new Request(`http://app.test${path}`, { method, headers, body }), {
    params: Promise.resolve(options.params ?? {}),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; error?: { code: string; message: string } } };
}
