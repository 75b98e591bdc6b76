// The local Supabase Auth server, driven by the real supabase-js client (and jose for JWKS).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Session, type SupabaseClient, type WebSocketLikeConstructor } from '@supabase/supabase-js';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ws from 'ws';
import { startLocalAuth, type LocalAuthServer } from '../../local/auth/server';

const ANON_KEY = 'sb_publishable_test_key';
const SERVICE_ROLE_KEY = 'sb_secret_test_key';
const PASSWORD = 'correct-horse-1';

// Node 20 has no global WebSocket, and supabase-js refuses to build a client without one, so it
// gets `ws`. ws works at runtime but its typings (ws.Event) differ from the DOM ones realtime-js
// declares; this guard bridges the two typings after checking it really is a constructor.
function isWebSocketConstructor(value: unknown): value is WebSocketLikeConstructor {
  return typeof value === 'function' && 'OPEN' in value;
}
if (!isWebSocketConstructor(ws)) throw new Error('ws does not export a WebSocket class');
const transport = ws;

function supabase(url: string, key = ANON_KEY): SupabaseClient {
  return createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport },
  });
}

const newEmail = (tag: string) => `${tag}-${randomUUID()}@example.com`;

function verifyWithJwks(url: string, token: string) {
  const jwks = createRemoteJWKSet(new URL(`${url}/auth/v1/.well-known/jwks.json`));
  return jwtVerify(token, jwks, { issuer: `${url}/auth/v1`, audience: 'authenticated' });
}

/** Signs up a fresh user on a fresh client and returns both with the session. */
async function signUpNew(url: string, tag: string, data: object = {}) {
  const client = supabase(url);
  const email = newEmail(tag);
  const { data: result, error } = await client.auth.signUp({ email, password: PASSWORD, options: { data } });
  expect(error).toBeNull();
  if (!result.session || !result.user) throw new Error('sign-up returned no session');
  return { client, email, session: result.session, user: result.user };
}

async function signIn(url: string, email: string, password = PASSWORD): Promise<{ client: SupabaseClient; session: Session }> {
  const client = supabase(url);
  const { data, error } = await client.auth.signInWithPassword({ email, password });
  expect(error).toBeNull();
  if (!data.session) throw new Error('sign-in returned no session');
  return { client, session: data.session };
}

