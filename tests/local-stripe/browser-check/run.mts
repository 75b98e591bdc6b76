// Manual smoke check of the Stripe.js stand-in in Chromium with the real
// @stripe/react-stripe-js <Elements>/<PaymentElement> (not part of `vitest run`):
//   apt-get install -y chromium && npx tsx tests/local-stripe/browser-check/run.mts
// Bundles app.tsx with esbuild (present through tsx), serves it with the
// stand-in in <head>, and pays with each test card, answering the 3DS dialog.
import { build } from 'esbuild';
import { createServer } from 'node:http';
import { chromium } from 'playwright';
import Stripe from 'stripe';
import { startLocalStripe } from '../../../local/stripe/server.ts';

const bundle = await build({ entryPoints: [new URL('./app.tsx', import.meta.url).pathname], bundle: true, write: false, format: 'esm', jsx: 'automatic', define: { 'process.env.NODE_ENV': '"development"' } });
const js = bundle.outputFiles[0]!.text;
const ls = await startLocalStripe({ port: 0, deliverWebhooks: false, billingSweepMs: 0 });
const stripe = new Stripe('sk_test_x', ls.sdkConfig);
const page$ = createServer((req, res) => {
  if (req.url?.startsWith('/app.js')) { res.writeHead(200, { 'Content-Type': 'text/javascript' }); res.end(js); return; }
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end(`<!doctype html><html><head><script src="${ls.url}/js/stripe.js"></script></head><body><div id="root"></div><script type="module" src="/app.js"></script></body></html>`);
});
await new Promise<void>((r) => page$.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(page$.address() as { port: number }).port}`;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage();
const logs: string[] = [];
page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));

async function run(card: string, mode: 'intent' | 'deferred', action?: 'Complete' | 'Fail') {
  const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd' });
  await page.goto(`${base}/?cs=${pi.client_secret}&mode=${mode}`);
  await page.getByTestId('ready').getByText('true').waitFor();
  await page.getByLabel('Card number').fill(card);
  await page.getByLabel('Expiry').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
  await page.getByTestId('complete').getByText('true').waitFor();
  await page.getByRole('button', { name: 'Pay' }).click();
  if (action) {
    await page.getByRole('dialog', { name: '3D Secure authentication' }).waitFor();
    await page.getByRole('button', { name: action }).click();
  }
  await page.getByTestId('status').getByText(/done|error/).waitFor();
  const status = await page.getByTestId('status').textContent();
  const server = (await stripe.paymentIntents.retrieve(pi.id)).status;
  console.log(`${mode} ${card} ${action ?? ''} -> ${status} (server: ${server})`);
}
try {
  await run('4242 4242 4242 4242', 'intent');
  await run('4242424242424242', 'deferred');
  await run('4000 0000 0000 0002', 'intent');
  await run('4000 0000 0000 9995', 'intent');
  await run('4000 0025 0000 3155', 'intent', 'Complete');
  await run('4000 0025 0000 3155', 'intent', 'Fail');
  // incomplete card -> submit error
  const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd' });
  await page.goto(`${base}/?cs=${pi.client_secret}`);
  await page.getByTestId('ready').getByText('true').waitFor();
  await page.getByLabel('Card number').fill('4242');
  await page.getByRole('button', { name: 'Pay' }).click();
  await page.getByTestId('status').getByText(/error/).waitFor();
  console.log('incomplete ->', await page.getByTestId('status').textContent(), '| alert:', await page.getByRole('alert').textContent());
} finally {
  console.log(logs.filter((l) => !l.includes('Download the React DevTools')).join('\n'));
  await browser.close();
  page$.close();
  await ls.close();
}
