import { randomUUID } from 'node:crypto';
import { expect, test, type Page } from '@playwright/test';
import { e2eEnv } from '@/playwright.config';
import { asOwnClient, currentUserId } from './session';

const PASSWORD = 'correct-horse-1';

async function signUp(page: Page, email: string) {
  await asOwnClient(page);
  await page.goto('/sign-up');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create your account' }).click();
  await expect(page.getByRole('heading', { name: 'Your plan: Starter' })).toBeVisible();
}

test('a visitor is sent to sign in, signs up, and sees Starter with its allowance', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in\?next=(%2F|\/)$/);
  const email = `e2e-${randomUUID()}@example.test`;
  await signUp(page, email);
  await expect(page.getByText(`Signed in as ${email}`)).toBeVisible();
  await expect(page.getByTestId('allowance')).toHaveText('$10.00');
  await expect(page.getByTestId('used')).toHaveText('$0.00');
  await expect(page.getByTestId('remaining')).toHaveText('$10.00');
  await page.screenshot({ path: 'test-results/home-starter.png', fullPage: true });
});

test('usage recorded by the task runner shows on the home page', async ({ page, request }) => {
  await signUp(page, `e2e-${randomUUID()}@example.test`);
  // The browser's session cookie authenticates the limit check.
  const check = await page.evaluate(async () => {
    const response = await fetch('/api/payments/check-usage-limit', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ estimatedCost: 25 }),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  });
  expect(check).toMatchObject({ status: 200, body: { data: { allowed: false, shortfallCents: 1500 } } });

  // Usage is the task runner's to write: the browser's session may check, never reserve.
  const browserReserve = await page.evaluate(async () => {
    const response = await fetch('/api/usage/reserve', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ estimatedCost: 2, idempotencyKey: 'browser-hold' }),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  });
  expect(browserReserve).toEqual({ status: 403, body: { error: { code: 'forbidden', message: 'Only the task runner may record usage' } } });
  const reserve = await request.post('/api/usage/reserve', {
    headers: { authorization: `Bearer ${e2eEnv.TASK_RUNNER_API_KEY}` },
    data: { userId: await currentUserId(page), estimatedCost: 2, idempotencyKey: 'runner-hold' },
  });
  expect(reserve.status()).toBe(200);

  const commit = await request.post('/api/usage/commit', {
    headers: { authorization: `Bearer ${e2eEnv.TASK_RUNNER_API_KEY}` },
    data: { userId: await currentUserId(page), agent: 'writer', tokens: 1_250, executionMs: 30_000, idempotencyKey: randomUUID() },
  });
  expect(commit.status()).toBe(200);
  await page.reload();
  // $1.25 for tokens + $0.05 for half a minute; $2.00 still held by the open reservation.
  await expect(page.getByTestId('used')).toHaveText('$1.30');
  await expect(page.getByTestId('remaining')).toHaveText('$6.70');
});

test('sign-in errors are shown in words, and sign-out ends the session', async ({ page }) => {
  const email = `e2e-${randomUUID()}@example.test`;
  await signUp(page, email);
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/sign-in/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in/);

  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('wrong-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Next.js's route announcer is an alert too: look inside the form.
  await expect(page.locator('form').getByRole('alert')).toHaveText('That email and password do not match an account.');

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your plan: Starter' })).toBeVisible();
});

test('the API refuses a user-id header without a session', async ({ request }) => {
  const response = await request.post('/api/payments/check-usage-limit', {
    headers: { 'user-id': randomUUID() },
    data: { estimatedCost: 1 },
  });
  expect(response.status()).toBe(401);
  expect(await response.json()).toEqual({ error: { code: 'unauthorized', message: 'Sign in to continue' } });
});

test('pages load the local Stripe.js stand-in as window.Stripe in local mode', async ({ page }) => {
  await page.goto('/sign-in');
  expect(await page.evaluate(() => typeof (window as unknown as { Stripe?: unknown }).Stripe)).toBe('function');
  expect(await page.locator('head script[src$="/js/stripe.js"]').getAttribute('src')).toBe(`${e2eEnv.STRIPE_API_BASE}/js/stripe.js`);
});
