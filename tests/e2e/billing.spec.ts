import { randomUUID } from 'node:crypto';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { e2eEnv } from '@/playwright.config';
import { asOwnClient, currentUserId } from './session';

// The billing pages in Debian's Chromium against the production build, the local Supabase Auth
// and the local Stripe (real <PaymentElement> on the Stripe.js stand-in, real signed webhooks).

const PASSWORD = 'correct-horse-1';

/** A new user, signed up from the billing page's sign-in redirect, back on /billing. */
async function signUpAtBilling(page: Page) {
  await asOwnClient(page);
  await page.goto('/billing');
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fbilling$/);
  await page.getByRole('link', { name: 'Create an account' }).click();
  // Both pages have Email and Password fields: fill them only once the sign-up page is there.
  await expect(page.getByRole('heading', { name: 'Create your account' })).toBeVisible();
  await page.getByLabel('Email').fill(`e2e-${randomUUID()}@example.test`);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create your account' }).click();
  // The first render of a new user's dashboard opens their rows; give a loaded machine time.
  await expect(page).toHaveURL(/\/billing$/, { timeout: 20_000 });
  await expect(page.getByRole('heading', { name: 'Billing', level: 1 })).toBeVisible();
}

async function fillCard(page: Page, number: string) {
  await page.getByLabel('Card number').fill(number);
  await page.getByLabel('Expiry').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
}

