import { afterAll, beforeAll } from 'vitest';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { openPostgresClone } from '@/tests/helpers/databases';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { startTestStripe, type TestStripe } from '@/tests/helpers/stripe';
import { POST as postWebhook } from '@/app/api/payments/webhook/route';

export interface PaymentsHarness {
  auth: TestAuth;
  local: TestStripe;
  db: Database;
}

/**
 * What every payments test file runs against, started once per file: the local Supabase Auth,
 * the local Stripe delivering its webhooks to the app's webhook route, and a fresh clone of the
 * migrated PostgreSQL 15 database, which the app's routes use. The fields are set in beforeAll.
 */
export function paymentsHarness(): PaymentsHarness {
  const harness = {} as PaymentsHarness;
  beforeAll(async () => {
    harness.auth = await startTestAuth();
    process.env.NEXT_PUBLIC_SUPABASE_URL = harness.auth.url;
    harness.local = await startTestStripe(postWebhook);
    harness.db = await openPostgresClone();
    useDatabase(harness.db);
  }, 60_000);
  afterAll(async () => {
    await harness.local?.close();
    await harness.db?.close();
    await harness.auth?.close();
  });
  return harness;
}
