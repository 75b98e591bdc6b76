import { useDatabase, type Database } from '@/lib/db';
import { stripe } from '@/lib/stripe/client';
import { startLocalStripe, type LocalStripe } from '@/local/stripe/server';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { openPostgresClone } from '@/tests/helpers/databases';
import { bridgeTo, TEST_WEBHOOK_SECRET } from '@/tests/helpers/stripe';
import { POST as postWebhook } from '@/app/api/payments/webhook/route';

// The real system the model test drives: the local Supabase Auth, the local Stripe (real SDK over
// HTTP) delivering signed webhooks into the app's webhook route in this process, and a clone of the
// migrated PostgreSQL 15 database. Deliveries can be lost on purpose (the route is not called and
// Stripe sees a 503, as when the app is down), which only `reconcile` can heal.

export interface ModelSystem {
  auth: TestAuth;
  local: LocalStripe;
  db: Database;
  /** While true, every webhook delivery is lost: the app never sees it. */
  setLosing(losing: boolean): void;
  /** Resolves when every delivery (and retry) has finished. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function startModelSystem(): Promise<ModelSystem> {
  let losing = false;
  const auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  const bridge = await bridgeTo(postWebhook, () => losing);
  const local = await startLocalStripe({
    port: 0,
    webhookUrl: bridge.url,
    webhookSecret: TEST_WEBHOOK_SECRET,
    // A lost delivery is retried a few times, quickly, then given up: the event stays at Stripe.
    webhookRetry: { baseDelayMs: 2, maxDelayMs: 5, maxAttempts: 2, timeoutMs: 5000 },
    billingSweepMs: 0,
  });
  process.env.STRIPE_API_BASE = local.url;
  process.env.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET;
  process.env.STRIPE_TIMEOUT_MS = '5000';
  process.env.STRIPE_MAX_NETWORK_RETRIES = '1';
  const db = await openPostgresClone();
  useDatabase(db);
  stripe(); // the client reads its configuration once, now that it is set
  return {
    auth,
    local,
    db,
    setLosing: (value) => {
      losing = value;
    },
    idle: () => local.webhooks.idle(),
    async close() {
      await local.close();
      await new Promise<void>((resolve) => {
        bridge.server.close(() => resolve());
        bridge.server.closeAllConnections();
      });
      await db.close();
      await auth.close();
    },
  };
}
