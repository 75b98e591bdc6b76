import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Browser tests against the production build (`next build` first; npm test does it), with the
// local Supabase Auth, the local Stripe and an embedded PGlite in a throwaway folder, on ports of their own so a
// running `npm run dev` is not disturbed. Browsers cannot be downloaded here: Debian's Chromium.
const APP_PORT = Number(process.env.E2E_APP_PORT ?? 3100);
const AUTH_PORT = Number(process.env.E2E_AUTH_PORT ?? 54329);
const STRIPE_PORT = Number(process.env.E2E_STRIPE_PORT ?? 12199);
const dataDir = process.env.E2E_DATA_DIR ?? mkdtempSync(path.join(tmpdir(), 'billing-e2e-'));
process.env.E2E_DATA_DIR = dataDir; // the config is evaluated again in workers: keep one folder

export const e2eEnv = {
  PORT: String(APP_PORT),
  NEXT_PUBLIC_SUPABASE_URL: `http://127.0.0.1:${AUTH_PORT}`,
  PGLITE_DATA_DIR: path.join(dataDir, 'pglite'),
  LOCAL_DATA_DIR: dataDir,
  STRIPE_API_BASE: `http://127.0.0.1:${STRIPE_PORT}`,
  TASK_RUNNER_API_KEY: 'tr_e2e_key_0123456789',
  NEXT_TELEMETRY_DISABLED: '1',
};

export default defineConfig({
  testDir: 'tests/e2e',
  outputDir: 'test-results',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${APP_PORT}`,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
  webServer: {
    command: 'node_modules/.bin/tsx scripts/dev.ts --production',
    // Ready once the database is open and migrated, so the first test does not pay for it.
    url: `http://127.0.0.1:${APP_PORT}/api/health`,
    env: { ...process.env, ...e2eEnv },
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
