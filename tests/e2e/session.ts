import type { Page } from '@playwright/test';

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
