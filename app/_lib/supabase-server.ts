import 'server-only';
import { createServerClient } from '@supabase/ssr';
import { cookies } from 'next/headers';
import { sessionCookieOptions, sessionCookieWrite } from '@/lib/auth/session-cookie';
import { env } from '@/lib/env';

/**
 * supabase-js on the server, reading and writing the session cookie of the current request
 * (server actions only: pages cannot set cookies). Sign-in, sign-up and sign-out all run here,
 * so the browser never holds a Supabase client or a script-readable token.
 */
export async function supabaseForAction() {
  const config = env();
  const cookieStore = await cookies();
  const production = process.env.NODE_ENV === 'production';
  return createServerClient(config.NEXT_PUBLIC_SUPABASE_URL, config.NEXT_PUBLIC_SUPABASE_ANON_KEY, {
    cookieOptions: sessionCookieOptions(production),
    cookies: {
      getAll: () => cookieStore.getAll(),
      setAll: (cookiesToSet) => {
        for (const { name, value, options } of cookiesToSet) cookieStore.set(name, value, sessionCookieWrite(value, options, production));
      },
    },
  });
}
