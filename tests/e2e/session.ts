import type { Page } from '@playwright/test';
import { e2eEnv } from '@/playwright.config';

/** The signed-in user's id, read from the @supabase/ssr session cookie the browser holds. */
export async function currentUserId(page: Page): Promise<string> {
  const cookies = await page.context().cookies();
  const value = cookies
    .filter((cookie) => /-auth-token(\.\d+)?$/.test(cookie.name))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((cookie) => cookie.value)
    .join('');
  const json = value.startsWith('base64-') ? Buffer.from(value.slice(7), 'base64url').toString('utf8') : decodeURIComponent(value);
  return (JSON.parse(json) as { user: { id: string } }).user.id;
}

/**
 * Makes the page's browser context a client of its own (a random private address in
 * X-Forwarded-For, as a proxy would set it), so the per-address rate limits on sign-up and
 * payments count each test as a separate visitor rather than the whole suite as one. Only the
 * app's own requests get the header: on cross-origin ones (the local Stripe) it would force a
 * CORS preflight.
 */
export async function asOwnClient(page: Page): Promise<void> {
  const byte = () => Math.floor(Math.random() * 254) + 1;
  const address = `10.${byte()}.${byte()}.${byte()}`;
  const appOrigin = `http://127.0.0.1:${e2eEnv.PORT}`;
  await page
    .context()
    .route(`${appOrigin}/**`, (route) => route.continue({ headers: { ...route.request().headers(), 'x-forwarded-for': address } }));
}
