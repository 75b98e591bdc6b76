import { combineChunks, stringFromBase64URL } from '@supabase/ssr';
import { z } from 'zod';

// Reads the access token from the cookies @supabase/ssr writes (`sb-<ref>-auth-token`, possibly
// split into `.0`, `.1`… chunks and `base64-` encoded). Only reads: refreshing a session is the
// proxy's job, so a request never rotates the browser's refresh token behind its back.

const storedSessionSchema = z.object({ access_token: z.string().min(1) });

export function sessionCookieName(supabaseUrl: string): string {
  return `sb-${new URL(supabaseUrl).hostname.split('.')[0]}-auth-token`;
}

export function parseCookieHeader(header: string | null): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index <= 0) continue;
    const name = part.slice(0, index).trim();
    const raw = part.slice(index + 1).trim();
    try {
      cookies.set(name, decodeURIComponent(raw));
    } catch {
      cookies.set(name, raw);
    }
  }
  return cookies;
}

export async function accessTokenFromCookies(cookies: Map<string, string>, supabaseUrl: string): Promise<string | null> {
  const combined = await combineChunks(sessionCookieName(supabaseUrl), (name) => cookies.get(name));
  if (!combined) return null;
  try {
    const json = combined.startsWith('base64-') ? stringFromBase64URL(combined.slice('base64-'.length)) : combined;
    const parsed = storedSessionSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data.access_token : null;
  } catch {
    return null;
  }
}

/**
 * How long a session lasts without use. The local auth server ends sessions idle for longer
 * (its refresh tokens stop working); on Supabase set Auth > Sessions > inactivity timeout to the
 * same figure. The session cookie lives exactly as long and is renewed with every refresh.
 */
export const SESSION_INACTIVITY_TIMEOUT_SECONDS = 7 * 24 * 3600;

/**
 * The session cookie's attributes (it carries the refresh token): never readable by scripts,
 * only over HTTPS in production, not sent on cross-site subrequests, and no longer-lived than
 * the session itself (@supabase/ssr's default is 400 days).
 */
export function sessionCookieOptions(production: boolean) {
  return {
    httpOnly: true,
    secure: production,
    sameSite: 'lax' as const,
    path: '/',
    maxAge: SESSION_INACTIVITY_TIMEOUT_SECONDS,
  };
}

/**
 * The options to write one session cookie with. @supabase/ssr forces a 400-day Max-Age on every
 * cookie it sets, whatever `cookieOptions` says, so each write goes through here: the session's
 * own lifetime for a value, an immediate expiry for a removal (an empty value).
 */
export function sessionCookieWrite<T extends object>(value: string, options: T | undefined, production: boolean) {
  const base = { ...options, ...sessionCookieOptions(production) };
  return value === '' ? { ...base, maxAge: 0, expires: new Date(0) } : base;
}
