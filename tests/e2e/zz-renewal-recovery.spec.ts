import { expect, test, type Page } from '@playwright/test';
import {
  advanceLocalStripeClock,
  customerOf,
  defaultCardAtStripe,
  expectFitsPhone,
  expectNoSeriousAxeViolations,
  fillCard,
  localStripe,
  savedCardsAtStripe,
  signUpAtBilling,
  subscribeToPro,
} from './self-serve-helpers';

// Recovery from a failed renewal in Chromium: the renewal is charged to a card that attaches but
// always fails (pm_card_chargeCustomerFail); the dashboard says so with one action, "Update card
// and pay"; a declined card is refused in words; a new card (3-D Secure) pays the open invoice
// at once and the plan is active again. Stripe's state and ours are checked.
//
// Named to run last: it moves the local Stripe's clock (for every customer without a test
// clock) a month ahead in each test, which the other browser tests must not see.

/** A new Pro subscriber (4242) whose renewal, charged to 0341, has failed: past due. */
async function pastDueProSubscriber(page: Page) {
  const email = await signUpAtBilling(page);
  await subscribeToPro(page);
  const customer = await customerOf(email);
  const [firstCard] = await savedCardsAtStripe(customer.id);
  const subscription = (await localStripe.subscriptions.list({ customer: customer.id })).data[0]!;
  const failing = await localStripe.paymentMethods.attach('pm_card_chargeCustomerFail', { customer: customer.id });
  await localStripe.subscriptions.update(subscription.id, { default_payment_method: failing.id });
  await localStripe.customers.update(customer.id, { invoice_settings: { default_payment_method: failing.id } });
  // A month and an hour later the renewal is due; it fails.
  await advanceLocalStripeClock(31 * 86_400 + 3_600);
  const renewal = (await localStripe.invoices.list({ subscription: subscription.id, status: 'open' })).data[0]!;
  expect(renewal.billing_reason).toBe('subscription_cycle');
  expect((await localStripe.subscriptions.retrieve(subscription.id)).status).toBe('past_due');
  return { customer, subscription, renewal, firstCard: firstCard!, failing };
}

/** The dashboard's subscription and card as our API reads them (the database, and Stripe for the card). */
async function billingAsRead(page: Page) {
  const response = await page.request.get('/api/payments/billing');
  expect(response.status()).toBe(200);
  return (
    (await response.json()) as {
      data: { subscription: { status: string; currentPeriodStart: string }; paymentMethod: { last4: string } | null };
    }
  ).data;
}

