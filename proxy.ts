import { createServerClient } from '@supabase/ssr';
import { NextResponse, type NextRequest } from 'next/server';
import { env } from '@/lib/env';

// Keeps the Supabase session cookie fresh on page requests (Supabase's SSR pattern): an expired
// access token is refreshed here, once, and the new cookies go to both the page and the browser.
export async function proxy(request: NextRequest) {
  let response = NextResponse.next({ request });
  const config = env();
  const supabase = createServerClient(config.NEXT_PUBLIC_SUPABASE_URL, config.NEXT_PUBLIC_SUPABASE_ANON_KEY, {
    cookies: {
      getAll: () => request.cookies.getAll(),
      setAll: (cookiesToSet) => {
        for (const { name, value } of cookiesToSet) request.cookies.set(name, value);
        response = NextResponse.next({ request });
        for (const { name, value, options } of cookiesToSet) response.cookies.set(name, value, options);
      },
    },
  });
  await supabase.auth.getClaims();
  return response;
}

export const config = {
  // Pages only: API routes read the token without refreshing, and static files need no session.
  matcher: ['/((?!api/|_next/static|_next/image|favicon.ico).*)'],
};
