import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Stripe from 'stripe';
import { Engine } from './engine.js';
import { advanceAndDeliver, runWallClockBilling, type ClockAdvance } from './billing/wall-clock.js';
import { registerBilling } from './billing/index.js';
import { handleApi } from './http/api.js';
import { handleControl } from './http/controls.js';
import { Faults, type FaultSpec } from './http/faults.js';
import { Router } from './http/router.js';
import { DEFAULT_PLANS, seedPlans, type PlanSeed } from './resources/catalog.js';
import { completeAuthentication, requireIntent } from './resources/payment-intents.js';
import { openDispute, type DisputeInput } from './resources/disputes.js';
import { completeSetupAuthentication, requireSetupIntent } from './resources/setup-intents.js';
import { resourceMissing } from './core/errors.js';
import { registerAppEndpoint } from './resources/webhook-endpoints.js';
import { ROUTES } from './routes.js';
import { serveStandIn, standInBundle } from './standin/serve.js';
import { serveDocument } from './documents/documents.js';
import { Store } from './store.js';
import { DEFAULT_RETRY, WebhookDispatcher, type Chaos, type Delivery, type RetryPolicy } from './webhooks/dispatcher.js';

export const DEFAULT_WEBHOOK_SECRET = 'whsec_local_dev_secret';
/** Any `sk_test_...` / `pk_test_...` key works; these are handy defaults. */
export const LOCAL_SECRET_KEY = 'sk_test_local';
export const LOCAL_PUBLISHABLE_KEY = 'pk_test_local';

export interface LocalStripeOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Where state persists across restarts; omit to keep everything in memory. */
  dataDir?: string;
  /** The app's webhook endpoint (registered with `webhookSecret`). */
  webhookUrl?: string;
  webhookSecret?: string;
  /** false: do not register the app's endpoint (endpoints created through the API still receive). */
  deliverWebhooks?: boolean;
  /** Seeded plan prices (default: the three plans at `price_*_plan_id`). */
  plans?: PlanSeed[];
  webhookRetry?: Partial<RetryPolicy>;
  /** How often wall-clock subscriptions are renewed (ms, default 30 000; 0 = never automatically). */
  billingSweepMs?: number;
}

export interface LocalStripe {
  url: string;
  port: number;
  host: string;
  secretKey: string;
  publishableKey: string;
  webhookSecret: string;
  /** Options for `new Stripe(key, sdkConfig)`. */
  sdkConfig: { host: string; port: number; protocol: 'http' };
  close(): Promise<void>;
  faults: {
    inject(spec: FaultSpec): void;
    clear(): void;
    pending(): FaultSpec[];
  };
  webhooks: {
    setChaos(chaos: Partial<Chaos>): void;
    /** Resolves when every queued delivery (and retry) has finished. */
    idle(): Promise<void>;
    deliveries(): Delivery[];
    onDelivery(listener: (d: Delivery) => void): () => void;
    pause(): void;
    resume(): void;
  };
  /** Events recorded so far, oldest first, optionally of one type. */
  events(type?: string): Stripe.Event[];
  /** Every stored object (events and idempotency records aside) as canonical JSON: tests compare it before and after a call. */
  snapshot(): string;
  /** The 3-D Secure outcome for an intent in `requires_action` (what the stand-in's dialog does). */
  completeAuthentication(paymentIntentId: string, outcome: 'succeed' | 'fail'): Stripe.PaymentIntent;
  /** Runs renewals/retries due by the (shifted) wall clock now (normally on a timer). */
  runBilling(): number;
  /**
   * Moves time forward by `seconds` for every customer without a test clock,
   * runs what falls due, and resolves once the resulting webhooks had their
   * first delivery attempt (`POST /_local/clock/advance`).
   */
  advanceClock(seconds: number): Promise<ClockAdvance>;
  /** Seconds the wall-clock customers' time runs ahead of the real clock. */
  clockOffset(): number;
  /** The 3-D Secure outcome for a SetupIntent in `requires_action` (the stand-in's dialog). */
  completeSetupAuthentication(setupIntentId: string, outcome: 'succeed' | 'fail'): Stripe.SetupIntent;
  /** The customer's bank disputes a succeeded charge (`POST /_local/charges/:id/dispute`). */
  disputeCharge(chargeId: string, opts?: DisputeInput): Stripe.Dispute;
  /** Writes the state to disk now. */
  flush(): void;
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

const CORS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, DELETE, OPTIONS',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type, Stripe-Version, Idempotency-Key, Stripe-Account',
  'Access-Control-Expose-Headers': 'Request-Id, Stripe-Version, Idempotency-Key, Idempotent-Replayed',
  'Access-Control-Max-Age': '600',
};

