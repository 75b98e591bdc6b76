'use client';

import { createBrowserClient } from '@supabase/ssr';
import { useRouter } from 'next/navigation';
import type { PublicConfig } from '@/app/_lib/public-config';

export function SignOutButton({ config }: { config: PublicConfig }) {
  const router = useRouter();
  return (
    <button
      type="button"
      onClick={async () => {
        await createBrowserClient(config.supabaseUrl, config.supabaseAnonKey).auth.signOut();
        router.replace('/sign-in');
        router.refresh();
      }}
    >
      Sign out
    </button>
  );
}
