// The GoTrue endpoints supabase-js calls, under /auth/v1 (paths here are relative to it).
import type { IncomingMessage } from 'node:http';
import { errors } from './errors';
import {
  bearerToken,
  optionalBoolean,
  optionalObject,
  optionalString,
  readJsonObject,
  safeEqual,
  type JsonObject,
  type Reply,
} from './http';
import { hashPassword, verifyPassword } from './password';
import { authenticate, openSession, refreshSession, type AuthContext } from './sessions';
import type { UserRecord } from './store';
import { assertStrongPassword, identityData, mergeMetadata, newUserRecord, normalizeEmail, toGoTrueUser } from './users';

interface RequestInfo {
  req: IncomingMessage;
  url: URL;
  /** Captured path segments, e.g. the user id of `/admin/users/:id`. */
  params: string[];
}

type Handler = (ctx: AuthContext, request: RequestInfo) => Promise<Reply>;

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: RegExp;
  handler: Handler;
}

const ok = (body: unknown): Reply => ({ status: 200, body });
const USER_ID = '([0-9a-fA-F-]{36})';

// POST /signup – email + password; auto-confirmed, so it answers with a session at once
const signUp: Handler = async (ctx, { req }) => {
  const body = await readJsonObject(req);
  const rawEmail = optionalString(body, 'email');
  if (rawEmail === undefined && optionalString(body, 'phone') !== undefined) throw errors.phoneDisabled();
  const email = normalizeEmail(rawEmail, 'To signup, please provide your email');
  const password = optionalString(body, 'password');
  if (!password) throw errors.validation('Signup requires a valid password', 422);
  assertStrongPassword(password);
  const passwordHash = await hashPassword(password);
  // Checked after the await so two racing sign-ups cannot both pass.
  if (ctx.store.findUserByEmail(email)) throw errors.userAlreadyExists();

  const user = newUserRecord({ email, passwordHash, confirmed: true }, new Date().toISOString());
  user.userMetadata = { ...(optionalObject(body, 'data') ?? {}), ...identityData(user) };
  ctx.store.users.set(user.id, user);
  return ok(await openSession(ctx, user));
};

// POST /token?grant_type=password|refresh_token – sign in, or rotate a refresh token
const token: Handler = async (ctx, { req, url }) => {
  const body = await readJsonObject(req);
  const grantType = url.searchParams.get('grant_type');
  if (grantType === 'password') return ok(await passwordGrant(ctx, body));
  if (grantType === 'refresh_token') {
    const refreshToken = optionalString(body, 'refresh_token');
    if (!refreshToken) throw errors.validation('refresh_token required');
    return ok(await refreshSession(ctx, refreshToken));
  }
  throw errors.validation('unsupported_grant_type');
};

async function passwordGrant(ctx: AuthContext, body: JsonObject): Promise<Record<string, unknown>> {
  const email = optionalString(body, 'email');
  if (email === undefined) {
    throw optionalString(body, 'phone') === undefined ? errors.validation('missing email or phone') : errors.phoneDisabled();
  }
  const user = ctx.store.findUserByEmail(email.trim());
  // Always run the hash, even for an unknown email (see verifyPassword).
  const valid = await verifyPassword(optionalString(body, 'password') ?? '', user?.passwordHash ?? null);
  if (!user || !valid) throw errors.invalidCredentials();
  if (!user.emailConfirmedAt) throw errors.emailNotConfirmed();
  return openSession(ctx, user);
}

// GET /user – the signed-in user
const getUser: Handler = async (ctx, { req }) => ok(toGoTrueUser((await authenticate(ctx, req)).user));

// PUT /user – update own user_metadata (`data`), password or email
const updateUser: Handler = async (ctx, { req }) => {
  const { user, session } = await authenticate(ctx, req);
  const body = await readJsonObject(req);
  const data = optionalObject(body, 'data');
  const email = emailChange(ctx, user, optionalString(body, 'email'));
  const password = optionalString(body, 'password');
  if (password !== undefined) {
    assertStrongPassword(password);
    if (await verifyPassword(password, user.passwordHash)) throw errors.samePassword();
    user.passwordHash = await hashPassword(password);
    // As GoTrue: a new password signs the user out of every other session.
    for (const other of ctx.store.sessionsOf(user.id)) {
      if (other.id !== session.id) ctx.store.deleteSession(other.id);
    }
  }
  if (email) user.email = email;
  if (data) user.userMetadata = mergeMetadata(user.userMetadata, data);
  user.updatedAt = new Date().toISOString();
  ctx.store.save();
  return ok(toGoTrueUser(user));
};

