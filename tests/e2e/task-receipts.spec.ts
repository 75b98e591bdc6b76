import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { e2eEnv } from '@/playwright.config';
import { currentUserId } from './session';
import {
  customerOf,
  expectFitsPhone,
  expectNoSeriousAxeViolations,
  fillCard,
  localStripe,
  runTask,
  signUpAtBilling,
  subscribeToPro,
} from './self-serve-helpers';

// A receipt for every task, in Chromium against the production build: from the dashboard's
// period and from a payment in the history, the tasks behind it, filtered, paged, as CSV.

const HOSTILE = '=HYPERLINK("http://evil.test","x")';

test("the period's tasks: reserved beside actual, filter by agent, pages, CSV", async ({ page, request }) => {
  await signUpAtBilling(page);
  const userId = await currentUserId(page);
  // Starter: 1,200 tokens x $0.001 + 1.5 min x $0.10 = $1.35, with $2.00 reserved beforehand.
  await runTask(request, userId, { agent: 'researcher', tokens: 1_200, executionMs: 90_000, reserve: 2 });
  await runTask(request, userId, { agent: HOSTILE, tokens: 5 });
  await runTask(request, userId, { agent: 'Smith, "Jr"\nbot', tokens: 3 });
  for (let n = 0; n < 26; n++) await runTask(request, userId, { agent: 'bulk', tokens: 1 });

  await page.goto('/billing');
  await page.getByRole('link', { name: "This period's tasks" }).click();
  // Headed by the period's dates in words.
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(/^Tasks in the period \w{3} \d{1,2}(, \d{4})? – \w{3} \d{1,2}, \d{4}$/);
  // 1,350,000 + 5,000 + 3,000 + 26 x 1,000 micro-dollars.
  await expect(page.getByTestId('task-totals')).toHaveText(/^29 tasks, costing \$1\.384 \(\$2\.00 reserved beforehand\)\./);
  await expect(page.getByTestId('task-row')).toHaveCount(25);
  await page.screenshot({ path: 'test-results/tasks-period.png', fullPage: true });
  await expectNoSeriousAxeViolations(page);
  await expectFitsPhone(page, 'tasks-period-phone.png');

  await page.getByRole('link', { name: 'Older tasks' }).click();
  await expect(page.getByTestId('task-row')).toHaveCount(4);
  const oldest = page.getByTestId('task-row').last();
  await expect(oldest.getByRole('cell')).toHaveText([/UTC$/, 'researcher', '1,200', '1.5', '$0.001/token, $0.10/min', '$2.00', '$1.35']);
  await expect(page.getByRole('link', { name: 'Older tasks' })).toHaveCount(0);

  // Filter by agent: the form keeps the period and drops the cursor.
  await page.getByLabel('Agent').selectOption(HOSTILE);
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByTestId('task-row')).toHaveCount(1);
  await expect(page.getByTestId('task-row').getByRole('cell').nth(1)).toHaveText(HOSTILE);
  await expect(page.getByTestId('task-totals')).toHaveText(/^1 task, costing \$0\.005\./);
  await page.getByRole('link', { name: 'Clear filters' }).click();
  await expect(page.getByTestId('task-totals')).toHaveText(/^29 tasks/);

  // The CSV of the same filter: every page, hostile names as inert text.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download as CSV' }).click()]);
  expect(download.suggestedFilename()).toMatch(/^tasks-period-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = readFileSync(await download.path(), 'utf8');
  expect(
    csv.startsWith('time_utc,agent,plan,tokens,execution_ms,minutes,token_rate_usd,minute_rate_usd,reserved_usd,cost_usd,task_id\r\n'),
  ).toBe(true);
  expect(csv.split('\r\n').filter(Boolean)).toHaveLength(30);
  expect(csv).toContain(`,"'=HYPERLINK(""http://evil.test"",""x"")",starter,5,`);
  expect(csv).toContain(',"Smith, ""Jr""\nbot",starter,3,');
  expect(csv).toMatch(/,researcher,starter,1200,90000,1\.500,0\.001000,0\.100000,2\.000000,1\.350000,/);

  // The database through the API, as the same user: the page showed what is stored.
  const stored = await page.request.get('/api/payments/tasks?limit=100');
  const body = (await stored.json()) as { data: { totals: unknown; tasks: { agent: string }[] } };
  expect(body.data.totals).toEqual({ tasks: 29, costMicros: 1_384_000, reservedMicros: 2_000_000 });
  // Filters and pages are in the address, so another user's session cannot reach them: a new
  // browser context without this session is sent to sign in.
  const stranger = await page.context().browser()!.newContext();
  const strangerPage = await stranger.newPage();
  await strangerPage.goto(new URL('/billing/tasks', page.url()).toString());
  await expect(strangerPage).toHaveURL(/\/sign-in\?next=%2Fbilling%2Ftasks$/);
  await stranger.close();
});

