// Local Supabase Auth: an offline twin of GoTrue behind a stand-in for Supabase's API gateway
// (apikey check, CORS), so the real supabase-js signs in against it unchanged.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { GoTrueError, errors } from './errors';
import { safeEqual, send, type Reply } from './http';
import { TokenSigner } from './keys';
import { dispatch } from './routes';
import type { AuthContext } from './sessions';
import type { SessionMirror } from './session-mirror';
import { AuthStore } from './store';

export interface LocalAuthOptions {
  port: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** JSON file holding users, sessions and the signing key; omit to keep everything in memory. */
  dataFile?: string;
  /** Base URL clients use (the `iss` claim is `${publicUrl}/auth/v1`); default http://host:port. */
  publicUrl?: string;
  anonKey: string;
  serviceRoleKey: string;
  /** Access token lifetime; default 3600 (Supabase's default). */
  accessTokenTtlSeconds?: number;
  /** How long a just-rotated refresh token may be replayed (GoTrue's reuse interval); default 10. */
  refreshTokenReuseIntervalSeconds?: number;
  /** Sessions unused for this long end (default 7 days, as the app's session cookie lifetime). */
  sessionInactivityTimeoutSeconds?: number;
  /** Where to mirror sessions for the app (its database's auth.sessions), as Supabase keeps them there. */
  sessionMirror?: SessionMirror;
}

export interface LocalAuthServer {
  /** Base URL to give supabase-js, e.g. http://127.0.0.1:54321 (no trailing slash). */
  url: string;
  close(): Promise<void>;
}

const AUTH_PREFIX = '/auth/v1';
// Supabase serves the JWKS without an API key so any verifier can fetch it.
const OPEN_PATHS = new Set(['/.well-known/jwks.json']);
const API_VERSION = '2024-01-01';

export async function startLocalAuth(opts: LocalAuthOptions): Promise<LocalAuthServer> {
  const store = await AuthStore.open(opts.dataFile);
  if (opts.sessionMirror) {
    await opts.sessionMirror.sync([...store.sessions.values()]);
    store.mirror = opts.sessionMirror;
  }
  const signer = await TokenSigner.create(store.signingKey);
  const host = opts.host ?? '127.0.0.1';
  let publicUrl = opts.publicUrl?.replace(/\/+$/, '') ?? '';
  const ctx: AuthContext = {
    store,
    signer,
    issuer: () => `${publicUrl}${AUTH_PREFIX}`,
    accessTokenTtlSeconds: opts.accessTokenTtlSeconds ?? 3600,
    refreshTokenReuseIntervalSeconds: opts.refreshTokenReuseIntervalSeconds ?? 10,
    sessionInactivityTimeoutSeconds: opts.sessionInactivityTimeoutSeconds ?? 7 * 24 * 3600,
    serviceRoleKey: opts.serviceRoleKey,
  };
  const apiKeys = [opts.anonKey, opts.serviceRoleKey];

  const server = createServer((req, res) => void handle(ctx, apiKeys, req, res));
  const port = await listen(server, opts.port, host);
  publicUrl ||= `http://${urlHost(host)}:${port}`;
  return { url: publicUrl, close: () => closeServer(server) };
}

async function handle(ctx: AuthContext, apiKeys: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  setCorsHeaders(req, res);
  res.setHeader('x-supabase-api-version', API_VERSION);
  let reply: Reply;
  try {
    reply = await route(ctx, apiKeys, req);
  } catch (err) {
    reply = errorReply(err);
  }
  try {
    // A session is answered only once the app's database knows it (and an ended one is gone).
    await ctx.store.flush();
  } catch (err) {
    console.error('[local-auth] could not mirror sessions into the app database', err);
    reply = errorReply(err);
  }
  send(res, reply);
}

async function route(ctx: AuthContext, apiKeys: string[], req: IncomingMessage): Promise<Reply> {
  const method = req.method ?? 'GET';
  if (method === 'OPTIONS') return { status: 204 }; // CORS preflight: browsers send no apikey here
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (!url.pathname.startsWith(`${AUTH_PREFIX}/`)) {
    return { status: 404, body: { message: 'no Route matched with those values' } };
  }
  const path = url.pathname.slice(AUTH_PREFIX.length);
  if (!OPEN_PATHS.has(path) && !hasValidApiKey(req, url, apiKeys)) {
    return { status: 401, body: { message: 'Invalid API key' } };
  }
  return dispatch(ctx, method, path, req, url);
}

/** The gateway's check: an `apikey` header (or query parameter) equal to a project key. */
function hasValidApiKey(req: IncomingMessage, url: URL, apiKeys: string[]): boolean {
  const header = req.headers.apikey;
  const given = (typeof header === 'string' ? header : undefined) ?? url.searchParams.get('apikey');
  return given !== null && apiKeys.some((key) => safeEqual(given, key));
}

function errorReply(err: unknown): Reply {
  if (err instanceof GoTrueError) return { status: err.status, body: err.toBody() };
  console.error('[local-auth] unexpected error', err);
  const unexpected = errors.unexpected();
  return { status: unexpected.status, body: unexpected.toBody() };
}

// Lets a page on another localhost port call the server, as supabase-js does in the browser.
function setCorsHeaders(req: IncomingMessage, res: ServerResponse): void {
  const requested = req.headers['access-control-request-headers'];
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', requested ?? 'authorization, apikey, content-type, x-client-info, x-supabase-api-version');
  res.setHeader('Access-Control-Expose-Headers', 'x-supabase-api-version, x-total-count, link');
  res.setHeader('Access-Control-Max-Age', '600');
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections(); // keep-alive sockets would otherwise hold close() open
  });
}

/** A host usable in a URL: wildcard binds become localhost, IPv6 literals get brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
