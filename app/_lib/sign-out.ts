'use server';

import { createServerClient } from '@supabase/ssr';
import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import { env } from '@/lib/env';

// Sign out on the server: Supabase revokes the session and the cookies are cleared, so pages
// need no Supabase client in the browser (a lighter first load).
export async function signOutAction(): Promise<void> {
  const config = env();
  const cookieStore = await cookies();
  const supabase = createServerClient(config.NEXT_PUBLIC_SUPABASE_URL, config.NEXT_PUBLIC_SUPABASE_ANON_KEY, {
    cookies: {
      getAll: () => cookieStore.getAll(),
      setAll: (cookiesToSet) => {
        for (const { name, value, options } of cookiesToSet) cookieStore.set(name, value, options);
      },
    },
  });
  await supabase.auth.signOut();
  redirect('/sign-in');
}
