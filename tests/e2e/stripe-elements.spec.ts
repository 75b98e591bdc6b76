import { expect, test } from '@playwright/test';
import { startBarePage, type BarePage } from '@/tests/e2e/fixtures/bare-page';

// The Stripe.js stand-in under the real @stripe/react-stripe-js: a bare page (bundled here with
// esbuild) loads the stand-in from a local Stripe in <head>, mounts <Elements>/<PaymentElement>
// and confirms a PaymentIntent created through the real SDK. The server's view of the intent is
// checked after each attempt.

let barePage: BarePage;
let stripe: BarePage['stripe'];
let baseUrl: string;

test.beforeAll(async () => {
  barePage = await startBarePage('tests/e2e/fixtures/elements-checkout.tsx', 'Checkout');
  ({ stripe, baseUrl } = barePage);
});

test.afterAll(async () => {
  await barePage.close();
});

const CASES = [
  { card: '4242 4242 4242 4242', status: 'done:succeeded', server: 'succeeded' },
  { card: '4000 0000 0000 0002', status: 'error:card_declined:generic_decline', server: 'requires_payment_method' },
  { card: '4000 0000 0000 9995', status: 'error:card_declined:insufficient_funds', server: 'requires_payment_method' },
] as const;

for (const { card, status, server } of CASES) {
  test(`pays with ${card} through the real PaymentElement: ${status}`, async ({ page }) => {
    const intent = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd' });
    await page.goto(`${baseUrl}/?cs=${intent.client_secret}`);
    await expect(page.getByTestId('ready')).toHaveText('true');
    await page.getByLabel('Card number').fill(card);
    await page.getByLabel('Expiry').fill('12 / 34');
    await page.getByLabel('CVC').fill('123');
    await expect(page.getByTestId('complete')).toHaveText('true');
    await page.getByRole('button', { name: 'Pay' }).click();
    await expect(page.getByTestId('status')).toHaveText(status);
    expect((await stripe.paymentIntents.retrieve(intent.id)).status).toBe(server);
    if (card.startsWith('4242')) await page.screenshot({ path: 'test-results/elements-checkout-4242.png' });
  });
}

test('completes 3-D Secure for 4000 0025 0000 3155 in the stand-in challenge', async ({ page }) => {
  const intent = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd' });
  await page.goto(`${baseUrl}/?cs=${intent.client_secret}`);
  await expect(page.getByTestId('ready')).toHaveText('true');
  await page.getByLabel('Card number').fill('4000 0025 0000 3155');
  await page.getByLabel('Expiry').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  await page.getByRole('button', { name: 'Pay' }).click();
  await page.getByRole('dialog', { name: '3D Secure authentication' }).getByRole('button', { name: 'Complete' }).click();
  await expect(page.getByTestId('status')).toHaveText('done:succeeded');
  expect((await stripe.paymentIntents.retrieve(intent.id)).status).toBe('succeeded');
});
