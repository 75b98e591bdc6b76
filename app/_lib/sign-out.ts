'use server';

import { redirect } from 'next/navigation';
import { supabaseForAction } from '@/app/_lib/supabase-server';

// Sign out on the server: Supabase ends the session (its auth.sessions row goes, so the access
// token is refused at once) and the cookies are cleared. `everywhere` ends every session.
export async function signOutAction(form: FormData): Promise<void> {
  const supabase = await supabaseForAction();
  await supabase.auth.signOut({ scope: form.get('scope') === 'global' ? 'global' : 'local' });
  redirect('/sign-in');
}
