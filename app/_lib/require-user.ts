import 'server-only';
import { redirect } from 'next/navigation';
import { currentUser } from '@/app/_lib/session';
import { ensureUserRow } from '@/lib/auth/actor';
import { getDatabase } from '@/lib/db';

/** The signed-in user and the database, or a redirect to sign in and back to `returnTo`. */
export async function requireUser(returnTo: string) {
  const user = await currentUser();
  if (!user) redirect(`/sign-in?next=${encodeURIComponent(returnTo)}`);
  const db = await getDatabase();
  await ensureUserRow(db, user);
  return { user, db };
}
