import { randomUUID } from 'node:crypto';
import AxeBuilder from '@axe-core/playwright';
import { expect, type APIRequestContext, type Page } from '@playwright/test';
import Stripe from 'stripe';
import { e2eEnv } from '@/playwright.config';
import { asOwnClient } from './session';

// What the self-serve browser tests share: a new user on /billing, the task runner's calls, the
// local Stripe through the real SDK (to assert Stripe's state), axe and the phone-width check.

export const PASSWORD = 'correct-horse-1';

export const localStripe = new Stripe('sk_test_local', {
  host: new URL(e2eEnv.STRIPE_API_BASE).hostname,
  port: Number(new URL(e2eEnv.STRIPE_API_BASE).port),
  protocol: 'http',
});

/** A new user, signed up from the billing page's sign-in redirect, back on /billing. */
export async function signUpAtBilling(page: Page): Promise<string> {
  await asOwnClient(page);
  const email = `e2e-${randomUUID()}@example.test`;
  await page.goto('/billing');
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fbilling$/);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create your account' }).click();
  await expect(page).toHaveURL(/\/billing$/, { timeout: 20_000 });
  await expect(page.getByRole('heading', { name: 'Billing', level: 1 })).toBeVisible();
  return email;
}

export async function fillCard(page: Page, number: string) {
  await page.getByLabel('Card number').fill(number);
  await page.getByLabel('Expiry').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
}

export async function expectNoSeriousAxeViolations(page: Page) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  expect(serious.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`)).toEqual([]);
}

/** Nothing wider than a 390 px phone screen, then a full-page screenshot. */
export async function expectFitsPhone(page: Page, screenshot: string) {
  const size = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => ({
    by: document.documentElement.scrollWidth - window.innerWidth,
    // The elements reaching past the screen's edge, to say what to fix.
    culprits: [...document.querySelectorAll('body *')]
      .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 0.5)
      .slice(0, 5)
      .map((element) => `${element.tagName.toLowerCase()}.${element.className} ${Math.round(element.getBoundingClientRect().right)}px`),
  }));
  expect(overflow.by, `${page.url()}: ${overflow.culprits.join(', ')}`).toBeLessThanOrEqual(0);
  await page.screenshot({ path: `test-results/${screenshot}`, fullPage: true });
  if (size) await page.setViewportSize(size);
}

/**
 * At each width: no button (nor link drawn as one) breaks its label over two lines, is cut off,
 * or reaches past the screen; then a full-page screenshot per width.
 */
export async function expectButtonsIntact(page: Page, name: string, widths = [390, 1280]) {
  const size = page.viewportSize();
  for (const width of widths) {
    await page.setViewportSize({ width, height: 900 });
    const broken = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('button, a[class*="button"], a[role="button"]')]
        .filter((element) => element.offsetParent !== null)
        .map((element) => {
          const box = element.getBoundingClientRect();
          const range = document.createRange();
          range.selectNodeContents(element);
          // One line of text: every fragment of the label shares a line box.
          const tops = [...range.getClientRects()].map((rect) => rect.top);
          const wraps = tops.length > 0 && Math.max(...tops) - Math.min(...tops) > 4;
          const problems = [
            wraps ? 'wraps' : null,
            element.scrollWidth > element.clientWidth + 1 ? 'cut off' : null,
            box.left < 0 || box.right > window.innerWidth + 0.5 ? 'past the screen' : null,
          ].filter(Boolean);
          return problems.length ? `"${element.textContent?.trim()}" ${problems.join(', ')}` : null;
        })
        .filter((problem) => problem !== null),
    );
    expect(broken, `${page.url()} at ${width} px`).toEqual([]);
    await page.screenshot({ path: `test-results/${name}-${width}.png`, fullPage: true });
  }
  if (size) await page.setViewportSize(size);
}

/** Records every answer with status 404 the page receives, and each console error saying so. */
export function collectNotFound(page: Page): string[] {
  const missing: string[] = [];
  page.on('response', (response) => {
    if (response.status() === 404) missing.push(response.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('404')) missing.push(`console: ${message.text()}`);
  });
  return missing;
}

const runner = { authorization: `Bearer ${e2eEnv.TASK_RUNNER_API_KEY}` };

/** The task runner reserves (optionally) and commits one task for the user. */
export async function runTask(
  request: APIRequestContext,
  userId: string,
  task: { agent: string; tokens: number; executionMs?: number; reserve?: number },
): Promise<void> {
  let reservationId: string | undefined;
  if (task.reserve !== undefined) {
    const hold = await request.post('/api/usage/reserve', {
      headers: runner,
      data: { userId, estimatedCost: task.reserve, idempotencyKey: randomUUID() },
    });
    expect(hold.status()).toBe(200);
    reservationId = ((await hold.json()) as { data: { reservationId: string } }).data.reservationId;
  }
  const commit = await request.post('/api/usage/commit', {
    headers: runner,
    data: {
      userId,
      agent: task.agent,
      tokens: task.tokens,
      executionMs: task.executionMs ?? 0,
      idempotencyKey: randomUUID(),
      ...(reservationId ? { reservationId } : {}),
    },
  });
  expect(commit.status()).toBe(200);
}

/** The user's Stripe customer, found at Stripe by the email the app gave it. */
export async function customerOf(email: string): Promise<Stripe.Customer> {
  const found = await localStripe.customers.list({ email, limit: 2 });
  expect(found.data).toHaveLength(1);
  return found.data[0]!;
}

export async function savedCardsAtStripe(customerId: string): Promise<{ last4: string; id: string }[]> {
  const listed = await localStripe.customers.listPaymentMethods(customerId, { type: 'card' });
  return listed.data.map((method) => ({ id: method.id, last4: method.card?.last4 ?? '' }));
}

export async function defaultCardAtStripe(customerId: string): Promise<string | null> {
  const customer = await localStripe.customers.retrieve(customerId);
  if ('deleted' in customer && customer.deleted) return null;
  const value = customer.invoice_settings.default_payment_method;
  return typeof value === 'string' ? value : (value?.id ?? null);
}

/**
 * Moves the local Stripe's clock forward (for every customer without a test clock); answers once
 * the renewals it caused have been charged and their webhooks delivered.
 */
export async function advanceLocalStripeClock(seconds: number): Promise<void> {
  const advanced = await fetch(`${e2eEnv.STRIPE_API_BASE}/_local/clock/advance`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ seconds }),
  });
  expect(advanced.status).toBe(200);
}

/** Subscribes to Pro on the plans page and pays the first invoice with 4242 on checkout. */
export async function subscribeToPro(page: Page) {
  await page.goto('/billing/plans');
  await page.getByRole('link', { name: 'Subscribe to Pro' }).click();
  await page.getByRole('button', { name: 'Continue to payment' }).click();
  await expect(page).toHaveURL(/\/billing\/checkout\?subscription=sub_/);
  await fillCard(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: 'Pay $50.00' }).click();
  await expect(page).toHaveURL(/\/billing\?paid=1$/, { timeout: 30_000 });
}
