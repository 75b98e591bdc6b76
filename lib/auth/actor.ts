import type { JwtClaims } from '@/lib/auth/claims';
import { accessTokenFromCookies, parseCookieHeader } from '@/lib/auth/session-cookie';
import { createTokenVerifier, type TokenVerifier } from '@/lib/auth/verify';
import { verifyTaskRunnerKey } from '@/lib/auth/task-runner-keys';
import { getDatabase, type Database, type Queryable } from '@/lib/db';
import { env } from '@/lib/env';
import { AppError } from '@/lib/http/errors';

// Who is calling. A signed-in user (verified Supabase JWT, from `Authorization: Bearer` or the
// session cookie) acts for themself; the AI task runner (server key) acts for the user it names.
// Headers such as `user-id` are never read.
export type Actor = { kind: 'user'; userId: string; claims: JwtClaims } | { kind: 'task-runner'; userId: string; claims: null };

export interface RequestCredentials {
  authorization: string | null;
  cookie: string | null;
}

export function credentialsOf(request: { headers: { get(name: string): string | null } }): RequestCredentials {
  return { authorization: request.headers.get('authorization'), cookie: request.headers.get('cookie') };
}

function bearerToken(authorization: string | null): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1] ?? null;
}

// One verifier per copy of this module (Next.js bundles pages, routes and actions apart): nothing
// made by one bundle is handed to another, so no error crosses a bundle boundary.
let cachedVerifier: { url: string; secret?: string; verify: TokenVerifier } | undefined;

function verifier(): TokenVerifier {
  const { NEXT_PUBLIC_SUPABASE_URL: url, SUPABASE_JWT_SECRET: secret } = env();
  if (cachedVerifier?.url !== url || cachedVerifier.secret !== secret) {
    cachedVerifier = { url, secret, verify: createTokenVerifier(url, secret) };
  }
  return cachedVerifier.verify;
}

/** The signed-in user, or an AppError 401. */
export async function authenticateUser(credentials: RequestCredentials): Promise<Extract<Actor, { kind: 'user' }>> {
  const config = env();
  const token =
    bearerToken(credentials.authorization) ??
    (await accessTokenFromCookies(parseCookieHeader(credentials.cookie), config.NEXT_PUBLIC_SUPABASE_URL));
  if (!token) throw new AppError('unauthorized', 'Sign in to continue');
  const claims = await verifier()(token);
  await assertLiveSession(await getDatabase(), claims);
  return { kind: 'user', userId: claims.sub, claims };
}

/**
 * A signature proves who the token was issued to, not that the session still exists: after a
 * sign-out (here or everywhere), a revoked session (refresh-token reuse) or the user's deletion,
 * Supabase Auth removes the row from auth.sessions, in this same database. One primary-key
 * lookup per request refuses such tokens at once instead of for up to an hour. Exported so the
 * test of its plan explains this very statement ($1 the session id, $2 the user id).
 */
export const LIVE_SESSION_SQL = 'select 1 from auth.sessions where id = $1 and user_id = $2 and (not_after is null or not_after > now())';

async function assertLiveSession(db: Queryable, claims: JwtClaims): Promise<void> {
  if (!claims.session_id) throw new AppError('unauthorized', 'Invalid access token');
  const { rowCount } = await db.query(LIVE_SESSION_SQL, [claims.session_id, claims.sub]);
  if (!rowCount) throw new AppError('unauthorized', 'Your session has ended. Please sign in again.');
}

/** Whether the bearer token is a live task-runner key (lib/auth/task-runner-keys.ts). */
export async function isTaskRunner(credentials: RequestCredentials): Promise<boolean> {
  const token = bearerToken(credentials.authorization);
  return token !== null && (await verifyTaskRunnerKey(getDatabase, token)) !== null;
}

/** Runs `work` as the actor: a signed-in user inside their RLS transaction, the task runner as the system. */
export function asActor<T>(db: Database, actor: Actor, work: (tx: Queryable) => Promise<T>): Promise<T> {
  return actor.claims ? db.userTransaction(actor.claims, work) : work(db);
}

// Users are created from their first verified request; the per-database set spares a write on
// later ones.
const knownUsersByDatabase = new WeakMap<Database, Set<string>>();

export async function ensureUserRow(db: Database, actor: Actor): Promise<void> {
  let knownUsers = knownUsersByDatabase.get(db);
  if (!knownUsers) knownUsersByDatabase.set(db, (knownUsers = new Set()));
  if (knownUsers.has(actor.userId)) return;
  if (actor.kind === 'user') {
    await db.query(
      `insert into public.users (id, email) values ($1, $2)
       on conflict (id) do update set email = excluded.email where users.email is distinct from excluded.email`,
      [actor.userId, actor.claims.email ?? ''],
    );
  } else {
    const { rowCount } = await db.query('select 1 from public.users where id = $1', [actor.userId]);
    if (!rowCount) throw new AppError('not_found', 'User not found');
  }
  if (knownUsers.size > 100_000) knownUsers.clear();
  knownUsers.add(actor.userId);
}