test('a top-up in the history opens the tasks it paid for; a bad filter is explained in words', async ({ page, request }) => {
  await signUpAtBilling(page);
  const userId = await currentUserId(page);
  await runTask(request, userId, { agent: 'before-top-up', tokens: 10 });
  await page.goto('/billing/checkout');
  await page.getByRole('button', { name: 'Continue to payment' }).click();
  await fillCard(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: 'Pay $10.00' }).click();
  await expect(page).toHaveURL(/\/billing\?paid=1$/, { timeout: 30_000 });
  // $10.00 more: with the $0.01 before, $0.01 goes beyond Starter's $10 allowance and is paid by the credit.
  await runTask(request, userId, { agent: 'after-top-up', tokens: 10_000 });

  await page.goto('/billing');
  const tasksLink = page.getByRole('link', { name: /^Tasks behind the top-up of / });
  const href = (await tasksLink.getAttribute('href'))!;
  const paymentIntentId = new URL(href, page.url()).searchParams.get('payment')!;
  expect(paymentIntentId).toMatch(/^pi_/);
  expect((await localStripe.paymentIntents.retrieve(paymentIntentId)).status).toBe('succeeded');
  await expectFitsPhone(page, 'dashboard-history-links-phone.png');
  await tasksLink.click();
  // Headed by the top-up's date and amount, not by its Stripe id.
  const paidOn = new Date((await localStripe.paymentIntents.retrieve(paymentIntentId)).created * 1000).toLocaleDateString('en-US', {
    dateStyle: 'medium',
    timeZone: 'UTC',
  });
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Tasks paid by the top-up of ${paidOn} ($10.00)`);
  await expect(page.getByTestId('task-row')).toHaveCount(1);
  await expect(page.getByTestId('task-row').getByRole('cell').nth(1)).toHaveText('after-top-up');
  await page.screenshot({ path: 'test-results/tasks-top-up.png', fullPage: true });
  await expectNoSeriousAxeViolations(page);

  // The top-up's receipt at Stripe, through our ownership check.
  await page.goto('/billing');
  await page.getByRole('link', { name: /^Receipt of the top-up of / }).click();
  await expect(page).toHaveURL(new RegExp(`^${e2eEnv.STRIPE_API_BASE.replaceAll('.', '\\.')}/`));
  await expect(page.getByText('$10.00').first()).toBeVisible();
  await page.screenshot({ path: 'test-results/receipt-top-up.png', fullPage: true });
  // Another user's (or a made-up) receipt is refused in words.
  await page.goto('/billing/receipts/pi_not_mine');
  await expect(page.getByRole('alert').filter({ hasText: 'You have no payment with that id' })).toBeVisible();

  await page.goto(`/billing/tasks?payment=${paymentIntentId}&from=2026-02-30`);
  await expect(page.getByRole('alert').filter({ hasText: 'from must be a real calendar date' })).toBeVisible();
  await page.goto('/billing/tasks?payment=in_not_mine');
  await expect(page.getByRole('alert').filter({ hasText: 'You have no invoice with that id' })).toBeVisible();
});

test("a subscription invoice in the history opens its period's tasks, headed by the invoice's date and amount", async ({
  page,
  request,
}) => {
  const email = await signUpAtBilling(page);
  await subscribeToPro(page);
  const userId = await currentUserId(page);
  await runTask(request, userId, { agent: 'on-pro', tokens: 2_000 });
  const [invoice] = (await localStripe.invoices.list({ customer: (await customerOf(email)).id })).data;
  expect(invoice?.status).toBe('paid');
  const issuedOn = new Date(invoice!.created * 1000).toLocaleDateString('en-US', { dateStyle: 'medium', timeZone: 'UTC' });

  await page.goto('/billing');
  await page.getByRole('link', { name: /^Tasks behind the invoice of / }).click();
  await expect(page).toHaveURL(new RegExp(`/billing/tasks\\?payment=${invoice!.id}$`));
  const heading = page.getByRole('heading', { level: 1 });
  await expect(heading).toHaveText(`Tasks paid by the invoice of ${issuedOn} ($50.00)`);
  await expect(page.getByText(/^The first subscription payment for the usage period /)).toBeVisible();
  await expect(page.getByTestId('task-row')).toHaveCount(1);
  await expect(page.getByTestId('task-row').getByRole('cell').nth(1)).toHaveText('on-pro');
  // No Stripe id in the title, nor in the line under it.
  expect(await page.locator('main h1, main h1 + p').allTextContents()).not.toContainEqual(
    expect.stringMatching(/\b(in|pi|sub)_[A-Za-z0-9]/),
  );
  await page.screenshot({ path: 'test-results/tasks-invoice.png', fullPage: true });
  await expectFitsPhone(page, 'tasks-invoice-phone.png');
});
