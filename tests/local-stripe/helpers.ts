import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { startLocalStripe, type LocalStripe, type LocalStripeOptions } from '../../local/stripe/server.js';

/** A webhook as the app would receive it: raw body and headers. */
export interface Received {
  body: string;
  headers: IncomingHttpHeaders;
  event: Stripe.Event;
}

/**
 * A tiny webhook receiver. `respond` picks the status for each request
 * (default 200); `waitFor` resolves once a matching delivery has arrived.
 */
export class Receiver {
  readonly received: Received[] = [];
  respond: (r: Received, n: number) => number = () => 200;
  private waiters: Array<{ pred: (r: Received[]) => boolean; resolve: () => void }> = [];
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<Receiver> {
    // eslint-disable-next-line prefer-const -- the server's handler reads the receiver, which is built from the server
    let self: Receiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const r: Received = { body, headers: req.headers, event: JSON.parse(body) as Stripe.Event };
        self?.received.push(r);
        res.writeHead(self?.respond(r, self.received.length) ?? 200).end('{}');
        self?.notify();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new Receiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/payments/webhook`);
    return self;
  }

  private notify(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(this.received)) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves when `pred` holds for the deliveries received so far. */
  waitFor(pred: (r: Received[]) => boolean): Promise<void> {
    if (pred(this.received)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  waitForType(type: string, objectId?: string): Promise<Received> {
    const match = (r: Received) =>
      r.event.type === type && (objectId === undefined || (r.event.data.object as { id?: string }).id === objectId);
    return this.waitFor((all) => all.some(match)).then(() => this.received.find(match) as Received);
  }

  ofType(type: string): Received[] {
    return this.received.filter((r) => r.event.type === type);
  }

  clear(): void {
    this.received.length = 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

export interface Harness {
  local: LocalStripe;
  stripe: Stripe;
  receiver: Receiver;
  close(): Promise<void>;
}

export const WEBHOOK_SECRET = 'whsec_test_secret_for_local_stripe';

/** Local Stripe on a free port, in memory, delivering to a fresh receiver with fast retries. */
export async function startHarness(extra: Partial<LocalStripeOptions> = {}): Promise<Harness> {
  const receiver = await Receiver.start();
  const local = await startLocalStripe({
    port: 0,
    webhookUrl: receiver.url,
    webhookSecret: WEBHOOK_SECRET,
    webhookRetry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 4, timeoutMs: 2000 },
    billingSweepMs: 0,
    ...extra,
  });
  const stripe = sdk(local);
  return {
    local,
    stripe,
    receiver,
    async close() {
      await local.close();
      await receiver.close();
    },
  };
}

export function sdk(local: LocalStripe, key = 'sk_test_local_tests', config: Stripe.StripeConfig = {}): Stripe {
  return new Stripe(key, { ...local.sdkConfig, ...config });
}

/** Lets pending callbacks (setImmediate work such as a clock advance) run. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Advances a test clock and waits until Stripe reports it ready. */
export async function advanceClock(stripe: Stripe, clockId: string, frozenTime: number): Promise<Stripe.TestHelpers.TestClock> {
  let clock = await stripe.testHelpers.testClocks.advance(clockId, { frozen_time: frozenTime });
  while (clock.status !== 'ready') {
    await tick();
    clock = await stripe.testHelpers.testClocks.retrieve(clockId);
  }
  return clock;
}

/** Runs `fn`, expecting a Stripe error; returns it. */
export async function stripeError(fn: () => Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof Stripe.errors.StripeError) return e;
    throw e;
  }
  throw new Error('expected a Stripe error');
}

export const DAY = 86_400;