/** A validated new email for `user`, or undefined when unchanged. Applied at once: no mailer here. */
function emailChange(ctx: AuthContext, user: UserRecord, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const email = normalizeEmail(raw, 'Unable to validate email address: invalid format');
  if (email === user.email) return undefined;
  if (ctx.store.findUserByEmail(email)) throw errors.emailExists();
  return email;
}

// POST /logout?scope=global|local|others – end sessions (their refresh tokens stop working)
const logout: Handler = async (ctx, { req, url }) => {
  const { user, session } = await authenticate(ctx, req);
  const scope = url.searchParams.get('scope') ?? 'global';
  if (scope !== 'global' && scope !== 'local' && scope !== 'others') {
    throw errors.validation('Unsupported logout scope, must be one of global, local, others');
  }
  for (const candidate of ctx.store.sessionsOf(user.id)) {
    const isCurrent = candidate.id === session.id;
    if (scope === 'global' || (scope === 'local') === isCurrent) ctx.store.deleteSession(candidate.id);
  }
  ctx.store.save();
  return { status: 204 };
};

// GET /.well-known/jwks.json – the public key that verifies access tokens
const jwks: Handler = async (ctx) => ({
  status: 200,
  body: ctx.signer.jwks(),
  headers: { 'Cache-Control': 'public, max-age=600' },
});

// GET /settings – what the server allows (email sign-up only, auto-confirmed)
const settings: Handler = async () =>
  ok({
    external: { email: true, phone: false, anonymous_users: false },
    disable_signup: false,
    mailer_autoconfirm: true,
    phone_autoconfirm: false,
    sms_provider: '',
    saml_enabled: false,
  });

// GET /health
const health: Handler = async () =>
  ok({ version: 'local', name: 'GoTrue', description: 'Local Supabase Auth twin for development and tests' });

/** Admin endpoints need the service-role key as the Bearer token (GoTrue: a service_role JWT). */
function requireServiceRole(ctx: AuthContext, req: IncomingMessage): void {
  const bearer = bearerToken(req);
  if (!bearer) throw errors.noAuthorization();
  if (!safeEqual(bearer, ctx.serviceRoleKey)) throw errors.notAdmin();
}

function findUser(ctx: AuthContext, id: string | undefined): UserRecord {
  const user = id === undefined ? undefined : ctx.store.users.get(id.toLowerCase());
  if (!user) throw errors.userNotFound();
  return user;
}

// POST /admin/users – create a user (email_confirm, app_metadata, user_metadata)
const adminCreateUser: Handler = async (ctx, { req }) => {
  requireServiceRole(ctx, req);
  const body = await readJsonObject(req);
  const email = normalizeEmail(optionalString(body, 'email'), 'Unable to validate email address: invalid format');
  const password = optionalString(body, 'password');
  if (password !== undefined) assertStrongPassword(password);
  const id = optionalString(body, 'id')?.toLowerCase();
  if (id !== undefined && !new RegExp(`^${USER_ID}$`).test(id)) throw errors.validation('id must be a UUID');
  const passwordHash = password === undefined ? null : await hashPassword(password);
  if (ctx.store.findUserByEmail(email)) throw errors.emailExists();
  if (id !== undefined && ctx.store.users.has(id)) throw errors.validation('A user with this id already exists', 422);

  const user = newUserRecord(
    {
      email,
      passwordHash,
      confirmed: optionalBoolean(body, 'email_confirm') ?? false,
      appMetadata: optionalObject(body, 'app_metadata'),
      userMetadata: optionalObject(body, 'user_metadata'),
      id,
    },
    new Date().toISOString(),
  );
  ctx.store.users.set(user.id, user);
  ctx.store.save();
  return ok(toGoTrueUser(user));
};

