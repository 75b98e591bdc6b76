import type { Actor } from '@/lib/auth/actor';
import { AppError } from '@/lib/http/errors';

// Operators are users whose verified access token carries `app_metadata.role = 'admin'`.
// app_metadata is written only with the service-role key (Supabase Auth's admin API,
// `auth.admin.updateUserById`; the local auth server follows the same rule), never by the user:
// `PUT /auth/v1/user` changes user_metadata, which anyone can set on themself and which is
// therefore never read here. The database applies the same test to the same claims
// (app_private.is_admin() in the admin migration), so a missed check in the app still reads
// nothing beyond the user's own rows.
//
// A role granted or removed takes effect with the user's next access token (at the latest when
// the current one expires, an hour by default), as with any claim of a JWT.

export type UserActor = Extract<Actor, { kind: 'user' }>;

export function isAdmin(actor: Actor | null | undefined): actor is UserActor {
  return actor?.kind === 'user' && actor.claims.app_metadata?.role === 'admin';
}

/**
 * Lets only admins through. Anyone else gets a 404 `not_found`, the same answer as for a page
 * that does not exist, so the operators' view does not reveal itself to users probing for it
 * (a 403 would confirm there is something there to be refused).
 */
export function requireAdmin(actor: Actor | null | undefined): asserts actor is UserActor {
  if (!isAdmin(actor)) throw new AppError('not_found', 'Not found');
}
