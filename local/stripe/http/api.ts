// The /v1 pipeline: faults, authentication, parameters, idempotency, routing,
// Stripe's JSON and error shapes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { API_VERSION, type Engine } from '../engine.js';
import { StripeApiError, apiError, authError, rateLimited, unrecognizedUrl } from '../core/errors.js';
import { parseForm, type FormObject } from '../core/form.js';
import { newId } from '../core/ids.js';
import { Params } from '../core/params.js';
import type { Faults } from './faults.js';
import { canonical, lookup, shouldSave } from './idempotency.js';
import type { Router } from './router.js';

export interface ApiDeps {
  engine: Engine;
  router: Router;
  faults: Faults;
  /** Responses a `timeout` fault holds open until the client gives up or the server closes. */
  held: Set<ServerResponse>;
}

type Auth = { kind: 'secret' | 'publishable'; key: string };

function authenticate(req: IncomingMessage): Auth {
  const header = req.headers.authorization ?? '';
  let key = '';
  if (header.startsWith('Bearer ')) key = header.slice('Bearer '.length).trim();
  else if (header.startsWith('Basic ')) key = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':')[0] ?? '';
  if (key === '') {
    throw authError(
      "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
    );
  }
  if (/^(sk|rk)_test_\w+/.test(key)) return { kind: 'secret', key };
  if (/^pk_test_\w+/.test(key)) return { kind: 'publishable', key };
  const shown = key.length > 12 ? `${key.slice(0, 8)}${'*'.repeat(8)}${key.slice(-4)}` : key;
  throw authError(`Invalid API Key provided: ${shown}`);
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string>;
}

function send(res: ServerResponse, requestId: string, version: string, reply: Reply): void {
  res.writeHead(reply.status, {
    'Content-Type': 'application/json',
    'Request-Id': requestId,
    'Stripe-Version': version,
    ...reply.headers,
  });
  res.end(reply.body);
}

function errorReply(e: unknown): Reply {
  const err = e instanceof StripeApiError ? e : apiError();
  if (!(e instanceof StripeApiError)) console.error('[local-stripe] internal error:', e);
  return { status: err.status, body: JSON.stringify({ error: err.body }, null, 2), headers: err.headers };
}

function hold(deps: ApiDeps, res: ServerResponse): void {
  deps.held.add(res);
  res.on('close', () => deps.held.delete(res));
}

export async function handleApi(deps: ApiDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? 'GET';
  const requestId = newId('req');
  const version = typeof req.headers['stripe-version'] === 'string' ? req.headers['stripe-version'] : API_VERSION;
  const body = await readBody(req);
  const fault = deps.faults.take(method, url.pathname);
  if (fault?.type === '500') return send(res, requestId, version, errorReply(apiError()));
  if (fault?.type === '429') return send(res, requestId, version, errorReply(rateLimited()));
  if (fault?.type === 'timeout' && !fault.afterProcessing) return hold(deps, res);

  const reply = execute(deps, req, method, url, body, requestId);
  if (fault?.type === 'timeout') return hold(deps, res);
  send(res, requestId, version, reply);
}

function execute(deps: ApiDeps, req: IncomingMessage, method: string, url: URL, body: string, requestId: string): Reply {
  const { engine } = deps;
  let idem: { scope: string; key: string; params: string } | null = null;
  try {
    const auth = authenticate(req);
    const match = deps.router.match(method, url.pathname);
    if (!match) throw unrecognizedUrl(method, url.pathname);
    if (auth.kind === 'publishable' && !match.route.publishable) {
      throw authError(
        'This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.',
      );
    }
    const raw: FormObject = { ...parseForm(url.search.slice(1)), ...parseForm(body) };
    const key = req.headers['idempotency-key'];
    if (method === 'POST' && typeof key === 'string' && key !== '') {
      idem = { scope: auth.key, key, params: canonical(raw) };
      const saved = lookup(engine.state, idem.scope, key, method, url.pathname, idem.params);
      if (saved) {
        idem = null;
        return { status: saved.status, body: saved.body, headers: { 'Idempotency-Key': key, 'Idempotent-Replayed': 'true' } };
      }
    }
    const params = new Params(raw);
    engine.request = { id: requestId, idempotencyKey: idem?.key ?? null };
    // One request is one unit: a refusal leaves no object and no event behind.
    const run = () => match.route.handler({ engine, params, path: match.path, auth: auth.kind, expand: params.expand() });
    const result = method === 'GET' ? run() : engine.transaction(run, (e) => e instanceof StripeApiError && e.keepChanges);
    const reply: Reply = { status: 200, body: JSON.stringify(result, null, 2), headers: {} };
    save(deps, idem, method, url.pathname, reply, undefined);
    return withKey(reply, idem);
  } catch (e) {
    const reply = errorReply(e);
    save(deps, idem, method, url.pathname, reply, e instanceof StripeApiError ? e.body.code : undefined);
    return withKey(reply, idem);
  } finally {
    engine.request = null;
  }
}

function withKey(reply: Reply, idem: { key: string } | null): Reply {
  return idem ? { ...reply, headers: { ...reply.headers, 'Idempotency-Key': idem.key } } : reply;
}

function save(
  deps: ApiDeps,
  idem: { scope: string; key: string; params: string } | null,
  method: string,
  path: string,
  reply: Reply,
  code: string | undefined,
): void {
  if (!idem || !shouldSave(reply.status, code)) return;
  deps.engine.state.idempotency[`${idem.scope}:${idem.key}`] = {
    method,
    path,
    params: idem.params,
    status: reply.status,
    body: reply.body,
    createdAt: Math.floor(Date.now() / 1000),
  };
  deps.engine.store.touch();
}
