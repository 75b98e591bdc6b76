import { AppError } from '@/lib/http/errors';

// Cross-site request forgery. A browser attaches the session cookie to any request to our
// host, including a form posted from a sibling subdomain or another port (same site, so
// SameSite=Lax does not stop it). So a cookie-authenticated request that changes anything must
// prove it comes from our own pages: its Origin is ours (or, without Origin, Sec-Fetch-Site says
// same-origin), and its body is declared `application/json`, which a cross-origin page cannot
// send without a CORS preflight we never answer. Bearer-token callers carry no ambient
// credential, so they are not concerned.

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What these checks read of a request: a fetch `Request`, or the same read from a Node.js one. */
export interface RequestHead {
  method: string;
  /** The absolute URL the request reached. */
  url: string;
  headers: { get(name: string): string | null };
}

/** The origins this request may come from: the URL it reached, as the client named it. */
function ownOrigins(request: RequestHead): Set<string> {
  const url = new URL(request.url);
  const origins = new Set([url.origin]);
  const host = request.headers.get('x-forwarded-host') ?? request.headers.get('host');
  const proto = request.headers.get('x-forwarded-proto') ?? url.protocol.replace(/:$/, '');
  if (host) origins.add(`${proto.split(',')[0]!.trim()}://${host.split(',')[0]!.trim()}`);
  return origins;
}

export function isCookieAuthenticated(request: Pick<RequestHead, 'headers'>): boolean {
  return !request.headers.get('authorization') && Boolean(request.headers.get('cookie'));
}

/** Throws 403 / 415 for a cookie-authenticated write that may come from another origin. */
export function assertSameOriginWrite(request: RequestHead, expectsBody: boolean): void {
  if (SAFE_METHODS.has(request.method.toUpperCase()) || !isCookieAuthenticated(request)) return;
  const origin = request.headers.get('origin');
  const fetchSite = request.headers.get('sec-fetch-site');
  const sameOrigin = origin !== null ? origin !== 'null' && ownOrigins(request).has(origin) : fetchSite === 'same-origin';
  if (!sameOrigin) throw new AppError('forbidden', 'Cross-origin requests are not allowed');
  const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (expectsBody && type !== 'application/json') {
    throw new AppError('unsupported_media_type', 'Content-Type must be application/json');
  }
}
