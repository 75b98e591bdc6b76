import { createServerClient } from '@supabase/ssr';
import { NextResponse, type NextRequest } from 'next/server';
import { sessionCookieName, sessionCookieOptions, sessionCookieWrite } from '@/lib/auth/session-cookie';
import { env } from '@/lib/env';
import { refusePageBody } from '@/lib/http/body';
import { newNonce, securityHeaders } from '@/lib/http/security-headers';

// On every page request: the security headers with a fresh CSP nonce (Next.js reads it from the
// request's Content-Security-Policy and puts it on its own scripts; the layout reads x-nonce),
// and the Supabase session cookie kept fresh (Supabase's SSR pattern): an expired access token
// is refreshed here, once, and the new cookies go to both the page and the browser.
export async function proxy(request: NextRequest) {
  // An oversized server-action body is refused before Next.js reads it (it would answer 500).
  const refused = refusePageBody(request);
  if (refused) return refused;
  const config = env();
  const production = process.env.NODE_ENV === 'production';
  const headers = securityHeaders({
    nonce: newNonce(),
    supabaseUrl: config.NEXT_PUBLIC_SUPABASE_URL,
    localStripeUrl: config.STRIPE_SECRET_KEY ? null : config.STRIPE_API_BASE,
    production,
  });
  const nonce = /'nonce-([^']+)'/.exec(headers['content-security-policy'] ?? '')?.[1] ?? '';
  request.headers.set('x-nonce', nonce);
  request.headers.set('content-security-policy', headers['content-security-policy']!);
  const withHeaders = (next: NextResponse) => {
    for (const [name, value] of Object.entries(headers)) next.headers.set(name, value);
    return next;
  };
  let response = withHeaders(NextResponse.next({ request }));
  const supabase = createServerClient(config.NEXT_PUBLIC_SUPABASE_URL, config.NEXT_PUBLIC_SUPABASE_ANON_KEY, {
    // A refreshed session keeps the cookie's HttpOnly, Secure (production) and lifetime.
    cookieOptions: sessionCookieOptions(production),
    cookies: {
      getAll: () => request.cookies.getAll(),
      setAll: (cookiesToSet) => {
        for (const { name, value } of cookiesToSet) request.cookies.set(name, value);
        response = withHeaders(NextResponse.next({ request }));
        for (const { name, value, options } of cookiesToSet)
          response.cookies.set(name, value, sessionCookieWrite(value, options, production));
      },
    },
  });
  try {
    await supabase.auth.getClaims();
  } catch {
    // A cookie supabase-js cannot even parse (a forged or corrupted token): the browser is
    // signed out and the page renders as for a visitor, rather than failing with a 500.
    const stale = request.cookies.getAll().filter(({ name }) => name.startsWith(sessionCookieName(config.NEXT_PUBLIC_SUPABASE_URL)));
    for (const { name } of stale) request.cookies.delete(name);
    response = withHeaders(NextResponse.next({ request }));
    for (const { name } of stale) response.cookies.set(name, '', sessionCookieWrite('', undefined, production));
  }
  return response;
}

export const config = {
  // Pages only: API routes read the token without refreshing, and static files need no session.
  matcher: ['/((?!api/|_next/static|_next/image|favicon.ico).*)'],
};
