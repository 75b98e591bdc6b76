import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stripe } from '@/lib/stripe/client';
import { startLocalStripe, type LocalStripe } from '@/local/stripe/server';
import { advanceClock } from '@/tests/local-stripe/helpers';

// The local Stripe for integration tests: in memory, on a free port, delivering its signed
// webhooks over real HTTP to a small server that hands each request to the app's webhook route
// handler in this process (as Next.js would), with the real raw body and headers.

export const TEST_WEBHOOK_SECRET = 'whsec_integration_tests_secret';

type Handler = (request: Request) => Promise<Response>;

export interface TestStripe {
  local: LocalStripe;
  /** Resolves when every delivery (and retry) has finished. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A server that hands each delivery to the webhook route handler. While `isLosing()` is true,
 * deliveries are lost instead: the handler is not called and Stripe sees a 503, as when the app
 * is down.
 */
export function bridgeTo(handler: Handler, isLosing: () => boolean = () => false): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (isLosing()) {
        res.writeHead(503).end('{}');
        return;
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
      const request = new Request(`http://app.test${req.url ?? '/'}`, { method: req.method, headers, body: Buffer.concat(chunks) });
      handler(request)
        .then(async (response) => {
          res.writeHead(response.status, { 'content-type': 'application/json' });
          res.end(await response.text());
        })
        .catch(() => res.writeHead(500).end('{}'));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/payments/webhook` }),
    ),
  );
}

/**
 * Starts the local Stripe and points this process's app configuration at it. Call before the
 * app reads its configuration (env() is read once per process).
 */
export async function startTestStripe(webhookHandler: Handler): Promise<TestStripe> {
  const bridge = await bridgeTo(webhookHandler);
  const local = await startLocalStripe({
    port: 0,
    webhookUrl: bridge.url,
    webhookSecret: TEST_WEBHOOK_SECRET,
    webhookRetry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 4, timeoutMs: 5000 },
    billingSweepMs: 0,
  });
  process.env.STRIPE_API_BASE = local.url;
  process.env.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET;
  process.env.STRIPE_TIMEOUT_MS = '1000';
  process.env.STRIPE_MAX_NETWORK_RETRIES = '1';
  return {
    local,
    idle: () => local.webhooks.idle(),
    async close() {
      await local.close();
      await new Promise<void>((resolve) => {
        bridge.server.close(() => resolve());
        bridge.server.closeAllConnections();
      });
    },
  };
}

/**
 * Moves a test clock to `at` (seconds; by default a minute before now), waits until the local
 * Stripe has run what fell due (renewals, retries), then until every webhook it sent is delivered.
 */
export async function advanceTestClock(local: TestStripe, clockId: string, at = Math.floor(Date.now() / 1000) - 60): Promise<void> {
  await advanceClock(stripe(), clockId, at);
  await local.idle();
}