async function expectNoSeriousAxeViolations(page: Page) {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  expect(serious.map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`)).toEqual([]);
}

/** The shortfall PaymentIntent the task runner would get back, asked with the user's session. */
async function shortfallIntent(page: Page, estimatedCost: number): Promise<string> {
  const answer = await page.evaluate(async (cost) => {
    const response = await fetch('/api/payments/check-usage-limit', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ estimatedCost: cost }),
    });
    return (await response.json()) as { data: { allowed: boolean; paymentIntent: { id: string } | null } };
  }, estimatedCost);
  expect(answer.data.allowed).toBe(false);
  return answer.data.paymentIntent!.id;
}

async function subscribeToPro(page: Page) {
  await page.goto('/billing/plans');
  await page.getByRole('link', { name: 'Subscribe to Pro' }).click();
  await expect(page.getByRole('heading', { name: 'Subscribe to Pro' })).toBeVisible();
  await expect(page.getByTestId('due-now')).toHaveText('Due today: $50.00');
  await page.getByRole('button', { name: 'Continue to payment' }).click();
  await expect(page).toHaveURL(/\/billing\/checkout\?subscription=sub_/);
  await expect(page.getByRole('heading', { name: 'Subscribe to Pro' })).toBeVisible();
  await fillCard(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: 'Pay $50.00' }).click();
  await expect(page).toHaveURL(/\/billing\?paid=1$/, { timeout: 30_000 });
}

test('a signed-out visitor is sent to sign in and back; the dashboard shows Starter', async ({ page }) => {
  await signUpAtBilling(page);
  await expect(page.getByTestId('plan-name')).toHaveText('Starter');
  await expect(page.getByTestId('allowance')).toHaveText('$10.00');
  await expect(page.getByTestId('remaining')).toContainText('$10.00');
  await expectNoSeriousAxeViolations(page);
  // On a phone: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ['/billing', '/billing/plans', '/billing/checkout']) {
    await page.goto(path);
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), path).toBeLessThanOrEqual(0);
  }
  await page.goto('/billing');
  await page.screenshot({ path: 'test-results/dashboard-phone.png', fullPage: true });
});

test('subscribes to Pro with 4242 through the PaymentElement; the webhook makes the dashboard show Pro', async ({ page }) => {
  await signUpAtBilling(page);
  await page.goto('/billing/plans');
  await page.screenshot({ path: 'test-results/plans.png', fullPage: true });
  await expectNoSeriousAxeViolations(page);
  await page.getByRole('link', { name: 'Subscribe to Pro' }).click();
  await page.getByRole('button', { name: 'Continue to payment' }).click();
  await fillCard(page, '4242 4242 4242 4242');
  await page.screenshot({ path: 'test-results/checkout-subscription.png', fullPage: true });
  await expectNoSeriousAxeViolations(page);
  await page.getByRole('button', { name: 'Pay $50.00' }).click();
  await expect(page).toHaveURL(/\/billing\?paid=1$/, { timeout: 30_000 });
  await expect(page.getByTestId('plan-name')).toHaveText('Pro');
  await expect(page.getByTestId('allowance')).toHaveText('$50.00');
  await expect(page.getByText('Subscription, first payment')).toBeVisible();
  await page.screenshot({ path: 'test-results/dashboard-pro.png', fullPage: true });
});

test('hits the limit, pays the shortfall with 4242, and the allowance is restored', async ({ page }) => {
  await signUpAtBilling(page);
  const intentId = await shortfallIntent(page, 25);
  await page.goto(`/billing/checkout?paymentIntent=${intentId}&reason=usage-limit`);
  await expect(page.getByRole('heading', { name: 'Your task needs more allowance' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'upgrade your plan' })).toBeVisible();
  await fillCard(page, '4242 4242 4242 4242');
  await page.screenshot({ path: 'test-results/checkout-shortfall.png', fullPage: true });
  // A double click pays once: the button is disabled while the payment is in flight.
  await page.getByRole('button', { name: 'Pay $15.00' }).dblclick();
  await expect(page).toHaveURL(/\/billing\?paid=1$/, { timeout: 30_000 });
  await expect(page.getByTestId('credits')).toHaveText('$15.00');
  await expect(page.getByTestId('remaining')).toContainText('$25.00');
  // The grant itself: bought today, $15.00, all of it left, expiring in 12 months.
  const grant = page.getByTestId('credit-grants').getByRole('row').nth(1);
  await expect(grant.getByRole('cell')).toHaveText([/\S/, '$15.00', '$15.00', /\S/]);
  const allowed = await page.evaluate(async () => {
    const response = await fetch('/api/payments/check-usage-limit', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ estimatedCost: 25 }),
    });
    return ((await response.json()) as { data: { allowed: boolean } }).data.allowed;
  });
  expect(allowed).toBe(true);
  await page.screenshot({ path: 'test-results/dashboard-after-top-up.png', fullPage: true });
  // Stripe's return_url after a redirect reads the outcome from Stripe.
  await page.goto(`/payment-success?payment_intent=${intentId}`);
  await expect(page.getByRole('heading', { name: 'Payment received' })).toBeVisible();
  await expect(page.getByTestId('payment-outcome')).toHaveText(
    'Thank you: $15.00 was paid. It shows on your dashboard within a few seconds.',
  );
});

for (const [card, message] of [
  ['4000 0000 0000 0002', 'Your card was declined, so nothing was charged. Try another card or contact your bank.'],
  ['4000 0000 0000 9995', 'Your card has insufficient funds, so nothing was charged. Try another card, or a smaller amount.'],
] as const) {
  test(`a decline with ${card} is explained, offers a retry, and credits nothing`, async ({ page }) => {
    await signUpAtBilling(page);
    const intentId = await shortfallIntent(page, 12);
    await page.goto(`/billing/checkout?paymentIntent=${intentId}&reason=usage-limit`);
    await fillCard(page, card);
    await page.getByRole('button', { name: 'Pay $2.00' }).click();
    await expect(page.getByText(message)).toBeVisible();
    await expect(page.getByRole('button', { name: 'Try again: pay $2.00' })).toBeEnabled();
    await page.goto(`/payment-success?payment_intent=${intentId}`);
    await expect(page.getByRole('heading', { name: 'The payment did not go through' })).toBeVisible();
    await expect(page.getByRole('link', { name: 'Try again' })).toHaveAttribute('href', `/billing/checkout?paymentIntent=${intentId}`);
    await page.goto('/billing');
    await expect(page.getByTestId('credits')).toHaveText('$0.00');
    // The failure is also an in-app notification with the way to retry, once its webhook is in.
    await expect(async () => {
      await page.reload();
      await expect(page.getByRole('link', { name: 'Try the payment again' })).toHaveAttribute(
        'href',
        `/billing/checkout?paymentIntent=${intentId}`,
        { timeout: 1000 },
      );
    }).toPass({ timeout: 20_000 });
  });
}

test('4000 0025 0000 3155 passes the authentication challenge and credits the payment', async ({ page }) => {
  await signUpAtBilling(page);
  const intentId = await shortfallIntent(page, 11);
  await page.goto(`/billing/checkout?paymentIntent=${intentId}`);
  await fillCard(page, '4000 0025 0000 3155');
  await page.getByRole('button', { name: 'Pay $1.00' }).click();
  await page.getByRole('dialog', { name: '3D Secure authentication' }).getByRole('button', { name: 'Complete' }).click();
  await expect(page).toHaveURL(/\/billing\?paid=1$/, { timeout: 30_000 });
  await expect(page.getByTestId('credits')).toHaveText('$1.00');
});

test('upgrades with a proration preview; a downgrade waits for the period end, shown on both pages, and is undone; cancels and resumes', async ({
  page,
}) => {
  await signUpAtBilling(page);
  await subscribeToPro(page);
  await page.goto('/billing/plans');
  await page.getByRole('link', { name: 'Upgrade to Enterprise' }).click();
  await expect(page.getByRole('heading', { name: 'Switch from Pro to Enterprise' })).toBeVisible();
  await expect(page.getByTestId('due-now')).toHaveText(/^Due today: \$4\d\d\.\d\d$/);
  await page.screenshot({ path: 'test-results/plans-proration-preview.png', fullPage: true });
  await page.getByRole('button', { name: 'Confirm: switch to Enterprise' }).click();
  await expect(page.getByRole('status')).toHaveText(/You are now on the Enterprise plan/);
  await expect(page.getByRole('region', { name: 'Enterprise' }).getByText('Current plan')).toBeVisible();

  // A downgrade: nothing charged or credited; Enterprise stays until the period ends.
  await page.getByRole('link', { name: 'Downgrade to Starter' }).click();
  await expect(page.getByTestId('due-now')).toHaveText(
    /^Nothing is charged or credited today\. You keep Enterprise and its allowance until \w{3} \d{1,2}, \d{4}, then move to Starter\.$/,
  );
  await page.getByRole('button', { name: 'Confirm: switch to Starter' }).click();
  await expect(page.getByRole('status')).toHaveText(/Your plan changes to Starter at the end of this period/);
  await expect(page.getByRole('region', { name: 'Enterprise' }).getByText('Current plan')).toBeVisible();
  await expect(page.getByTestId('scheduled-change')).toHaveText(/^Changes to Starter on \w{3} \d{1,2}, \d{4}$/);
  await page.screenshot({ path: 'test-results/plans-scheduled-downgrade.png', fullPage: true });
  await page.goto('/billing');
  await expect(page.getByTestId('plan-name')).toHaveText('Enterprise');
  await expect(page.getByTestId('scheduled-change')).toContainText(/Changes to Starter on \w{3} \d{1,2}, \d{4}/);
  await expect(page.getByText(/Renews on .* for \$10\.00/)).toBeVisible();
  await expectNoSeriousAxeViolations(page);

  // Undo from the dashboard.
  await page.getByRole('button', { name: 'Keep Enterprise' }).click();
  await expect(page).toHaveURL(/\/billing\/plans\?kept=enterprise$/);
  await expect(page.getByRole('status')).toHaveText('You stay on the Enterprise plan.');
  await expect(page.getByTestId('scheduled-change')).toHaveCount(0);
  await page.goto('/billing');
  await expect(page.getByTestId('scheduled-change')).toHaveCount(0);
  await expect(page.getByText(/Renews on .* for \$500\.00/)).toBeVisible();

  // Undo from the plans page too.
  await page.goto('/billing/plans?preview=pro');
  await page.getByRole('button', { name: 'Confirm: switch to Pro' }).click();
  await expect(page.getByTestId('scheduled-change')).toHaveText(/^Changes to Pro on /);
  await page.getByRole('button', { name: 'Keep Enterprise' }).click();
  await expect(page.getByRole('status')).toHaveText('You stay on the Enterprise plan.');
  await expect(page.getByTestId('scheduled-change')).toHaveCount(0);

  await page.getByRole('button', { name: 'Cancel at period end' }).click();
  await expect(page.getByRole('status')).toHaveText(/will end at the end of the current period/);
  await page.getByRole('button', { name: 'Resume subscription' }).click();
  await expect(page.getByRole('status')).toHaveText('Your subscription will renew as usual.');
  await page.goto('/billing');
  await expect(page.getByTestId('plan-name')).toHaveText('Enterprise');
});

test('every page carries the security headers; checkout runs without CSP violations', async ({ page }) => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  await signUpAtBilling(page);
  for (const path of ['/billing', '/billing/plans', '/billing/checkout', '/sign-in']) {
    const response = await page.goto(path);
    const csp = response!.headers()['content-security-policy'] ?? '';
    expect(csp, path).toMatch(
      /script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'strict-dynamic' https:\/\/js\.stripe\.com https:\/\/\*\.js\.stripe\.com http:\/\/127\.0\.0\.1:\d+/,
    );
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(response!.headers()['x-content-type-options'], path).toBe('nosniff');
  }
  await page.goto('/billing/checkout');
  await page.getByRole('button', { name: 'Continue to payment' }).click();
  await fillCard(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: 'Pay $10.00' }).click();
  await expect(page).toHaveURL(/\/billing\?paid=1$/, { timeout: 30_000 });
  await expect(page.getByTestId('credits')).toHaveText('$10.00');
  expect(violations).toEqual([]);
});

test('budget alerts appear at 80% and at 100% of the budget', async ({ page, request }) => {
  await signUpAtBilling(page);
  await page.getByLabel('Monthly budget in US dollars').fill('5');
  await page.getByRole('button', { name: 'Set budget' }).click();
  await expect(page.getByTestId('budget-state')).toHaveText('Within budget');
  const userId = await currentUserId(page);
  // The task runner records usage: 4,000 tokens on Starter = $4.00, then 1,000 more = $5.00.
  for (const [tokens, key] of [
    [4_000, 'first'],
    [1_000, 'second'],
  ] as const) {
    const commit = await request.post('/api/usage/commit', {
      headers: { authorization: `Bearer ${e2eEnv.TASK_RUNNER_API_KEY}` },
      data: { userId, agent: 'researcher', tokens, executionMs: 0, idempotencyKey: `${key}-${userId}` },
    });
    expect(commit.status()).toBe(200);
    await page.goto('/billing');
    if (key === 'first') {
      await expect(page.getByRole('heading', { name: 'You have used 80% of your monthly budget' })).toBeVisible();
      await expect(page.getByTestId('budget-state')).toHaveText('Over 80% of your budget');
    } else {
      await expect(page.getByRole('heading', { name: 'You have reached your monthly budget' })).toBeVisible();
      await expect(page.getByTestId('budget-state')).toHaveText('Budget reached');
    }
  }
  await expect(page.getByRole('heading', { name: 'You have used 80% of your monthly budget' })).toHaveCount(1);
  await page.screenshot({ path: 'test-results/dashboard-budget-alerts.png', fullPage: true });
  await expectNoSeriousAxeViolations(page);
});
