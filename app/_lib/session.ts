import 'server-only';
import { cookies } from 'next/headers';
import { authenticateUser, type Actor } from '@/lib/auth/actor';
import { isAppError } from '@/lib/http/errors';

// The signed-in user of a page request, from the session cookie, or null when signed out.
export async function currentUser(): Promise<Extract<Actor, { kind: 'user' }> | null> {
  const cookieHeader = (await cookies())
    .getAll()
    .map(({ name, value }) => `${name}=${encodeURIComponent(value)}`)
    .join('; ');
  try {
    return await authenticateUser({ authorization: null, cookie: cookieHeader });
  } catch (error) {
    if (isAppError(error) && error.code === 'unauthorized') return null;
    throw error;
  }
}
