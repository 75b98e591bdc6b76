import { expect, test, type Page } from '@playwright/test';
import { e2eEnv } from '@/playwright.config';
import {
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

// Payment methods in Chromium against the production build and the local Stripe: cards saved
// through the real <PaymentElement> with SetupIntents (3-D Secure in the stand-in's challenge),
// the default, removal and its rule; Stripe's state checked after each step.

async function addCard(page: Page, number: string, options: { makeDefault?: boolean } = {}) {
  await page.getByRole('button', { name: 'Add a card' }).click();
  await fillCard(page, number);
  const choice = page.getByLabel('Use this card for my subscription and later payments');
  if (options.makeDefault === false) await choice.uncheck();
  await page.getByRole('button', { name: 'Save card' }).click();
}

test('adds cards (4242, 3155 through 3-D Secure), refuses a declined one in words, changes the default', async ({ page }) => {
  const email = await signUpAtBilling(page);
  await page.getByRole('navigation', { name: 'Billing' }).getByRole('link', { name: 'Payment methods' }).click();
  await expect(page.getByRole('heading', { name: 'Payment methods', level: 1 })).toBeVisible();
  await expect(page.getByText('No saved cards yet.')).toBeVisible();
  await expectNoSeriousAxeViolations(page);

  await addCard(page, '4242 4242 4242 4242');
  await expect(page.getByRole('status').filter({ hasText: 'Your card was saved.' })).toBeVisible({ timeout: 20_000 });
  const visa = page.getByRole('listitem', { name: 'Visa ending 4242' });
  await expect(visa).toContainText('expires 12/2034');
  await expect(visa.getByText('Default', { exact: true })).toBeVisible();
  const customer = await customerOf(email);
  const [savedVisa] = await savedCardsAtStripe(customer.id);
  expect(savedVisa?.last4).toBe('4242');
  expect(await defaultCardAtStripe(customer.id)).toBe(savedVisa!.id);

  // 3155 asks for authentication: the stand-in's challenge, then saved, not as the default.
  await addCard(page, '4000 0025 0000 3155', { makeDefault: false });
  await page.getByRole('dialog', { name: '3D Secure authentication' }).getByRole('button', { name: 'Complete' }).click();
  await expect(page.getByRole('listitem', { name: 'Visa ending 3155' })).toBeVisible({ timeout: 20_000 });
  await expect(page.getByRole('listitem', { name: 'Visa ending 3155' }).getByText('Default', { exact: true })).toHaveCount(0);
  expect((await savedCardsAtStripe(customer.id)).map((card) => card.last4).sort()).toEqual(['3155', '4242']);
  expect(await defaultCardAtStripe(customer.id)).toBe(savedVisa!.id);

  // A declined card: the reason in words, nothing saved.
  await addCard(page, '4000 0000 0000 0002');
  await expect(
    page
      .getByRole('alert')
      .filter({ hasText: 'Your card was declined, so the card was not saved. Try another card or contact your bank.' }),
  ).toBeVisible();
  expect(await savedCardsAtStripe(customer.id)).toHaveLength(2);
  await page.screenshot({ path: 'test-results/payment-methods-declined.png', fullPage: true });

  await page.goto('/billing/payment-methods');
  await page.getByRole('button', { name: 'Make Visa ending 3155 the default' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'That card now pays your subscription and your later payments.' })).toBeVisible();
  const secure = (await savedCardsAtStripe(customer.id)).find((card) => card.last4 === '3155')!;
  expect(await defaultCardAtStripe(customer.id)).toBe(secure.id);
  await expect(page.getByTestId('saved-card').first()).toHaveAccessibleName('Visa ending 3155');
  await page.screenshot({ path: 'test-results/payment-methods.png', fullPage: true });
  await expectNoSeriousAxeViolations(page);
  await expectFitsPhone(page, 'payment-methods-phone.png');

  // Without a subscription, any card can go.
  await page.getByRole('button', { name: 'Remove Visa ending 4242' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'The card was removed.' })).toBeVisible();
  expect((await savedCardsAtStripe(customer.id)).map((card) => card.last4)).toEqual(['3155']);
});

test('the only card paying the subscription stays; with a second card it can go, and the second pays', async ({ page }) => {
  const email = await signUpAtBilling(page);
  await subscribeToPro(page);
  const customer = await customerOf(email);
  const subscription = (await localStripe.subscriptions.list({ customer: customer.id })).data[0]!;
  const [paying] = await savedCardsAtStripe(customer.id);

  // The first invoice from the history: its hosted page and its PDF at Stripe.
  await page.goto('/billing');
  const pdf = await page.request.get((await page.getByRole('link', { name: /^Invoice PDF of / }).getAttribute('href'))!);
  expect(pdf.headers()['content-type']).toContain('application/pdf');
  expect((await pdf.body()).subarray(0, 5).toString()).toBe('%PDF-');
  await page.getByRole('link', { name: /^Invoice of / }).click();
  await expect(page).toHaveURL(new RegExp(`^${e2eEnv.STRIPE_API_BASE.replaceAll('.', '\\.')}/`));
  await expect(page.getByText('$50.00').first()).toBeVisible();
  await page.screenshot({ path: 'test-results/invoice-hosted.png', fullPage: true });

  await page.goto('/billing');
  await page.getByRole('link', { name: 'Payment methods' }).last().click();
  await expect(page.getByTestId('saved-card')).toHaveCount(1);
  await page.getByRole('button', { name: 'Remove Visa ending 4242' }).click();
  await expect(
    page.getByRole('alert').filter({
      hasText:
        'This card pays your subscription and is your only card, so it cannot be removed. Add another card first, or cancel the subscription.',
    }),
  ).toBeVisible();
  expect((await savedCardsAtStripe(customer.id)).map((card) => card.id)).toEqual([paying!.id]);
  await page.screenshot({ path: 'test-results/payment-methods-only-card.png', fullPage: true });

  await addCard(page, '5555 5555 5555 4444', { makeDefault: false });
  await expect(page.getByRole('listitem', { name: 'Mastercard ending 4444' })).toBeVisible({ timeout: 20_000 });
  await page.getByRole('button', { name: 'Remove Visa ending 4242' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'The card was removed.' })).toBeVisible();
  const [left] = await savedCardsAtStripe(customer.id);
  expect(left?.last4).toBe('4444');
  // The remaining card now pays the subscription and later payments, at Stripe.
  expect((await localStripe.subscriptions.retrieve(subscription.id)).default_payment_method).toBe(left!.id);
  expect(await defaultCardAtStripe(customer.id)).toBe(left!.id);
  await expect(page.getByRole('listitem', { name: 'Mastercard ending 4444' }).getByText('Default', { exact: true })).toBeVisible();
});
