import type Stripe from 'stripe';
import { signatureHeader } from './sign.js';

export interface DeliveryTarget {
  id: string;
  url: string;
  secret: string;
}

/** One HTTP attempt to deliver one event to one endpoint (the `stripe listen` log). */
export interface Delivery {
  seq: number;
  eventId: string;
  type: string;
  endpointId: string;
  url: string;
  attempt: number;
  /** HTTP status, or null when the request failed (refused, timed out). */
  status: number | null;
  ok: boolean;
  error?: string;
  /** Wall-clock milliseconds. */
  at: number;
  durationMs: number;
  /** Set when this attempt failed and another is scheduled. */
  retryInMs?: number;
}

export interface RetryPolicy {
  /** First retry delay; each later retry doubles it, capped at `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts in total, the first included. */
  maxAttempts: number;
  /** Per-attempt request timeout. */
  timeoutMs: number;
}

/** Test switches that make delivery as messy as Stripe's guarantees allow. */
export interface Chaos {
  /** Deliver every event twice. */
  duplicate: boolean;
  /** Deliver the events of each batch (one API call's worth) in reverse order. */
  reorder: boolean;
}

export const DEFAULT_RETRY: RetryPolicy = { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 8, timeoutMs: 10_000 };

/**
 * Delivers events by POST, signed with each endpoint's secret at send time.
 * Events emitted in the same tick form a batch; per endpoint, first attempts
 * go out one at a time in emission order, while retries run on their own timers.
 */
export class WebhookDispatcher {
  chaos: Chaos = { duplicate: false, reorder: false };
  paused = false;
  readonly log: Delivery[] = [];
  private seq = 0;
  private batch: Array<{ event: Stripe.Event; targets: DeliveryTarget[] }> = [];
  private flushScheduled = false;
  private chains = new Map<string, Promise<void>>();
  private inFlight = 0;
  private timers = new Set<NodeJS.Timeout>();
  private idleWaiters: Array<() => void> = [];
  private listeners = new Set<(d: Delivery) => void>();
  private closed = false;

  constructor(private readonly retry: RetryPolicy) {}

  enqueue(event: Stripe.Event, targets: DeliveryTarget[]): void {
    if (this.closed || targets.length === 0) return;
    this.batch.push({ event, targets });
    this.inFlight++;
    if (!this.flushScheduled && !this.paused) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Holds deliveries until `resume()` (lets a test build a batch across calls). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    if (this.batch.length > 0) setImmediate(() => this.flush());
  }

  onDelivery(listener: (d: Delivery) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once nothing is queued, in flight, or waiting to retry. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.paused) return;
    const batch = this.batch;
    this.batch = [];
    if (this.chaos.reorder) batch.reverse();
    for (const { event, targets } of batch) {
      const copies = this.chaos.duplicate ? 2 : 1;
      this.inFlight += targets.length * copies - 1;
      for (const target of targets) {
        for (let i = 0; i < copies; i++) this.chain(target, event);
      }
    }
    this.settle();
  }

  private chain(target: DeliveryTarget, event: Stripe.Event): void {
    const previous = this.chains.get(target.id) ?? Promise.resolve();
    const next = previous.then(() => this.attempt(target, event, 1));
    this.chains.set(target.id, next);
  }

  private async attempt(target: DeliveryTarget, event: Stripe.Event, attempt: number): Promise<void> {
    if (this.closed) return this.done();
    // Stripe sends pretty-printed JSON; the signature covers these exact bytes.
    const payload = JSON.stringify(event, null, 2);
    const started = Date.now();
    const header = signatureHeader(payload, target.secret, Math.floor(started / 1000));
    let status: number | null = null;
    let error: string | undefined;
    try {
      const res = await fetch(target.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'Stripe-Signature': header,
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'Cache-Control': 'no-cache',
        },
        body: payload,
        signal: AbortSignal.timeout(this.retry.timeoutMs),
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
    } catch (e) {
      error = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    }
    const ok = status !== null && status >= 200 && status < 300;
    const retryInMs = !ok && attempt < this.retry.maxAttempts ? this.backoff(attempt) : undefined;
    this.record({
      seq: ++this.seq,
      eventId: event.id,
      type: event.type,
      endpointId: target.id,
      url: target.url,
      attempt,
      status,
      ok,
      ...(error !== undefined ? { error } : {}),
      at: started,
      durationMs: Date.now() - started,
      ...(retryInMs !== undefined ? { retryInMs } : {}),
    });
    if (retryInMs === undefined || this.closed) return this.done();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.attempt(target, event, attempt + 1);
    }, retryInMs);
    this.timers.add(timer);
  }

  private backoff(attempt: number): number {
    return Math.min(this.retry.baseDelayMs * 2 ** (attempt - 1), this.retry.maxDelayMs);
  }

  private record(d: Delivery): void {
    this.log.push(d);
    if (this.log.length > 5000) this.log.splice(0, this.log.length - 5000);
    for (const l of this.listeners) {
      try {
        l(d);
      } catch (e) {
        console.error('[local-stripe] delivery listener failed:', e);
      }
    }
  }

  private done(): void {
    this.inFlight--;
    this.settle();
  }

  private settle(): void {
    if (this.inFlight !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