describe('local Supabase Auth with the real supabase-js', () => {
  let server: LocalAuthServer;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'local-auth-'));
    server = await startLocalAuth({
      port: 0,
      dataFile: join(dir, 'auth.json'),
      anonKey: ANON_KEY,
      serviceRoleKey: SERVICE_ROLE_KEY,
    });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens on a real port when asked for port 0', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.url).not.toMatch(/:0$/);
  });

  it('signs up with a session and a GoTrue user at once (auto-confirmed)', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { email, session, user } = await signUpNew(server.url, 'SignUp', { fullName: 'Ada' });
    expect(session).toMatchObject({ token_type: 'bearer', expires_in: 3600 });
    expect(session.expires_at).toBeGreaterThanOrEqual(before + 3600);
    expect(session.refresh_token).toEqual(expect.any(String));
    expect(user).toMatchObject({
      aud: 'authenticated',
      role: 'authenticated',
      email: email.toLowerCase(),
      phone: '',
      app_metadata: { provider: 'email', providers: ['email'] },
      user_metadata: { fullName: 'Ada', email: email.toLowerCase(), email_verified: true, sub: user.id },
      is_anonymous: false,
    });
    expect(user.email_confirmed_at).toEqual(expect.any(String));
    expect(user.confirmed_at).toEqual(user.email_confirmed_at);
    expect(user.last_sign_in_at).toEqual(expect.any(String));
    expect(user.identities).toEqual([
      expect.objectContaining({ id: user.id, user_id: user.id, provider: 'email', identity_id: expect.any(String) }),
    ]);
    expect(session.user.id).toBe(user.id);
  });

  it('refuses a duplicate sign-up, whatever the case of the email', async () => {
    const { email } = await signUpNew(server.url, 'dup');
    const { data, error } = await supabase(server.url).auth.signUp({ email: email.toUpperCase(), password: PASSWORD });
    expect(error).toMatchObject({ name: 'AuthApiError', status: 422, code: 'user_already_exists', message: 'User already registered' });
    expect(data.session).toBeNull();
  });

  const badSignUps = [
    { case: 'short password', email: newEmail('weak'), password: '12345', status: 422, code: 'weak_password' },
    { case: 'malformed email', email: 'not-an-email', password: PASSWORD, status: 400, code: 'validation_failed' },
    { case: 'missing email', email: '', password: PASSWORD, status: 400, code: 'validation_failed' },
    { case: 'missing password', email: newEmail('nopw'), password: '', status: 422, code: 'validation_failed' },
  ];
  it.each(badSignUps)('refuses a sign-up with a $case ($code)', async ({ email, password, status, code }) => {
    const { error } = await supabase(server.url).auth.signUp({ email, password });
    expect(error).toMatchObject({ status, code });
  });

  it('names a weak password with AuthWeakPasswordError and its reasons', async () => {
    const { error } = await supabase(server.url).auth.signUp({ email: newEmail('weak'), password: 'abc' });
    expect(error).toMatchObject({ name: 'AuthWeakPasswordError', code: 'weak_password', reasons: ['length'] });
  });

  it('signs in with the right password (email case-insensitive) and refuses a wrong one', async () => {
    const { email, user } = await signUpNew(server.url, 'signin');
    const { session } = await signIn(server.url, email.toUpperCase());
    expect(session.user.id).toBe(user.id);

    for (const [tryEmail, tryPassword] of [
      [email, 'wrong-password'],
      [newEmail('nobody'), PASSWORD],
    ] as const) {
      const { data, error } = await supabase(server.url).auth.signInWithPassword({ email: tryEmail, password: tryPassword });
      expect(error).toMatchObject({ name: 'AuthApiError', status: 400, code: 'invalid_credentials', message: 'Invalid login credentials' });
      expect(data.session).toBeNull();
    }
  });

  it('answers errors in GoTrue shape with the API version header', async () => {
    const res = await fetch(`${server.url}/auth/v1/token?grant_type=password`, {
      method: 'POST',
      headers: { apikey: ANON_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ email: newEmail('nobody'), password: 'whatever1' }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-supabase-api-version')).toBe('2024-01-01');
    expect(await res.json()).toEqual({ code: 400, error_code: 'invalid_credentials', msg: 'Invalid login credentials' });
  });

  it('returns the user for an access token (getUser)', async () => {
    const { email, session, user } = await signUpNew(server.url, 'getuser');
    const { data, error } = await supabase(server.url).auth.getUser(session.access_token);
    expect(error).toBeNull();
    expect(data.user).toMatchObject({ id: user.id, email: email.toLowerCase() });

    const fromSession = await (await signIn(server.url, email)).client.auth.getUser();
    expect(fromSession.data.user?.id).toBe(user.id);
  });

  it('updates user_metadata and the password (PUT /user)', async () => {
    const { client, email } = await signUpNew(server.url, 'update', { theme: 'light', keep: 1 });
    const meta = await client.auth.updateUser({ data: { theme: 'dark', keep: null } });
    expect(meta.error).toBeNull();
    expect(meta.data.user?.user_metadata).toMatchObject({ theme: 'dark' });
    expect(meta.data.user?.user_metadata).not.toHaveProperty('keep');

    const same = await client.auth.updateUser({ password: PASSWORD });
    expect(same.error).toMatchObject({ status: 422, code: 'same_password' });
    const changed = await client.auth.updateUser({ password: 'a-new-password' });
    expect(changed.error).toBeNull();
    const old = await supabase(server.url).auth.signInWithPassword({ email, password: PASSWORD });
    expect(old.error?.code).toBe('invalid_credentials');
    await signIn(server.url, email, 'a-new-password');
  });

  it('rotates refresh tokens; replaying a rotated one is refused and ends the session', async () => {
    const { session: s0 } = await signUpNew(server.url, 'refresh');
    const auth = supabase(server.url).auth;

    const first = await auth.refreshSession({ refresh_token: s0.refresh_token });
    expect(first.error).toBeNull();
    const s1 = first.data.session;
    if (!s1) throw new Error('no session from refresh');
    expect(s1.refresh_token).not.toBe(s0.refresh_token);
    expect(s1.user.id).toBe(s0.user.id);

    // GoTrue's reuse interval: a racing replay of the token just rotated gets the current child.
    const replay = await auth.refreshSession({ refresh_token: s0.refresh_token });
    expect(replay.data.session?.refresh_token).toBe(s1.refresh_token);

    const second = await auth.refreshSession({ refresh_token: s1.refresh_token });
    const s2 = second.data.session;
    if (!s2) throw new Error('no session from second refresh');

    const reused = await auth.refreshSession({ refresh_token: s0.refresh_token });
    expect(reused.error).toMatchObject({ name: 'AuthApiError', status: 400, code: 'refresh_token_already_used' });
    expect(reused.data.session).toBeNull();

    // Reuse looks like theft: the whole session is gone, its newest token and access tokens too.
    const afterTheft = await auth.refreshSession({ refresh_token: s2.refresh_token });
    expect(afterTheft.error).toMatchObject({ status: 400, code: 'refresh_token_not_found' });
    const user = await supabase(server.url).auth.getUser(s2.access_token);
    expect(user.error?.name).toBe('AuthSessionMissingError');
  });

  it('refuses an unknown refresh token', async () => {
    const { error } = await supabase(server.url).auth.refreshSession({ refresh_token: 'not-a-token' });
    expect(error).toMatchObject({ status: 400, code: 'refresh_token_not_found' });
  });

  it('signOut revokes the session (refresh token refused, getUser says session missing)', async () => {
    const { client, session } = await signUpNew(server.url, 'signout');
    const { error } = await client.auth.signOut();
    expect(error).toBeNull();
    expect((await client.auth.getSession()).data.session).toBeNull();

    const other = supabase(server.url).auth;
    const refreshed = await other.refreshSession({ refresh_token: session.refresh_token });
    expect(refreshed.error).toMatchObject({ status: 400, code: 'refresh_token_not_found' });
    const user = await other.getUser(session.access_token);
    expect(user.error?.name).toBe('AuthSessionMissingError');
  });

  it("signOut({ scope: 'others' }) ends the other sessions only", async () => {
    const { email, client: first } = await signUpNew(server.url, 'others');
    const second = await signIn(server.url, email);
    expect((await first.auth.signOut({ scope: 'others' })).error).toBeNull();
    expect((await first.auth.getUser()).error).toBeNull();
    const refreshed = await supabase(server.url).auth.refreshSession({ refresh_token: second.session.refresh_token });
    expect(refreshed.error?.code).toBe('refresh_token_not_found');
  });

  it('issues ES256 access tokens that verify against the JWKS and carry Supabase claims', async () => {
    const { email, session, user } = await signUpNew(server.url, 'claims', { plan: 'starter' });
    const { payload, protectedHeader } = await verifyWithJwks(server.url, session.access_token);

    const jwks: unknown = await (await fetch(`${server.url}/auth/v1/.well-known/jwks.json`)).json();
    expect(jwks).toEqual({
      keys: [expect.objectContaining({ kid: protectedHeader.kid, kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })],
    });
    expect(protectedHeader).toEqual({ alg: 'ES256', kid: expect.any(String), typ: 'JWT' });

    expect(payload).toMatchObject({
      iss: `${server.url}/auth/v1`,
      sub: user.id,
      aud: 'authenticated',
      email: email.toLowerCase(),
      phone: '',
      app_metadata: { provider: 'email', providers: ['email'] },
      user_metadata: { plan: 'starter' },
      role: 'authenticated',
      aal: 'aal1',
      amr: [{ method: 'password', timestamp: expect.any(Number) }],
      session_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      is_anonymous: false,
    });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
    expect(payload.exp).toBe(session.expires_at);

    // auth-js itself verifies it through the JWKS (getClaims).
    const claims = await supabase(server.url).auth.getClaims(session.access_token);
    expect(claims.error).toBeNull();
    expect(claims.data?.claims.sub).toBe(user.id);
  });

  it('rejects a token whose payload was tampered with', async () => {
    const { session } = await signUpNew(server.url, 'tamper');
    const [header, payload, signature] = session.access_token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...decodeJwt(session.access_token), role: 'service_role' })).toString('base64url');
    expect(forged).not.toBe(payload);
    const tampered = `${header}.${forged}.${signature}`;
    expect(decodeProtectedHeader(tampered).alg).toBe('ES256');

    await expect(verifyWithJwks(server.url, tampered)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    const { error } = await supabase(server.url).auth.getUser(tampered);
    expect(error).toMatchObject({ name: 'AuthApiError', status: 403, code: 'bad_jwt' });
  });

  it('answers 401 Invalid API key to a missing or wrong apikey, and serves the JWKS without one', async () => {
    const rejectedHeaders: Record<string, string>[] = [{}, { apikey: 'wrong' }];
    for (const headers of rejectedHeaders) {
      const res = await fetch(`${server.url}/auth/v1/settings`, { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ message: 'Invalid API key' });
    }
    const { error } = await supabase(server.url, 'wrong-key').auth.signInWithPassword({ email: newEmail('x'), password: PASSWORD });
    expect(error).toMatchObject({ status: 401, message: 'Invalid API key' });

    expect((await fetch(`${server.url}/auth/v1/health`, { headers: { apikey: ANON_KEY } })).status).toBe(200);
    expect((await fetch(`${server.url}/auth/v1/settings`, { headers: { apikey: SERVICE_ROLE_KEY } })).status).toBe(200);
    expect((await fetch(`${server.url}/auth/v1/.well-known/jwks.json`)).status).toBe(200);
  });

  it('answers a CORS preflight from another localhost origin', async () => {
    const res = await fetch(`${server.url}/auth/v1/token?grant_type=password`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:3000',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'apikey,authorization,content-type,x-client-info,x-supabase-api-version',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toContain('apikey');
  });

  it('lets the service role manage users, and an admin role shows up in the next token', async () => {
    const admin = supabase(server.url, SERVICE_ROLE_KEY).auth.admin;
    const email = newEmail('admin');
    const created = await admin.createUser({
      email,
      password: PASSWORD,
      email_confirm: true,
      user_metadata: { name: 'Op' },
      app_metadata: { plan: 'pro' },
    });
    expect(created.error).toBeNull();
    const userId = created.data.user?.id ?? '';
    expect(created.data.user).toMatchObject({
      email,
      app_metadata: { provider: 'email', providers: ['email'], plan: 'pro' },
      user_metadata: { name: 'Op' },
    });

    const before = await signIn(server.url, email);
    expect((await verifyWithJwks(server.url, before.session.access_token)).payload.app_metadata).not.toHaveProperty('role');

    const updated = await admin.updateUserById(userId, { app_metadata: { role: 'admin' } });
    expect(updated.error).toBeNull();
    expect(updated.data.user?.app_metadata).toMatchObject({ role: 'admin', plan: 'pro', provider: 'email' });
    expect((await admin.getUserById(userId)).data.user?.app_metadata.role).toBe('admin');

    const after = await signIn(server.url, email);
    const { payload } = await verifyWithJwks(server.url, after.session.access_token);
    expect(payload.app_metadata).toMatchObject({ role: 'admin', plan: 'pro' });

    const listed = await admin.listUsers({ page: 1, perPage: 1000 });
    expect(listed.data.users.map((u) => u.id)).toContain(userId);
  });

  it('refuses admin calls without the service-role key, and unconfirmed users cannot sign in', async () => {
    const asAnon = await supabase(server.url).auth.admin.createUser({ email: newEmail('x'), password: PASSWORD });
    expect(asAnon.error).toMatchObject({ status: 403, code: 'not_admin' });

    const admin = supabase(server.url, SERVICE_ROLE_KEY).auth.admin;
    const email = newEmail('unconfirmed');
    expect((await admin.createUser({ email, password: PASSWORD })).error).toBeNull();
    const { error } = await supabase(server.url).auth.signInWithPassword({ email, password: PASSWORD });
    expect(error).toMatchObject({ status: 400, code: 'email_not_confirmed' });

    expect((await admin.createUser({ email, password: PASSWORD })).error).toMatchObject({ status: 422, code: 'email_exists' });
    expect((await admin.getUserById(randomUUID())).error).toMatchObject({ status: 404, code: 'user_not_found' });
  });
});

