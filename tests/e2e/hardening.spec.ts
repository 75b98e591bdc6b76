import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { importJWK, SignJWT, type JWK } from 'jose';
import { e2eEnv } from '@/playwright.config';
import { asOwnClient } from './session';

// The HTTP surface of the production build (issue 15), from the outside: errors that stay 401
// whichever bundle ran first, cookies, revocation through the pages, cross-site writes, body
// limits on server actions, sign-up limits per address, and what the sign-in pages ship.

const PASSWORD = 'correct-horse-1';
const COOKIE = `sb-127-auth-token`;
const ISSUER = `${e2eEnv.NEXT_PUBLIC_SUPABASE_URL}/auth/v1`;

async function signUp(page: Page, email = `e2e-${randomUUID()}@example.test`, ownClient = true) {
  if (ownClient) await asOwnClient(page);
  await page.goto('/sign-up');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create your account' }).click();
  await expect(page.getByRole('heading', { name: 'Your plan: Starter' })).toBeVisible();
  return email;
}

/** A token signed with the local auth server's own key (read from its data file). */
async function serverSignedToken(claims: Record<string, unknown>): Promise<string> {
  const stored = JSON.parse(readFileSync(path.join(e2eEnv.LOCAL_DATA_DIR, 'local-auth.json'), 'utf8')) as {
    signingKey: { kid: string; privateJwk: JWK };
  };
  const key = await importJWK(stored.signingKey.privateJwk, 'ES256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: stored.signingKey.kid, typ: 'JWT' }).sign(key);
}

const cookieOf = (session: Record<string, unknown>) => `${COOKIE}=base64-${Buffer.from(JSON.stringify(session)).toString('base64url')}`;

async function credentials() {
  const now = Math.floor(Date.now() / 1000);
  const expired = await serverSignedToken({
    iss: ISSUER,
    sub: randomUUID(),
    aud: 'authenticated',
    role: 'authenticated',
    exp: now - 60,
    iat: now - 3660,
    session_id: randomUUID(),
  });
  return {
    invalid: {
      bearer: 'abc.def.ghi',
      cookie: cookieOf({
        access_token: 'abc.def.ghi',
        refresh_token: 'x',
        expires_at: now + 3600,
        token_type: 'bearer',
        user: { id: randomUUID() },
      }),
    },
    expired: {
      bearer: expired,
      cookie: cookieOf({
        access_token: expired,
        refresh_token: 'x',
        expires_at: now + 3600,
        token_type: 'bearer',
        user: { id: randomUUID() },
      }),
    },
    // The returning user: an expired access token and a refresh token the auth server no longer knows.
    deadRefresh: {
      bearer: expired,
      cookie: cookieOf({
        access_token: expired,
        refresh_token: 'dead-refresh-token',
        expires_at: now - 60,
        expires_in: 3600,
        token_type: 'bearer',
        user: { id: randomUUID() },
      }),
    },
  };
}

async function expectPageRefuses(request: APIRequestContext, cookie: string) {
  const response = await request.get('/billing', { headers: { cookie }, maxRedirects: 0 });
  expect(response.status(), await response.text()).toBe(307);
  expect(response.headers()['location']).toMatch(/^\/sign-in\?next=/);
  return response;
}

async function expectApiRefuses(request: APIRequestContext, bearer: string) {
  for (const [method, url] of [
    ['GET', '/api/payments/billing'],
    ['POST', '/api/payments/payment-intent'],
  ] as const) {
    const response = await request.fetch(url, {
      method,
      headers: { authorization: `Bearer ${bearer}` },
      data: method === 'POST' ? { amount: 5 } : undefined,
    });
    expect(response.status(), `${method} ${url}`).toBe(401);
    expect((await response.json()) as unknown).toMatchObject({ error: { code: 'unauthorized' } });
  }
}

test.describe('bad credentials answer 401 or a redirect to sign-in, whichever bundle ran first', () => {
  for (const kind of ['invalid', 'expired', 'deadRefresh'] as const) {
    test(`${kind}: page, then API, then page; and the runner's wrong key`, async ({ playwright }) => {
      const request = await playwright.request.newContext({ baseURL: `http://127.0.0.1:${e2eEnv.PORT}` });
      const creds = (await credentials())[kind];
      await expectPageRefuses(request, creds.cookie);
      await expectApiRefuses(request, creds.bearer);
      await expectPageRefuses(request, creds.cookie);
      const runner = await request.post('/api/payments/check-usage-limit', {
        headers: { authorization: 'Bearer tr_wrong_key' },
        data: { estimatedCost: 1 },
      });
      expect(runner.status()).toBe(401);
      await request.dispose();
    });
  }

  test('a dead refresh token: the redirect clears the session cookie, so it does not come back', async ({ playwright }) => {
    const request = await playwright.request.newContext({ baseURL: `http://127.0.0.1:${e2eEnv.PORT}` });
    const response = await expectPageRefuses(request, (await credentials()).deadRefresh.cookie);
    const cleared = response
      .headersArray()
      .filter((header) => header.name.toLowerCase() === 'set-cookie' && header.value.startsWith(`${COOKIE}=`));
    expect(cleared.length).toBeGreaterThan(0);
    for (const header of cleared) expect(header.value).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/i);
    await request.dispose();
  });
});

