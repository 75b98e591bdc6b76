import { expect, test, type Page } from '@playwright/test';
import { startBarePage, type BarePage } from '@/tests/e2e/fixtures/bare-page';

// Saving a card with the Stripe.js stand-in under the real @stripe/react-stripe-js: a bare page
// mounts <Elements>/<PaymentElement> for a SetupIntent created through the real SDK and calls
// stripe.confirmSetup. The server's view (SetupIntent status, the customer's saved cards) is
// checked after each attempt.

let barePage: BarePage;
let stripe: BarePage['stripe'];
let baseUrl: string;

test.beforeAll(async () => {
  barePage = await startBarePage('tests/e2e/fixtures/elements-setup.tsx', 'Save a card');
  ({ stripe, baseUrl } = barePage);
});

test.afterAll(async () => {
  await barePage.close();
});

async function fillCard(page: Page, card: string): Promise<void> {
  await expect(page.getByTestId('ready')).toHaveText('true');
  await page.getByLabel('Card number').fill(card);
  await page.getByLabel('Expiry').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  await expect(page.getByTestId('complete')).toHaveText('true');
}

async function savedCards(customer: string): Promise<string[]> {
  return (await stripe.customers.listPaymentMethods(customer)).data.map((pm) => pm.card?.last4 ?? '');
}

test("saves 4242 with confirmSetup: the SetupIntent succeeds and the card is the customer's", async ({ page }) => {
  const customer = await stripe.customers.create({ email: 'save-4242@example.com' });
  const seti = await stripe.setupIntents.create({ customer: customer.id });
  await page.goto(`${baseUrl}/?cs=${seti.client_secret}`);
  await fillCard(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: 'Save card' }).click();
  await expect(page.getByTestId('status')).toHaveText('done:succeeded');
  const after = await stripe.setupIntents.retrieve(seti.id);
  expect(after.status).toBe('succeeded');
  expect(await savedCards(customer.id)).toEqual(['4242']);
  expect((await stripe.paymentMethods.retrieve(String(after.payment_method))).customer).toBe(customer.id);
});

test('3155 asks for 3-D Secure in the stand-in challenge; Complete saves the card', async ({ page }) => {
  const customer = await stripe.customers.create({});
  const seti = await stripe.setupIntents.create({ customer: customer.id });
  await page.goto(`${baseUrl}/?cs=${seti.client_secret}`);
  await fillCard(page, '4000 0025 0000 3155');
  await page.getByRole('button', { name: 'Save card' }).click();
  const dialog = page.getByRole('dialog', { name: '3D Secure authentication' });
  await expect(dialog).toBeVisible();
  // While the challenge is open, the server holds the SetupIntent in requires_action.
  expect((await stripe.setupIntents.retrieve(seti.id)).status).toBe('requires_action');
  await dialog.getByRole('button', { name: 'Complete' }).click();
  await expect(page.getByTestId('status')).toHaveText('done:succeeded');
  expect((await stripe.setupIntents.retrieve(seti.id)).status).toBe('succeeded');
  expect(await savedCards(customer.id)).toEqual(['3155']);
});

test('3155 with Fail: setup_intent_authentication_failure, nothing saved', async ({ page }) => {
  const customer = await stripe.customers.create({});
  const seti = await stripe.setupIntents.create({ customer: customer.id });
  await page.goto(`${baseUrl}/?cs=${seti.client_secret}`);
  await fillCard(page, '4000 0025 0000 3155');
  await page.getByRole('button', { name: 'Save card' }).click();
  await page.getByRole('dialog', { name: '3D Secure authentication' }).getByRole('button', { name: 'Fail' }).click();
  await expect(page.getByTestId('status')).toHaveText('error:setup_intent_authentication_failure:');
  const after = await stripe.setupIntents.retrieve(seti.id);
  expect(after.status).toBe('requires_payment_method');
  expect(after.last_setup_error?.code).toBe('setup_intent_authentication_failure');
  expect(await savedCards(customer.id)).toEqual([]);
});

test('a declined card (0002) shows the decline and saves nothing', async ({ page }) => {
  const customer = await stripe.customers.create({});
  const seti = await stripe.setupIntents.create({ customer: customer.id });
  await page.goto(`${baseUrl}/?cs=${seti.client_secret}`);
  await fillCard(page, '4000 0000 0000 0002');
  await page.getByRole('button', { name: 'Save card' }).click();
  await expect(page.getByTestId('status')).toHaveText('error:card_declined:generic_decline');
  expect((await stripe.setupIntents.retrieve(seti.id)).status).toBe('requires_payment_method');
  expect(await savedCards(customer.id)).toEqual([]);
});

test('deferred Elements (mode: setup): submit, then confirmSetup with the secret saves 4242', async ({ page }) => {
  const customer = await stripe.customers.create({});
  const seti = await stripe.setupIntents.create({ customer: customer.id });
  await page.goto(`${baseUrl}/?mode=deferred&cs=${seti.client_secret}`);
  await fillCard(page, '4242 4242 4242 4242');
  await page.getByRole('button', { name: 'Save card' }).click();
  await expect(page.getByTestId('status')).toHaveText('done:succeeded');
  expect((await stripe.setupIntents.retrieve(seti.id)).status).toBe('succeeded');
  expect(await savedCards(customer.id)).toEqual(['4242']);
});
