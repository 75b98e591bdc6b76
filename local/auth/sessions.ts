// Sessions: opening one on sign-in, rotating refresh tokens, and authenticating a Bearer token.
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { errors } from './errors';
import { bearerToken } from './http';
import type { TokenSigner } from './keys';
import type { AuthStore, SessionRecord, UserRecord } from './store';
import { toGoTrueUser } from './users';

export interface AuthContext {
  store: AuthStore;
  signer: TokenSigner;
  /** `${publicUrl}/auth/v1`; a function because the port is known only after listen. */
  issuer: () => string;
  accessTokenTtlSeconds: number;
  refreshTokenReuseIntervalSeconds: number;
  /** A session unused for longer ends: its refresh token no longer works (Supabase's inactivity timeout). */
  sessionInactivityTimeoutSeconds: number;
  serviceRoleKey: string;
}

export interface Authenticated {
  user: UserRecord;
  session: SessionRecord;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function addRefreshToken(ctx: AuthContext, sessionId: string, parent: string | null): string {
  const token = randomBytes(24).toString('base64url');
  ctx.store.refreshTokens.set(token, { token, sessionId, parent, revokedAt: null });
  return token;
}

/** The access token of Supabase's form for this user and session. */
function signAccessToken(ctx: AuthContext, user: UserRecord, session: SessionRecord, iat: number): Promise<string> {
  return ctx.signer.sign({
    iss: ctx.issuer(),
    sub: user.id,
    aud: 'authenticated',
    exp: iat + ctx.accessTokenTtlSeconds,
    iat,
    email: user.email,
    phone: '',
    app_metadata: user.appMetadata,
    user_metadata: user.userMetadata,
    role: 'authenticated',
    aal: 'aal1',
    amr: [{ method: 'password', timestamp: session.authenticatedAt }],
    session_id: session.id,
    is_anonymous: false,
  });
}

/** The body of a successful `/signup` or `/token` answer. */
async function sessionBody(ctx: AuthContext, user: UserRecord, session: SessionRecord): Promise<Record<string, unknown>> {
  const iat = nowSeconds();
  return {
    access_token: await signAccessToken(ctx, user, session, iat),
    token_type: 'bearer',
    expires_in: ctx.accessTokenTtlSeconds,
    expires_at: iat + ctx.accessTokenTtlSeconds,
    refresh_token: session.activeRefreshToken,
    user: toGoTrueUser(user),
  };
}

/** Opens a new session after a successful password check (or an auto-confirmed sign-up). */
export async function openSession(ctx: AuthContext, user: UserRecord): Promise<Record<string, unknown>> {
  const now = new Date().toISOString();
  const id = randomUUID();
  const session: SessionRecord = {
    id,
    userId: user.id,
    createdAt: now,
    updatedAt: now,
    authenticatedAt: nowSeconds(),
    activeRefreshToken: addRefreshToken(ctx, id, null),
  };
  ctx.store.addSession(session);
  user.lastSignInAt = now;
  user.updatedAt = now;
  ctx.store.save();
  return sessionBody(ctx, user, session);
}

/**
 * `grant_type=refresh_token`. Each refresh token works once and is replaced by a child.
 * Like GoTrue, replaying the token that was just rotated within the reuse interval returns
 * the current child (two tabs or requests racing to refresh must not sign the user out);
 * any other replay is treated as theft and ends the whole session.
 */
export async function refreshSession(ctx: AuthContext, token: string): Promise<Record<string, unknown>> {
  const { store } = ctx;
  const record = store.refreshTokens.get(token);
  const session = record && store.sessions.get(record.sessionId);
  const user = session && store.users.get(session.userId);
  if (!record || !session || !user) throw errors.refreshTokenNotFound();
  if (Date.now() - Date.parse(session.updatedAt) > ctx.sessionInactivityTimeoutSeconds * 1000) {
    store.deleteSession(session.id);
    store.save();
    throw errors.refreshTokenNotFound();
  }

  if (record.revokedAt !== null) {
    const active = store.refreshTokens.get(session.activeRefreshToken);
    const withinReuse = Date.now() - record.revokedAt < ctx.refreshTokenReuseIntervalSeconds * 1000;
    if (withinReuse && active?.parent === record.token) return sessionBody(ctx, user, session);
    store.deleteSession(session.id);
    store.save();
    throw errors.refreshTokenAlreadyUsed();
  }

  record.revokedAt = Date.now();
  session.activeRefreshToken = addRefreshToken(ctx, session.id, record.token);
  session.updatedAt = new Date().toISOString();
  store.save();
  return sessionBody(ctx, user, session);
}

/** Resolves `Authorization: Bearer <access token>` to a live user and session, as GoTrue does. */
export async function authenticate(ctx: AuthContext, req: IncomingMessage): Promise<Authenticated> {
  const token = bearerToken(req);
  if (!token) throw errors.noAuthorization();
  const claims = await ctx.signer.verify(token, ctx.issuer());
  const user = ctx.store.users.get(claims.sub);
  if (!user) throw errors.userFromJwtNotFound();
  const session = ctx.store.sessions.get(claims.session_id);
  if (!session || session.userId !== user.id) throw errors.sessionNotFound();
  return { user, session };
}