test('the session cookie is HttpOnly, Secure in production, and lives as long as the session (7 days)', async ({ page }) => {
  await signUp(page);
  const cookies = (await page.context().cookies()).filter((cookie) => cookie.name.startsWith(COOKIE));
  expect(cookies.length).toBeGreaterThan(0);
  for (const cookie of cookies) {
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax' });
    const days = (cookie.expires - Date.now() / 1000) / 86_400;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThanOrEqual(7.01);
  }
  expect(await page.evaluate(() => document.cookie)).not.toContain(COOKIE);
});

test('after sign-out (this device, or everywhere) the old session is refused by pages and the API', async ({ page, browser }) => {
  await signUp(page);
  const stolen = await page.context().cookies();
  const accessToken = (() => {
    const value = stolen
      .filter((cookie) => cookie.name.startsWith(COOKIE))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((cookie) => cookie.value)
      .join('');
    return (JSON.parse(Buffer.from(value.slice('base64-'.length), 'base64url').toString('utf8')) as { access_token: string }).access_token;
  })();
  await page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(page).toHaveURL(/\/sign-in/);

  const thief = await browser.newContext();
  await thief.addCookies(stolen);
  const thiefPage = await thief.newPage();
  await thiefPage.goto('/billing');
  await expect(thiefPage).toHaveURL(/\/sign-in/);
  const api = await thiefPage.request.get('/api/payments/billing', { headers: { authorization: `Bearer ${accessToken}` } });
  expect(api.status()).toBe(401);
  await thief.close();
});

test('cross-site writes with the session cookie are refused; the page itself can write', async ({ page }) => {
  await signUp(page);
  const forged = await page.request.post('/api/payments/customers', {
    headers: { origin: 'http://127.0.0.1:9999', 'content-type': 'text/plain' },
    data: JSON.stringify({ email: 'attacker@example.test' }),
  });
  expect(forged.status()).toBe(403);
  const textPlain = await page.request.post('/api/payments/customers', {
    headers: { origin: `http://127.0.0.1:${e2eEnv.PORT}`, 'content-type': 'text/plain' },
    data: JSON.stringify({ email: 'attacker@example.test' }),
  });
  expect(textPlain.status()).toBe(415);
  const own = await page.evaluate(async () => {
    const response = await fetch('/api/payments/customers', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'me@example.test' }),
    });
    return response.status;
  });
  expect(own).toBe(200);
  const headers = (await page.request.get('/api/payments/plans')).headers();
  expect(headers).toMatchObject({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
});

test('a 3 MB server-action body gets 413 in the error shape, not 500; a 3 MB webhook too', async ({ request }) => {
  const action = await request.post('/sign-in', {
    headers: { 'next-action': '0'.repeat(42), 'content-type': 'text/plain;charset=UTF-8', origin: `http://127.0.0.1:${e2eEnv.PORT}` },
    data: 'x'.repeat(3 * 1024 * 1024),
  });
  expect(action.status()).toBe(413);
  expect((await action.json()) as unknown).toMatchObject({ error: { code: 'payload_too_large' } });
  const webhook = await request.post('/api/payments/webhook', {
    headers: { 'stripe-signature': 't=1,v1=00' },
    data: 'x'.repeat(3 * 1024 * 1024),
  });
  expect(webhook.status()).toBe(413);
});

test('sign-up is limited per address (10 an hour), whatever the account', async ({ browser }) => {
  const context = await browser.newContext({ extraHTTPHeaders: { 'x-forwarded-for': `198.51.100.${Math.floor(Math.random() * 250)}` } });
  const page = await context.newPage();
  for (let i = 0; i < 10; i += 1) {
    await signUp(page, undefined, false);
    await context.clearCookies();
  }
  await page.goto('/sign-up');
  await page.getByLabel('Email').fill(`e2e-${randomUUID()}@example.test`);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create your account' }).click();
  await expect(page.locator('form').getByRole('alert')).toHaveText('Too many attempts. Wait a minute and try again.');
  await context.close();
});

test('the sign-in pages ship no Supabase client', () => {
  const stats = JSON.parse(readFileSync('.next/diagnostics/route-bundle-stats.json', 'utf8')) as Array<{
    route: string;
    firstLoadChunkPaths: string[];
  }>;
  for (const route of ['/sign-in', '/sign-up']) {
    const chunks = stats.find((entry) => entry.route === route)!.firstLoadChunkPaths;
    const gzipKb = chunks.reduce((sum, file) => sum + gzipSync(readFileSync(file), { level: 9 }).length, 0) / 1024;
    for (const file of chunks)
      expect(readFileSync(file, 'utf8'), `${route}: ${file}`).not.toMatch(/GoTrueClient|supabase-js|createBrowserClient/);
    expect(gzipKb, route).toBeLessThan(150);
  }
});