test('a failed renewal is recovered from the dashboard with a new card', async ({ page }) => {
  const { customer, subscription, renewal } = await pastDueProSubscriber(page);

  await page.goto('/billing');
  const notice = page.getByTestId('past-due');
  await expect(notice.getByRole('heading', { name: 'Your payment failed: your Pro plan is past due' })).toBeVisible();
  await expect(notice).toContainText('We could not charge $50.00 for your renewal.');
  const retryOn = new Date(renewal.next_payment_attempt! * 1000).toLocaleDateString('en-US', { dateStyle: 'medium', timeZone: 'UTC' });
  await expect(notice).toContainText(`We will try again automatically on ${retryOn}.`);
  await expect(notice.getByRole('link')).toHaveText(['Update card and pay']);
  // The plan card no longer promises a renewal that already failed.
  await expect(page.getByText(/^Renewal of \$50\.00 unpaid/)).toBeVisible();
  await expect(page.getByText(/Renews on/)).toHaveCount(0);
  await page.screenshot({ path: 'test-results/dashboard-past-due.png', fullPage: true });
  await expectNoSeriousAxeViolations(page);
  await expectFitsPhone(page, 'dashboard-past-due-phone.png');

  await notice.getByRole('link', { name: 'Update card and pay' }).click();
  await expect(page.getByRole('heading', { name: 'Update card and pay' })).toBeVisible();
  await expectNoSeriousAxeViolations(page);
  await expectFitsPhone(page, 'recover-phone.png');

  // The card that failed is marked so; it is refused again, in words, and nothing changes.
  await page.getByRole('radio', { name: /ending 0341, expires 12\/2029 \(your default card, declined for this renewal\)$/ }).check();
  await page.getByRole('button', { name: 'Pay $50.00 now' }).click();
  await expect(
    page
      .getByRole('alert')
      .filter({ hasText: 'Your card was declined, so the invoice was not paid. Try another card or contact your bank.' }),
  ).toBeVisible();
  expect((await localStripe.invoices.retrieve(renewal.id)).status).toBe('open');

  // A new card that asks for 3-D Secure: saved, then the invoice is paid at once.
  await page.getByRole('button', { name: 'Add a new card' }).click();
  await fillCard(page, '4000 0025 0000 3155');
  await page.getByRole('button', { name: 'Save card and pay $50.00' }).click();
  await page.getByRole('dialog', { name: '3D Secure authentication' }).getByRole('button', { name: 'Complete' }).click();
  await expect(page).toHaveURL(/\/billing\?recovered=1$/, { timeout: 30_000 });
  await expect(page.getByRole('status').filter({ hasText: 'your renewal is paid and your plan is active again' })).toBeVisible();
  await expect(page.getByTestId('past-due')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/dashboard-recovered.png', fullPage: true });

  // At Stripe: the renewal paid, the subscription active, the new card pays from now on.
  const paid = await localStripe.invoices.retrieve(renewal.id);
  expect(paid.status).toBe('paid');
  expect(paid.amount_paid).toBe(5000);
  const secure = (await savedCardsAtStripe(customer.id)).find((card) => card.last4 === '3155')!;
  const after = await localStripe.subscriptions.retrieve(subscription.id);
  expect(after.status).toBe('active');
  expect(after.default_payment_method).toBe(secure.id);
  expect(await defaultCardAtStripe(customer.id)).toBe(secure.id);
  await expect(page.getByText('Card: Visa ending 3155, expires 12/2034')).toBeVisible();
  // In our database (read back through the API as the user): active, the renewal paid in the history.
  const billing = await billingAsRead(page);
  expect(billing.subscription.status).toBe('active');
  expect(new Date(billing.subscription.currentPeriodStart).getTime()).toBe(after.items.data[0]!.current_period_start * 1000);
  expect(billing.paymentMethod?.last4).toBe('3155');
  const history = (await (await page.request.get('/api/payments/history?limit=10')).json()) as {
    data: { entries: { id: string; status: string }[] };
  };
  expect(history.data.entries.find((entry) => entry.id === renewal.id)?.status).toBe('paid');
});

test('the saved card preselected on "Update card and pay" pays with the keyboard alone, and pays the renewals after it', async ({
  page,
}) => {
  const { customer, subscription, renewal, firstCard, failing } = await pastDueProSubscriber(page);
  await page.goto('/billing');
  await page.getByTestId('past-due').getByRole('link', { name: 'Update card and pay' }).click();
  await expect(page.getByRole('heading', { name: 'Update card and pay' })).toBeVisible();

  // The default card (0341) was declined for this renewal: the other saved card, 4242, is preselected.
  const good = page.getByRole('radio', { name: /ending 4242, expires 12\/2034$/ });
  const declined = page.getByRole('radio', { name: /ending 0341, .*declined for this renewal/ });
  await expect(good).toBeChecked();
  await expect(declined).not.toBeChecked();
  await page.screenshot({ path: 'test-results/recover-preselected.png', fullPage: true });

  // Keyboard only: Tab reaches the card group on its checked card; the arrows move the choice
  // and back; Tab goes on to the button, and Enter pays.
  const focused = () => page.evaluate(() => document.activeElement?.getAttribute('value') ?? document.activeElement?.textContent ?? '');
  let presses = 0;
  while ((await focused()) !== firstCard.id) {
    expect(++presses, 'Tab never reached the preselected card').toBeLessThan(30);
    await page.keyboard.press('Tab');
  }
  await page.keyboard.press('ArrowUp');
  await expect(declined).toBeChecked();
  await page.keyboard.press('ArrowDown');
  await expect(good).toBeChecked();
  await page.keyboard.press('Tab');
  expect(await focused()).toBe('Pay $50.00 now');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/billing\?recovered=1$/, { timeout: 30_000 });
  // The dashboard names the card that pays from now on.
  await expect(page.getByText('Card: Visa ending 4242, expires 12/2034')).toBeVisible();

  // At Stripe: paid with 4242, which is now the default of the subscription and the customer.
  const paid = await localStripe.invoices.retrieve(renewal.id);
  expect(paid.status).toBe('paid');
  const after = await localStripe.subscriptions.retrieve(subscription.id);
  expect(after.status).toBe('active');
  expect(after.default_payment_method).toBe(firstCard.id);
  expect(await defaultCardAtStripe(customer.id)).toBe(firstCard.id);
  expect(firstCard.id).not.toBe(failing.id);
  // In our database, through the API as the user: active again, and the card it reports is 4242.
  const billing = await billingAsRead(page);
  expect(billing.subscription.status).toBe('active');
  expect(billing.paymentMethod?.last4).toBe('4242');
});
