import { expect, test, type Page } from '@playwright/test';
import { collectNotFound, expectButtonsIntact, signUpAtBilling, subscribeToPro } from './self-serve-helpers';

// Layout and loading in Chromium against the production build: buttons keep their labels whole
// at a phone's and a laptop's width, and no page asks for anything that is not there.

/**
 * At each width, the scheduled change's date ("Dec 30, 2026") is never broken over two lines by
 * the Keep button beside it, and every button stays whole.
 */
async function expectScheduledChangeTidy(page: Page, name: string) {
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    const date = await page.getByTestId('scheduled-change').evaluate((element) => {
      const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const found = /\w{3} \d{1,2}, \d{4}/.exec(node.textContent ?? '');
        if (!found) continue;
        const range = document.createRange();
        range.setStart(node, found.index);
        range.setEnd(node, found.index + found[0].length);
        const tops = [...range.getClientRects()].filter((rect) => rect.width > 0).map((rect) => rect.top);
        return { text: found[0], spread: Math.max(...tops) - Math.min(...tops) };
      }
      return null;
    });
    expect(date, 'the scheduled change names its date').not.toBeNull();
    expect(date!.spread, `"${date!.text}" at ${width} px on ${page.url()}`).toBeLessThan(4);
  }
  await expectButtonsIntact(page, name);
}

test('with a downgrade scheduled, "Keep Pro" and every other button stay on one line at 390 and 1280 px (plans, dashboard)', async ({
  page,
}) => {
  await signUpAtBilling(page);
  await subscribeToPro(page);
  await page.goto('/billing/plans');
  await page.getByRole('link', { name: 'Downgrade to Starter' }).click();
  await page.getByRole('button', { name: 'Confirm: switch to Starter' }).click();
  await expect(page.getByRole('status')).toHaveText(/Your plan changes to Starter at the end of this period/);
  await expect(page.getByRole('button', { name: 'Keep Pro' })).toBeVisible();
  await expectScheduledChangeTidy(page, 'plans-scheduled-downgrade');

  await page.goto('/billing');
  await expect(page.getByTestId('scheduled-change')).toContainText(/^Changes to Starter on \w{3} \d{1,2}, \d{4}/);
  await expect(page.getByRole('button', { name: 'Keep Pro' })).toBeVisible();
  await expectScheduledChangeTidy(page, 'dashboard-scheduled-downgrade');
});

test('no page load answers 404, the icon included', async ({ page }) => {
  const missing = collectNotFound(page);
  await signUpAtBilling(page);
  for (const path of ['/billing/plans', '/billing/payment-methods', '/billing/tasks', '/billing/checkout', '/billing']) {
    await page.goto(path);
    await page.waitForLoadState('networkidle');
  }
  expect(missing).toEqual([]);
  // The icon the pages name is there (Chromium asks for it on each page load).
  const icon = await page.locator('link[rel="icon"]').first().getAttribute('href', { timeout: 1_000 });
  expect((await page.request.get(icon!)).status()).toBe(200);
});
