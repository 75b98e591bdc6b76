import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LIVE_SESSION_SQL } from '@/lib/auth/actor';
import { api } from '@/tests/helpers/http';
import { ANON_KEY, SERVICE_ROLE_KEY } from '@/tests/helpers/auth';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { GET as getBilling } from '@/app/api/payments/billing/route';
import { POST as postCustomer } from '@/app/api/payments/customers/route';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';

// Revocation (issue 15): a signed access token stays valid for an hour, but its session may end
// sooner (sign-out here or everywhere, refresh-token reuse, the user deleted). Supabase removes
// the session from auth.sessions in the app's own database; the local auth server mirrors that,
// and the app refuses such a token on the very next request.

const h = paymentsHarness();

interface Session {
  access_token: string;
  refresh_token: string;
  user: { id: string };
}

async function auth(path: string, init: { method?: string; body?: unknown; token?: string; key?: string } = {}) {
  const response = await fetch(`${h.auth.url}/auth/v1${path}`, {
    method: init.method ?? 'POST',
    headers: {
      apikey: init.key ?? ANON_KEY,
      'content-type': 'application/json',
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Session) : null };
}

async function signUpTwice(): Promise<[Session, Session]> {
  const email = `${randomUUID()}@example.test`;
  const first = await auth('/signup', { body: { email, password: 'correct-horse-1' } });
  const second = await auth('/token?grant_type=password', { body: { email, password: 'correct-horse-1' } });
  return [first.body!, second.body!];
}

const billing = (token: string) => api(getBilling, 'GET', '/api/payments/billing', { token });
const topUp = (token: string) => api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token, body: { amount: 5 } });
const sessionEnded = { code: 'unauthorized', message: 'Your session has ended. Please sign in again.' };

describe('a token whose session has ended is refused on the next request', () => {
  it('sign-out of this device: that token is refused for billing and money, the other device keeps working', async () => {
    const [here, there] = await signUpTwice();
    expect((await billing(here.access_token)).status).toBe(200);
    expect((await auth('/logout?scope=local', { token: here.access_token })).status).toBe(204);
    expect(await billing(here.access_token)).toEqual({ status: 401, body: { error: sessionEnded } });
    expect((await topUp(here.access_token)).status).toBe(401);
    expect((await billing(there.access_token)).status).toBe(200);
  });

  it('sign-out everywhere: every session of the user is refused', async () => {
    const [here, there] = await signUpTwice();
    expect((await auth('/logout?scope=global', { token: here.access_token })).status).toBe(204);
    for (const session of [here, there]) {
      expect((await billing(session.access_token)).status).toBe(401);
      expect((await topUp(session.access_token)).status).toBe(401);
    }
    const attempts = await h.db.query('select count(*)::int as n from payment_attempts where user_id = $1', [here.user.id]);
    expect(attempts.rows).toEqual([{ n: 0 }]);
  });

  it('a session revoked for refresh-token reuse: the stolen access token stops working', async () => {
    const [session] = await signUpTwice();
    const rotated = await auth('/token?grant_type=refresh_token', { body: { refresh_token: session.refresh_token } });
    await auth('/token?grant_type=refresh_token', { body: { refresh_token: rotated.body!.refresh_token } });
    // Replaying the first token (two rotations ago) is theft: the auth server ends the session.
    expect((await auth('/token?grant_type=refresh_token', { body: { refresh_token: session.refresh_token } })).status).toBe(400);
    expect((await billing(session.access_token)).status).toBe(401);
    expect((await billing(rotated.body!.access_token)).status).toBe(401);
  });

  it('a deleted user is refused, and their row is never re-created (POST /customers)', async () => {
    const [session] = await signUpTwice();
    const userId = session.user.id;
    expect((await auth(`/admin/users/${userId}`, { method: 'DELETE', key: SERVICE_ROLE_KEY, token: SERVICE_ROLE_KEY })).status).toBe(200);
    const answer = await api(postCustomer, 'POST', '/api/payments/customers', {
      token: session.access_token,
      body: { email: 'ghost@example.test' },
    });
    expect(answer).toEqual({ status: 401, body: { error: sessionEnded } });
    expect((await topUp(session.access_token)).status).toBe(401);
    const rows = await h.db.query('select count(*)::int as n from users where id = $1', [userId]);
    expect(rows.rows).toEqual([{ n: 0 }]);
  });

  it('a token without a session id (not issued by Supabase Auth for a session) is refused', async () => {
    const [session] = await signUpTwice();
    const token = await h.auth.signWithServerKey({
      sub: session.user.id,
      aud: 'authenticated',
      role: 'authenticated',
      exp: Math.floor(Date.now() / 1000) + 600,
      iss: `${h.auth.url}/auth/v1`,
    });
    expect((await billing(token)).body).toEqual({ error: { code: 'unauthorized', message: 'Invalid access token' } });
  });

  it('the check the app runs is one primary-key lookup', async () => {
    // The table is tiny here, so the planner is told to prefer an index when one can serve.
    const plan = await h.db.withSession(async (client) => {
      await client.query('set enable_seqscan = off');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain ${LIVE_SESSION_SQL}`, [randomUUID(), randomUUID()]);
      await client.query('reset enable_seqscan');
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/Index Scan using sessions_pkey/);
  });
});
