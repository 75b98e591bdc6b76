import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, type WebSocketLikeConstructor } from '@supabase/supabase-js';
import { generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import ws from 'ws';
import { openedDatabase } from '@/lib/db';
import { startLocalAuth } from '@/local/auth/server';
import { sqlSessionMirror } from '@/local/auth/session-mirror';

export const ANON_KEY = 'sb_publishable_local_dev_key';
export const SERVICE_ROLE_KEY = 'sb_secret_local_dev_key';

// Node 20 has no global WebSocket and supabase-js needs one to build a client; ws's typings
// differ from the DOM ones realtime-js declares, so check it really is a constructor.
function isWebSocketConstructor(value: unknown): value is WebSocketLikeConstructor {
  return typeof value === 'function' && 'OPEN' in value;
}
if (!isWebSocketConstructor(ws)) throw new Error('ws does not export a WebSocket class');
const transport = ws;

export interface TestAuth {
  url: string;
  /** A new user signed up through the real supabase-js; returns their access token. */
  signUp(email?: string): Promise<{ userId: string; accessToken: string; email: string }>;
  /** A token signed with the auth server's own key, with claims of our choosing (e.g. expired). */
  signWithServerKey(claims: JWTPayload): Promise<string>;
  /** A token of the right shape signed with some other key (a forgery). */
  signWithForeignKey(claims: JWTPayload): Promise<string>;
  close(): Promise<void>;
}

export async function startTestAuth(): Promise<TestAuth> {
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-auth-'));
  const dataFile = path.join(dir, 'auth.json');
  // Sessions go to the auth.sessions of whichever database the app uses at that moment (each
  // test file opens its own), as Supabase Auth keeps them in the project's database.
  const sessionMirror = sqlSessionMirror(async (sql, params) => {
    const db = await openedDatabase();
    if (db) await db.query(sql, params);
  });
  const server = await startLocalAuth({ port: 0, dataFile, anonKey: ANON_KEY, serviceRoleKey: SERVICE_ROLE_KEY, sessionMirror });
  const stored = JSON.parse(readFileSync(dataFile, 'utf8')) as { signingKey: { kid: string; privateJwk: JWK } };
  const serverKey = await importJWK(stored.signingKey.privateJwk, 'ES256');
  const foreign = await generateKeyPair('ES256');
  const sign = (claims: JWTPayload, key: Parameters<SignJWT['sign']>[0]) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: stored.signingKey.kid, typ: 'JWT' }).sign(key);

  return {
    url: server.url,
    async signUp(email = `${randomUUID()}@example.test`) {
      const client = createClient(server.url, ANON_KEY, {
        auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
        realtime: { transport },
      });
      const { data, error } = await client.auth.signUp({ email, password: 'correct-horse-1' });
      if (error || !data.session || !data.user) throw error ?? new Error('sign-up returned no session');
      return { userId: data.user.id, accessToken: data.session.access_token, email };
    },
    signWithServerKey: (claims) => sign(claims, serverKey),
    signWithForeignKey: (claims) => sign(claims, foreign.privateKey),
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
