import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type Stripe from 'stripe';
import { randomToken } from './core/ids.js';

/** A saved API response, replayed for a repeated `Idempotency-Key`. */
export interface IdempotencyRecord {
  method: string;
  path: string;
  /** Canonical JSON of the request parameters. */
  params: string;
  status: number;
  body: string;
  createdAt: number;
}

/** A webhook endpoint plus its signing secret (Stripe returns the secret only on create). */
export interface StoredEndpoint {
  endpoint: Stripe.WebhookEndpoint;
  secret: string;
}

/**
 * Everything the local Stripe knows. Objects are kept in Stripe's own shapes
 * (the SDK's types) so the wire format is the stored object; `links` holds the
 * few relations Stripe's public shapes no longer expose.
 */
export interface State {
  version: 1;
  customers: Record<string, Stripe.Customer>;
  deletedCustomers: Record<string, true>;
  products: Record<string, Stripe.Product>;
  prices: Record<string, Stripe.Price>;
  paymentMethods: Record<string, Stripe.PaymentMethod>;
  paymentIntents: Record<string, Stripe.PaymentIntent>;
  setupIntents: Record<string, Stripe.SetupIntent>;
  charges: Record<string, Stripe.Charge>;
  refunds: Record<string, Stripe.Refund>;
  disputes: Record<string, Stripe.Dispute>;
  subscriptions: Record<string, Stripe.Subscription>;
  subscriptionSchedules: Record<string, Stripe.SubscriptionSchedule>;
  invoices: Record<string, Stripe.Invoice>;
  invoiceItems: Record<string, Stripe.InvoiceItem>;
  events: Record<string, Stripe.Event>;
  webhookEndpoints: Record<string, StoredEndpoint>;
  testClocks: Record<string, Stripe.TestHelpers.TestClock>;
  idempotency: Record<string, IdempotencyRecord>;
  /** Seconds the clock of every customer without a test clock runs ahead of the wall clock (`/_local/clock`). */
  clockOffset: number;
  /** Signs the URLs of hosted invoices, invoice PDFs and receipts (documents/documents.ts). */
  documentSecret: string;
  links: {
    /** PaymentIntent id -> invoice id, for intents that pay an invoice (basil removed `invoice`). */
    invoiceOfIntent: Record<string, string>;
    /** Subscription id -> the trial end its `trial_will_end` was sent for. */
    trialWillEndSent: Record<string, number>;
    /** PaymentMethods detached from their customer: Stripe refuses to use or attach them again. */
    detachedPaymentMethods: Record<string, true>;
  };
}

export function emptyState(): State {
  return {
    version: 1,
    customers: {},
    deletedCustomers: {},
    products: {},
    prices: {},
    paymentMethods: {},
    paymentIntents: {},
    setupIntents: {},
    charges: {},
    refunds: {},
    disputes: {},
    subscriptions: {},
    subscriptionSchedules: {},
    invoices: {},
    invoiceItems: {},
    events: {},
    webhookEndpoints: {},
    testClocks: {},
    idempotency: {},
    clockOffset: 0,
    documentSecret: randomToken(32),
    links: { invoiceOfIntent: {}, trialWillEndSent: {}, detachedPaymentMethods: {} },
  };
}

const DAY = 86_400;

/**
 * Holds the state in memory and, with a data directory, persists it as one
 * JSON file (written atomically: temp file + rename) shortly after each change.
 */
export class Store {
  state: State;
  private readonly file: string | null;
  private timer: NodeJS.Timeout | null = null;

  constructor(dataDir?: string) {
    this.file = dataDir ? join(dataDir, 'state.json') : null;
    if (dataDir) mkdirSync(dataDir, { recursive: true });
    this.state = this.load();
  }

  private load(): State {
    if (!this.file || !existsSync(this.file)) return emptyState();
    const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<State>;
    const state = { ...emptyState(), ...parsed, links: { ...emptyState().links, ...parsed.links } };
    this.prune(state);
    return state;
  }

  /** Stripe keeps events for 30 days and idempotency keys for 24 hours. */
  private prune(state: State): void {
    const now = Math.floor(Date.now() / 1000);
    for (const [id, ev] of Object.entries(state.events)) {
      if (ev.created < now - 30 * DAY) delete state.events[id];
    }
    for (const [key, rec] of Object.entries(state.idempotency)) {
      if (rec.createdAt < now - DAY) delete state.idempotency[key];
    }
  }

  /** Marks the state changed; it is written within 50 ms. */
  touch(): void {
    if (!this.file || this.timer) return;
    this.timer = setTimeout(() => this.flush(), 50);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.file) return;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.file);
  }
}