// GET /admin/users?page=&per_page= – list users (auth-js reads x-total-count and link)
const adminListUsers: Handler = async (ctx, { req, url }) => {
  requireServiceRole(ctx, req);
  const page = Math.max(1, Number(url.searchParams.get('page')) || 1);
  const perPage = Math.min(1000, Math.max(1, Number(url.searchParams.get('per_page')) || 50));
  const all = [...ctx.store.users.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const lastPage = Math.max(1, Math.ceil(all.length / perPage));
  const link = `</auth/v1/admin/users?page=${lastPage}&per_page=${perPage}>; rel="last"`;
  return {
    status: 200,
    body: { users: all.slice((page - 1) * perPage, page * perPage).map(toGoTrueUser), aud: 'authenticated' },
    headers: { 'x-total-count': String(all.length), link },
  };
};

// GET /admin/users/:id
const adminGetUser: Handler = async (ctx, { req, params }) => {
  requireServiceRole(ctx, req);
  return ok(toGoTrueUser(findUser(ctx, params[0])));
};

// PUT /admin/users/:id – update app_metadata (e.g. { role: 'admin' }), user_metadata, email, password
const adminUpdateUser: Handler = async (ctx, { req, params }) => {
  requireServiceRole(ctx, req);
  const user = findUser(ctx, params[0]);
  const body = await readJsonObject(req);
  const appMetadata = optionalObject(body, 'app_metadata');
  const userMetadata = optionalObject(body, 'user_metadata');
  const emailConfirm = optionalBoolean(body, 'email_confirm');
  const email = emailChange(ctx, user, optionalString(body, 'email'));
  const password = optionalString(body, 'password');
  if (password !== undefined) {
    assertStrongPassword(password);
    user.passwordHash = await hashPassword(password);
  }
  const now = new Date().toISOString();
  if (email) user.email = email;
  if (appMetadata) user.appMetadata = mergeMetadata(user.appMetadata, appMetadata);
  if (userMetadata) user.userMetadata = mergeMetadata(user.userMetadata, userMetadata);
  if (emailConfirm === true && !user.emailConfirmedAt) user.emailConfirmedAt = now;
  user.updatedAt = now;
  ctx.store.save();
  return ok(toGoTrueUser(user));
};

// DELETE /admin/users/:id – delete a user and end their sessions
const adminDeleteUser: Handler = async (ctx, { req, params }) => {
  requireServiceRole(ctx, req);
  ctx.store.deleteUser(findUser(ctx, params[0]).id);
  ctx.store.save();
  return ok({});
};

const routes: Route[] = [
  { method: 'POST', path: /^\/signup$/, handler: signUp },
  { method: 'POST', path: /^\/token$/, handler: token },
  { method: 'GET', path: /^\/user$/, handler: getUser },
  { method: 'PUT', path: /^\/user$/, handler: updateUser },
  { method: 'POST', path: /^\/logout$/, handler: logout },
  { method: 'GET', path: /^\/\.well-known\/jwks\.json$/, handler: jwks },
  { method: 'GET', path: /^\/settings$/, handler: settings },
  { method: 'GET', path: /^\/health$/, handler: health },
  { method: 'POST', path: /^\/admin\/users$/, handler: adminCreateUser },
  { method: 'GET', path: /^\/admin\/users$/, handler: adminListUsers },
  { method: 'GET', path: new RegExp(`^/admin/users/${USER_ID}$`), handler: adminGetUser },
  { method: 'PUT', path: new RegExp(`^/admin/users/${USER_ID}$`), handler: adminUpdateUser },
  { method: 'DELETE', path: new RegExp(`^/admin/users/${USER_ID}$`), handler: adminDeleteUser },
];

/** Runs the route for `path` (relative to /auth/v1): 404 for an unknown path, 405 for a wrong method. */
export function dispatch(ctx: AuthContext, method: string, path: string, req: IncomingMessage, url: URL): Promise<Reply> {
  let pathMatched = false;
  for (const route of routes) {
    const match = route.path.exec(path);
    if (!match) continue;
    pathMatched = true;
    if (route.method === method) return route.handler(ctx, { req, url, params: match.slice(1) });
  }
  throw pathMatched ? errors.methodNotAllowed() : errors.notFound();
}