describe('local Supabase Auth without a refresh-token reuse interval', () => {
  it('refuses the old refresh token right after rotation (in-memory store)', async () => {
    const server = await startLocalAuth({
      port: 0,
      anonKey: ANON_KEY,
      serviceRoleKey: SERVICE_ROLE_KEY,
      refreshTokenReuseIntervalSeconds: 0,
    });
    try {
      const { session } = await signUpNew(server.url, 'strict');
      const auth = supabase(server.url).auth;
      expect((await auth.refreshSession({ refresh_token: session.refresh_token })).error).toBeNull();
      const reused = await auth.refreshSession({ refresh_token: session.refresh_token });
      expect(reused.error).toMatchObject({ status: 400, code: 'refresh_token_already_used' });
    } finally {
      await server.close();
    }
  });
});

describe('local Supabase Auth restarted on the same data file', () => {
  it('keeps users, sessions and the signing key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-auth-restart-'));
    const dataFile = join(dir, 'nested', 'auth.json');
    const options = { dataFile, anonKey: ANON_KEY, serviceRoleKey: SERVICE_ROLE_KEY };
    try {
      const first = await startLocalAuth({ ...options, port: 0 });
      const { email, session, user } = await signUpNew(first.url, 'restart');
      await first.close();

      // Same port, so the issuer (and the URL clients use) is unchanged.
      const second = await startLocalAuth({ ...options, port: Number(new URL(first.url).port) });
      try {
        expect(second.url).toBe(first.url);
        const { payload } = await verifyWithJwks(second.url, session.access_token);
        expect(payload.sub).toBe(user.id);
        expect((await supabase(second.url).auth.getUser(session.access_token)).data.user?.id).toBe(user.id);
        const refreshed = await supabase(second.url).auth.refreshSession({ refresh_token: session.refresh_token });
        expect(refreshed.error).toBeNull();
        expect((await signIn(second.url, email)).session.user.id).toBe(user.id);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
