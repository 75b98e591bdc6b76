import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// One server-only Stripe module: in the product code (app/, lib/, proxy.ts) nothing but
// lib/stripe/client.ts imports the `stripe` SDK, and no client component does.

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.(ts|tsx)$/.test(name) ? [full] : [];
  });
}

const importsStripeSdk = (text: string) =>
  /from\s+['"]stripe['"]|import\(\s*['"]stripe['"]\s*\)|require\(\s*['"]stripe['"]\s*\)/.test(text);

describe('the Stripe boundary', () => {
  const files = [...sourceFiles('app'), ...sourceFiles('lib'), 'proxy.ts'];

  it('has exactly one importer of the stripe SDK: lib/stripe/client.ts', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.filter((file) => importsStripeSdk(readFileSync(file, 'utf8')))).toEqual([path.join('lib', 'stripe', 'client.ts')]);
  });

  it('keeps lib/stripe out of client components', () => {
    const clientFiles = files.filter((file) => /^['"]use client['"]/m.test(readFileSync(file, 'utf8')));
    expect(clientFiles.filter((file) => /@\/lib\/(stripe|payments|webhooks)/.test(readFileSync(file, 'utf8')))).toEqual([]);
  });

  it("maps Stripe objects in one module: nothing else unwraps a customer, an invoice's subscription or a price's plan", () => {
    const unwraps =
      /typeof\s+[\w.?]*customer\s*===\s*'string'|\.customer\??\.id\b|subscription_details\??\.subscription|STRIPE_(STARTER|PRO|ENTERPRISE)_PRICE_ID/;
    const mapping = path.join('lib', 'stripe', 'mapping.ts');
    const offenders = files.filter(
      (file) => file !== mapping && file !== path.join('lib', 'env.ts') && unwraps.test(readFileSync(file, 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it("pins the API version to the SDK's own", async () => {
    const { STRIPE_API_VERSION } = await import('@/lib/stripe/client');
    const sdkVersion = readFileSync('node_modules/stripe/esm/apiVersion.js', 'utf8').match(/ApiVersion = '([^']+)'/)?.[1];
    expect(STRIPE_API_VERSION).toBe(sdkVersion);
  });
});
