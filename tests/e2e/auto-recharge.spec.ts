import { expect, test, type Page } from '@playwright/test';
import { currentUserId } from './session';
import {
  customerOf,
  defaultCardAtStripe,
  expectFitsPhone,
  expectNoSeriousAxeViolations,
  fillCard,
  localStripe,
  runTask,
  signUpAtBilling,
} from './self-serve-helpers';

// Auto-recharge in Chromium against the production build and the local Stripe: the opt-in on the
// dashboard, a task that takes the balance below the threshold, the off-session charge and its
// credit; and a card whose bank wants the user (3184), confirmed from the notification. Stripe's
// state is read through the SDK, the database through the API as the same user.

interface AutoRechargeState {
  enabled: boolean;
  thisMonthCents: number;
  openRecharge: { status: string } | null;
}

async function saveCard(page: Page, number: string, challenge: boolean) {
  await page.goto('/billing/payment-methods');
  await page.getByRole('button', { name: 'Add a card' }).click();
  await fillCard(page, number);
  await page.getByRole('button', { name: 'Save card' }).click();
  if (challenge) await page.getByRole('dialog', { name: '3D Secure authentication' }).getByRole('button', { name: 'Complete' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Your card was saved.' })).toBeVisible({ timeout: 20_000 });
}

async function turnOn(page: Page, threshold: string, amount: string, cap: string) {
  await page.goto('/billing#auto-recharge');
  const card = page.getByRole('region', { name: 'Auto-recharge' });
  await card.getByLabel('Turn on auto-recharge').check();
  await card.getByLabel('When my balance falls below (US dollars)').fill(threshold);
  await card.getByLabel('Add (US dollars)').fill(amount);
  await card.getByLabel('At most per month (US dollars)').fill(cap);
  await card.getByRole('button', { name: 'Save auto-recharge' }).click();
  return card;
}

// A fresh connection each time: a kept-alive one the server closed while the test waited resets.
const readSettings = (page: Page) => page.request.get('/api/payments/auto-recharge', { headers: { connection: 'close' } });

async function stored(page: Page): Promise<AutoRechargeState> {
  return ((await (await readSettings(page)).json()) as { data: AutoRechargeState }).data;
}

test('turned on from the dashboard, a task below the threshold recharges the default card once, and the credit shows', async ({
  page,
  request,
}) => {
  const email = await signUpAtBilling(page);
  const userId = await currentUserId(page);

  // Without a card it explains, and saves nothing.
  let card = await turnOn(page, '1', '5', '20');
  await expect(card.getByRole('alert')).toHaveText('Add a card and make it your default first: auto-recharge charges it.');
  expect(await (await readSettings(page)).json()).toEqual({ data: null });

  await saveCard(page, '4242 4242 4242 4242', false);
  card = await turnOn(page, '1', '5', '20');
  await expect(card.getByRole('status').filter({ hasText: 'Auto-recharge is on.' })).toBeVisible();
  await expect(card.getByTestId('auto-recharge-state')).toHaveText(
    'On Below $1.00, we add $5.00 with your default card, at most $20.00 a month. This month: $0.00.',
  );
  await expectNoSeriousAxeViolations(page);
  await expectFitsPhone(page, 'auto-recharge-on-phone.png');

  // $9.50 of the $10 Starter allowance: $0.50 left, below $1.
  await runTask(request, userId, { agent: 'writer', tokens: 9_500 });
  await expect.poll(async () => (await stored(page)).thisMonthCents, { timeout: 20_000 }).toBe(500);
  await expect.poll(async () => (await stored(page)).openRecharge, { timeout: 20_000 }).toBeNull();

  await page.goto('/billing');
  await expect(page.getByRole('heading', { name: 'Auto-recharge added $5.00' })).toBeVisible();
  await expect(page.getByTestId('credits')).toHaveText('$5.00');
  await expect(page.getByTestId('remaining')).toContainText('$5.50');
  await expect(page.getByRole('row').filter({ hasText: 'Auto-recharge' })).toContainText('$5.00');
  await page.screenshot({ path: 'test-results/auto-recharge-dashboard.png', fullPage: true });

  // At Stripe: one off-session charge of $5.00 to the default card, marked as this recharge.
  const customer = await customerOf(email);
  const intents = (await localStripe.paymentIntents.list({ customer: customer.id })).data;
  expect(intents.map((intent) => [intent.amount, intent.status, intent.payment_method])).toEqual([
    [500, 'succeeded', await defaultCardAtStripe(customer.id)],
  ]);
  expect(intents[0]!.metadata).toMatchObject({ purpose: 'usage_topup', userId });
});

test('a card that needs the bank: the notification leads to the confirmation, the challenge, and the credit', async ({ page, request }) => {
  const email = await signUpAtBilling(page);
  const userId = await currentUserId(page);
  await saveCard(page, '4000 0027 6000 3184', true);
  const card = await turnOn(page, '2', '5', '50');
  await expect(card.getByRole('status').filter({ hasText: 'Auto-recharge is on.' })).toBeVisible();

  await runTask(request, userId, { agent: 'writer', tokens: 9_000 });
  await expect.poll(async () => (await stored(page)).openRecharge?.status, { timeout: 20_000 }).toBe('requires_action');

  await page.goto('/billing');
  await expect(page.getByRole('heading', { name: 'Confirm your auto-recharge of $5.00' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Auto-recharge' }).getByRole('alert')).toContainText(
    'Your bank asks you to confirm a recharge of $5.00.',
  );
  await page.getByRole('link', { name: 'Confirm the payment' }).click();
  await expect(page.getByRole('heading', { name: 'Confirm auto-recharge', level: 1 })).toBeVisible();
  await expect(page.getByText('with your Visa ending 3184')).toBeVisible();
  await expectNoSeriousAxeViolations(page);
  await expectFitsPhone(page, 'auto-recharge-confirm-phone.png');

  // Nothing was taken before the user confirmed.
  const customer = await customerOf(email);
  const [held] = (await localStripe.paymentIntents.list({ customer: customer.id })).data;
  expect(held).toMatchObject({ amount: 500, status: 'requires_payment_method' });

  await page.getByRole('button', { name: 'Confirm $5.00' }).click();
  await page.getByRole('dialog', { name: '3D Secure authentication' }).getByRole('button', { name: 'Complete' }).click();
  await expect(page.getByTestId('recharge-state')).toHaveText(/This recharge is paid\./, { timeout: 20_000 });

  expect((await localStripe.paymentIntents.retrieve(held!.id)).status).toBe('succeeded');
  await expect.poll(async () => (await stored(page)).openRecharge, { timeout: 20_000 }).toBeNull();
  expect((await stored(page)).thisMonthCents).toBe(500);
  await page.goto('/billing');
  await expect(page.getByTestId('credits')).toHaveText('$5.00');
});

test('three declines in a row turn auto-recharge off, and the dashboard says why and what to do', async ({ page, request }) => {
  const email = await signUpAtBilling(page);
  const userId = await currentUserId(page);
  // 0341 is saved (the card check passes) but every charge of it is declined.
  await saveCard(page, '4000 0000 0000 0341', false);
  const card = await turnOn(page, '100', '5', '50');
  await expect(card.getByRole('status').filter({ hasText: 'Auto-recharge is on.' })).toBeVisible();
  // Another tab keeps the form as it was while auto-recharge was on.
  const staleTab = await page.context().newPage();
  await staleTab.goto('/billing#auto-recharge');

  for (let attempt = 1; attempt <= 4; attempt++) {
    await runTask(request, userId, { agent: 'writer', tokens: 100 });
    await expect.poll(async () => (await stored(page)).openRecharge, { timeout: 20_000 }).toBeNull();
  }
  expect(await stored(page)).toMatchObject({ enabled: false, thisMonthCents: 0 });

  await page.goto('/billing');
  await expect(page.getByRole('heading', { name: 'Auto-recharge is off after 3 declined payments' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Auto-recharge' }).getByTestId('auto-recharge-state')).toContainText(
    'Auto-recharge turned itself off after your card was declined 3 times in a row.',
  );
  await expectNoSeriousAxeViolations(page);
  await page.screenshot({ path: 'test-results/auto-recharge-off.png', fullPage: true });

  // At Stripe: three declined attempts (the fourth task started none), nothing taken.
  const customer = await customerOf(email);
  const intents = (await localStripe.paymentIntents.list({ customer: customer.id })).data;
  expect(intents.map((intent) => intent.status)).toEqual(['requires_payment_method', 'requires_payment_method', 'requires_payment_method']);
  // Saving the stale tab does not silently turn it back on.
  await staleTab.getByRole('button', { name: 'Save auto-recharge' }).click();
  await expect(staleTab.getByRole('region', { name: 'Auto-recharge' }).getByRole('alert')).toContainText(
    'Auto-recharge was turned off while this page was open',
  );
  expect(await stored(page)).toMatchObject({ enabled: false });
  await staleTab.close();

  await page.getByRole('link', { name: 'Update your card' }).first().click();
  await expect(page.getByRole('heading', { name: 'Payment methods', level: 1 })).toBeVisible();
});
