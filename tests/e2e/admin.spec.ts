import { randomUUID } from 'node:crypto';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import Stripe from 'stripe';
import { signatureHeader } from '@/local/stripe/webhooks/sign';
import { e2eEnv } from '@/playwright.config';

// The operators' page in the browser: an admin (app_metadata.role, set only with the service
// role key) sees revenue and replays a failed webhook; a normal user is told nothing exists there.

const PASSWORD = 'correct-horse-1';
const SERVICE_ROLE_KEY = 'sb_secret_local_dev_key';
const WEBHOOK_SECRET = 'whsec_local_dev_secret';
const localStripe = new Stripe('sk_test_local', {
  host: '127.0.0.1',
  port: Number(new URL(e2eEnv.STRIPE_API_BASE).port),
  protocol: 'http',
});

async function createUser(admin: boolean) {
  const email = `e2e-admin-${randomUUID()}@example.test`;
  const response = await fetch(`${e2eEnv.NEXT_PUBLIC_SUPABASE_URL}/auth/v1/admin/users`, {
    method: 'POST',
    headers: { apikey: SERVICE_ROLE_KEY, authorization: `Bearer ${SERVICE_ROLE_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD, email_confirm: true, ...(admin ? { app_metadata: { role: 'admin' } } : {}) }),
  });
  expect(response.status).toBe(200);
  return email;
}

async function signIn(page: Page, email: string) {
  await page.goto('/admin/billing');
  await expect(page).toHaveURL(/\/sign-in\?next=(%2F|\/)admin(%2F|\/)billing$/);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** A signed subscription event the app fails on (Stripe is failing while it re-reads it). */
async function failedWebhookEvent(): Promise<string> {
  const customer = await localStripe.customers.create({ email: 'ops-test@example.test' });
  const subscription = await localStripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: 'price_pro_plan_id' }],
    payment_behavior: 'default_incomplete',
  });
  const event = {
    id: `evt_e2e_${randomUUID().replaceAll('-', '')}`,
    object: 'event',
    type: 'customer.subscription.updated',
    created: Math.floor(Date.now() / 1000),
    data: { object: subscription },
  };
  const body = JSON.stringify(event);
  const fault = await fetch(`${e2eEnv.STRIPE_API_BASE}/_local/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: '500', count: 10, method: 'GET', path: '/v1/subscriptions/' }),
  });
  expect(fault.status).toBeLessThan(300);
  try {
    const delivered = await fetch(`http://127.0.0.1:${e2eEnv.PORT}/api/payments/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signatureHeader(body, WEBHOOK_SECRET, event.created) },
      body,
    });
    expect(delivered.status).toBe(502);
  } finally {
    await fetch(`${e2eEnv.STRIPE_API_BASE}/_local/faults`, { method: 'DELETE' });
  }
  return event.id;
}

test('a normal user gets a 404 at the admin page', async ({ page }) => {
  await signIn(page, await createUser(false));
  await expect(page.getByRole('heading', { name: '404' })).toBeVisible();
  const response = await page.goto('/admin/billing');
  expect(response!.status()).toBe(404);
});

test('an admin sees revenue and replays a failed webhook', async ({ page }) => {
  const eventId = await failedWebhookEvent();
  await signIn(page, await createUser(true));
  await expect(page).toHaveURL(/\/admin\/billing$/);
  await expect(page.getByTestId('revenue-month')).toHaveText(/^\$[\d,]+\.\d\d$/);
  await expect(page.getByTestId('payment-success-rate')).toBeVisible();
  const row = page.locator(`[data-testid="webhook-event-row"][data-event-id="${eventId}"]`);
  await expect(row).toContainText('customer.subscription.updated');
  await page.screenshot({ path: 'test-results/admin-billing.png', fullPage: true });
  const results = await new AxeBuilder({ page }).analyze();
  expect(
    results.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => violation.id),
  ).toEqual([]);

  await row.getByRole('button').click();
  await expect(page.getByTestId('replay-outcome')).toContainText(`Event ${eventId} was replayed`);
  await expect(row).toHaveCount(0);
});

test('an admin creates a named task-runner key (shown once), the runner uses it, and a revoked key is refused', async ({ page }) => {
  await signIn(page, await createUser(true));
  await expect(page).toHaveURL(/\/admin\/billing$/);
  const name = `agents-${randomUUID().slice(0, 8)}`;
  await page.getByLabel('New key name').fill(name);
  await page.getByRole('button', { name: 'Create key' }).click();
  const shown = page.getByTestId('new-runner-key');
  await expect(shown).toBeVisible();
  const key = (await shown.textContent())!.trim();
  const row = page.getByTestId('runner-key-row').filter({ hasText: name });
  await expect(row).toContainText('Never');

  // The runner's reserve with the new key, for a user (the user row is made by their first request).
  const user = await createUser(false);
  const signedIn = await fetch(`${e2eEnv.NEXT_PUBLIC_SUPABASE_URL}/auth/v1/token?grant_type=password`, {
    method: 'POST',
    headers: { apikey: 'sb_publishable_local_dev_key', 'content-type': 'application/json' },
    body: JSON.stringify({ email: user, password: PASSWORD }),
  });
  const session = (await signedIn.json()) as { access_token: string; user: { id: string } };
  const app = `http://127.0.0.1:${e2eEnv.PORT}`;
  await fetch(`${app}/api/payments/billing`, { headers: { authorization: `Bearer ${session.access_token}` } });
  const reserve = () =>
    fetch(`${app}/api/usage/reserve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: session.user.id, estimatedCost: 0.5, idempotencyKey: randomUUID() }),
    });
  expect((await reserve()).status).toBe(200);

  // After a reload the key itself is gone from the page; its last use is shown once the server
  // has written it (last-used times are written every few seconds, on a runner's request).
  await expect
    .poll(
      async () => {
        expect((await reserve()).status).toBe(200);
        await page.reload();
        return (await page.getByTestId('runner-key-row').filter({ hasText: name }).textContent()) ?? '';
      },
      { timeout: 30_000, intervals: [1_000] },
    )
    .not.toContain('Never');
  await expect(page.getByTestId('new-runner-key')).toHaveCount(0);
  expect(await page.content()).not.toContain(key);

  await page.getByRole('button', { name: `Revoke key ${name}` }).click();
  await expect(page.getByTestId('runner-key-outcome')).toContainText(`Key “${name}” is revoked`);
  await expect.poll(async () => (await reserve()).status, { timeout: 1_500 }).toBe(401);
});