export async function startLocalStripe(opts: LocalStripeOptions): Promise<LocalStripe> {
  const host = opts.host ?? '127.0.0.1';
  // The Stripe.js stand-in is bundled (esbuild) before the server answers anything.
  await standInBundle();
  const store = new Store(opts.dataDir);
  const dispatcher = new WebhookDispatcher({ ...DEFAULT_RETRY, ...opts.webhookRetry });
  const engine = new Engine(store, dispatcher, '');
  registerBilling(engine);
  const router = new Router(ROUTES);
  const faults = new Faults();
  const held = new Set<ServerResponse>();
  const webhookSecret = opts.webhookSecret ?? DEFAULT_WEBHOOK_SECRET;

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for (const [k, v] of Object.entries(CORS)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(204);
      res.end();
      return;
    }
    const url = new URL(req.url ?? '/', engine.baseUrl);
    if (url.pathname.startsWith('/v1/')) return handleApi({ engine, router, faults, held }, req, res, url);
    if (url.pathname.startsWith('/_local/')) return handleControl({ engine, router, faults, dispatcher }, req, res, url);
    if (url.pathname.startsWith('/i/') || url.pathname.startsWith('/receipts/')) return serveDocument(engine, req, res, url);
    if (url.pathname === '/js/stripe.js' || url.pathname === '/v3' || url.pathname === '/endive/stripe.js') {
      return serveStandIn(req, res, engine.baseUrl);
    }
    res.writeHead(url.pathname === '/' ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify(
        url.pathname === '/'
          ? { localStripe: true, api: `${engine.baseUrl}/v1`, standIn: `${engine.baseUrl}/js/stripe.js` }
          : { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${url.pathname}).` } },
      ),
    );
  };

  const server = createServer((req, res) => {
    onRequest(req, res).catch((e: unknown) => {
      console.error('[local-stripe] request failed:', e);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'api_error', message: 'An unknown error occurred while processing this request.' } }));
    });
  });
  const port = await listen(server, opts.port, host);
  const publicHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  engine.baseUrl = `http://${publicHost}:${port}`;

  seedPlans(engine, opts.plans ?? DEFAULT_PLANS);
  if (opts.deliverWebhooks !== false) {
    const url = opts.webhookUrl ?? `http://127.0.0.1:${process.env.PORT || 3000}/api/payments/webhook`;
    registerAppEndpoint(engine, url, webhookSecret);
  }

  const runBilling = () => engine.transaction(() => runWallClockBilling(engine));
  runBilling();
  const sweepMs = opts.billingSweepMs ?? 30_000;
  const sweep = sweepMs > 0 ? setInterval(runBilling, sweepMs) : null;
  sweep?.unref();

  return {
    url: engine.baseUrl,
    port,
    host: publicHost,
    secretKey: LOCAL_SECRET_KEY,
    publishableKey: LOCAL_PUBLISHABLE_KEY,
    webhookSecret,
    sdkConfig: { host: publicHost, port, protocol: 'http' },
    async close() {
      if (sweep) clearInterval(sweep);
      dispatcher.close();
      for (const res of held) res.destroy();
      store.flush();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    faults: {
      inject: (spec) => faults.inject(spec),
      clear: () => faults.clear(),
      pending: () => faults.pending(),
    },
    webhooks: {
      setChaos: (chaos) => {
        dispatcher.chaos = { ...dispatcher.chaos, ...chaos };
      },
      idle: () => dispatcher.idle(),
      deliveries: () => [...dispatcher.log],
      onDelivery: (listener) => dispatcher.onDelivery(listener),
      pause: () => dispatcher.pause(),
      resume: () => dispatcher.resume(),
    },
    events: (type) => Object.values(engine.state.events).filter((e) => type === undefined || e.type === type),
    snapshot: () => {
      const { events: _events, idempotency: _idempotency, ...objects } = engine.state;
      return JSON.stringify(objects);
    },
    completeAuthentication: (id, outcome) => completeAuthentication(engine, requireIntent(engine, id), outcome).pi,
    runBilling,
    advanceClock: (seconds) => advanceAndDeliver(engine, dispatcher, seconds),
    clockOffset: () => engine.state.clockOffset,
    completeSetupAuthentication: (id, outcome) =>
      engine.render(completeSetupAuthentication(engine, requireSetupIntent(engine, id), outcome).seti),
    disputeCharge: (chargeId, disputeOpts) => {
      const charge = engine.state.charges[chargeId];
      if (!charge) throw resourceMissing('charge', chargeId);
      return engine.render(openDispute(engine, charge, disputeOpts));
    },
    flush: () => store.flush(),
  };
}
