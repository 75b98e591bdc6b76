import { createServer, type Server } from 'node:http';
import { build } from 'esbuild';
import { expect, test } from '@playwright/test';
import Stripe from 'stripe';
import { startLocalStripe } from '@/local/stripe/server';

// The Stripe.js stand-in under the real @stripe/react-stripe-js: a bare page (bundled here with
// esbuild) loads the stand-in from a local Stripe in <head>, mounts <Elements>/<PaymentElement>
// and confirms a PaymentIntent created through the real SDK. The server's view of the intent is
// checked after each attempt.

let localStripe: Awaited<ReturnType<typeof startLocalStripe>>;
let stripe: Stripe;
let pageServer: Server;
let baseUrl: string;

test.beforeAll(async () => {
  const bundle = await build({
    entryPoints: ['tests/e2e/fixtures/elements-checkout.tsx'],
    bundle: true,
    write: false,
    format: 'esm',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const script = bundle.outputFiles[0]!.text;
  localStripe = await startLocalStripe({ port: 0, deliverWebhooks: false, billingSweepMs: 0 });
  stripe = new Stripe('sk_test_e2e', localStripe.sdkConfig);
  pageServer = createServer((request, response) => {
    if (request.url?.startsWith('/app.js')) {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      return;
    }
    response
      .writeHead(200, { 'content-type': 'text/html' })
      .end(
        `<!doctype html><html lang="en"><head><title>Checkout</title><script src="${localStripe.url}/js/stripe.js"></script></head><body><div id="root"></div><script type="module" src="/app.js"></script></body></html>`,
      );
  });
  await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  const address = pageServer.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

test.afterAll(async () => {
  await new Promise((resolve) => pageServer.close(resolve));
  await localStripe.close();
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
