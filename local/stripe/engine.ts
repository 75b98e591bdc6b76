import Stripe from 'stripe';
import { newId } from './core/ids.js';
import { render, snapshot } from './core/expand.js';
import { wallClock } from './core/time.js';
import type { State, Store } from './store.js';
import type { DeliveryTarget, WebhookDispatcher } from './webhooks/dispatcher.js';

export const API_VERSION: string = Stripe.API_VERSION;

export type EventType = Stripe.Event['type'];
/** The `data.object` type of the event named `T`. */
export type EventObject<T extends EventType> = Extract<Stripe.Event, { type: T }>['data']['object'];

/**
 * Points where billing reacts to what resources do. Resources fire them;
 * billing registers its handlers at start (`registerBilling`), so resources
 * never import billing and the dependency runs one way only.
 */
export interface EngineHooks {
  /** A PaymentIntent succeeded, failed or needs 3-D Secure (billing settles the invoice it pays). */
  intentSucceeded: (pi: Stripe.PaymentIntent, pm: Stripe.PaymentMethod) => void;
  intentFailed: (pi: Stripe.PaymentIntent) => void;
  intentRequiresAction: (pi: Stripe.PaymentIntent) => void;
  /** An invoice was paid / a payment attempt on it failed (subscriptions follow their invoices). */
  invoicePaid: (invoice: Stripe.Invoice, pm: Stripe.PaymentMethod | null) => void;
  invoicePaymentFailed: (invoice: Stripe.Invoice) => void;
  /** A customer is about to be deleted (billing ends its subscriptions). */
  customerDeleting: (customer: Stripe.Customer) => void;
  /**
   * Time moves to `until` for the customers `inScope` picks: run what falls due
   * on the way, calling `setTime` before each action. Returns how many ran.
   */
  advanceTime: (inScope: (customer: string) => boolean, until: number, setTime?: (t: number) => void) => number;
}

/** What a transaction holds back until it commits. */
interface Pending {
  /** The state's collections as they were (events and idempotency records excepted). */
  before: Partial<State>;
  events: Array<{ event: Stripe.Event; targets: DeliveryTarget[] }>;
  after: Array<() => void>;
  /** Values computed once per request (e.g. the PaymentMethod a test id names). */
  memo: Map<string, unknown>;
}

/** Collections a request may not change directly (events go through emit; idempotency is saved after). */
const UNSNAPSHOTTED = new Set<keyof State>(['events', 'idempotency']);

type HookLists = { [K in keyof EngineHooks]: Array<EngineHooks[K]> };

export interface RequestInfo {
  id: string;
  idempotencyKey: string | null;
}

/** Id prefix -> the collection holding such objects (used by `expand[]`). */
const COLLECTIONS: Array<[string, (s: State, id: string) => object | undefined]> = [
  ['cus_', (s, id) => s.customers[id]],
  ['pi_', (s, id) => s.paymentIntents[id]],
  ['in_', (s, id) => s.invoices[id]],
  ['sub_sched_', (s, id) => s.subscriptionSchedules[id]],
  ['sub_', (s, id) => s.subscriptions[id]],
  ['pm_', (s, id) => s.paymentMethods[id]],
  ['ch_', (s, id) => s.charges[id]],
  ['re_', (s, id) => s.refunds[id]],
  ['price_', (s, id) => s.prices[id]],
  ['prod_', (s, id) => s.products[id]],
  ['clock_', (s, id) => s.testClocks[id]],
  ['ii_', (s, id) => s.invoiceItems[id]],
  ['dp_', (s, id) => s.disputes[id]],
  ['seti_', (s, id) => s.setupIntents[id]],
];

/**
 * The shared machinery every resource handler uses: state, time (wall clock,
 * or a customer's test clock), event emission and webhook fan-out.
 */
export class Engine {
  /** The request being served, stamped on emitted events (`event.request`). */
  request: RequestInfo | null = null;
  private pending: Pending | null = null;

  private readonly hooks: HookLists = {
    intentSucceeded: [],
    intentFailed: [],
    intentRequiresAction: [],
    invoicePaid: [],
    invoicePaymentFailed: [],
    customerDeleting: [],
    advanceTime: [],
  };

  constructor(
    readonly store: Store,
    readonly dispatcher: WebhookDispatcher,
    public baseUrl: string,
  ) {}

  on<K extends keyof EngineHooks>(name: K, fn: EngineHooks[K]): void {
    this.hooks[name].push(fn);
  }

  /** Calls every handler registered for `name`; returns the sum of numeric results. */
  fire<K extends keyof EngineHooks>(name: K, ...args: Parameters<EngineHooks[K]>): number {
    let total = 0;
    for (const fn of this.hooks[name]) {
      const r: unknown = (fn as (...a: Parameters<EngineHooks[K]>) => unknown)(...args);
      if (typeof r === 'number') total += r;
    }
    return total;
  }

  /**
   * Runs `fn` as one unit: if it throws, the state is put back as it was and
   * the events it emitted are dropped (never delivered), unless `keep(error)`
   * says the changes stand. Webhooks go out only after the unit commits.
   * Nested calls join the outer unit.
   */
  transaction<T>(fn: () => T, keep: (error: unknown) => boolean = () => false): T {
    if (this.pending) return fn();
    const state = this.state;
    const before: Partial<State> = {};
    for (const key of Object.keys(state) as Array<keyof State>) {
      if (!UNSNAPSHOTTED.has(key)) Object.assign(before, { [key]: structuredClone(state[key]) });
    }
    const pending: Pending = { before, events: [], after: [], memo: new Map() };
    this.pending = pending;
    try {
      const result = fn();
      this.pending = null;
      this.commit(pending);
      return result;
    } catch (e) {
      this.pending = null;
      if (keep(e)) this.commit(pending);
      else this.rollback(pending);
      throw e;
    }
  }

  /**
   * `make()` once per unit for `key`: within one request the same key gives
   * the same value (outside a unit, a fresh one each time).
   */
  memo<T>(key: string, make: () => T): T {
    const memo = this.pending?.memo;
    if (!memo) return make();
    if (!memo.has(key)) memo.set(key, make());
    return memo.get(key) as T;
  }

  /** Runs `fn` once the current unit commits (at once outside one); dropped on rollback. */
  afterCommit(fn: () => void): void {
    if (this.pending) this.pending.after.push(fn);
    else fn();
  }

  private commit(pending: Pending): void {
    for (const { event, targets } of pending.events) this.dispatcher.enqueue(event, targets);
    for (const fn of pending.after) fn();
  }

  private rollback(pending: Pending): void {
    Object.assign(this.store.state, pending.before);
    for (const { event } of pending.events) delete this.state.events[event.id];
    this.store.touch();
  }

  get state(): State {
    return this.store.state;
  }

  /** Current time for a customer: its test clock's frozen time, else the shifted wall clock. */
  now(customer?: string | null | { id: string }): number {
    const id = typeof customer === 'object' && customer !== null ? customer.id : customer;
    const clockId = id ? this.state.customers[id]?.test_clock : null;
    const clock = typeof clockId === 'string' ? this.state.testClocks[clockId] : undefined;
    return clock ? clock.frozen_time : this.wallNow();
  }

  /** The wall clock moved by `/_local/clock/advance` (every customer without a test clock). */
  wallNow(): number {
    return wallClock() + this.state.clockOffset;
  }

  clockOf(customer: string): string | null {
    const clock = this.state.customers[customer]?.test_clock;
    return typeof clock === 'string' ? clock : null;
  }

  resolve = (id: string): object | undefined => {
    for (const [prefix, get] of COLLECTIONS) {
      if (id.startsWith(prefix)) return get(this.state, id);
    }
    return undefined;
  };

  render<T extends object>(obj: T, expand: string[] = []): T {
    return render(obj, expand, this.resolve);
  }

  /**
   * Records an event (a snapshot of `object` now) and queues its delivery to
   * every enabled endpoint subscribed to `type`.
   */
  emit<T extends EventType>(type: T, object: EventObject<T>, previous?: Record<string, unknown>): Stripe.Event {
    const customer = customerOf(object);
    const targets = this.targetsFor(type);
    const event = {
      id: newId('evt'),
      object: 'event',
      api_version: API_VERSION,
      created: this.now(customer),
      data: {
        object: snapshot(object),
        ...(previous ? { previous_attributes: previous } : {}),
      },
      livemode: false,
      pending_webhooks: targets.length,
      request: this.request ? { id: this.request.id, idempotency_key: this.request.idempotencyKey } : { id: null, idempotency_key: null },
      type,
      // The union member for `type` is picked by `type`; TypeScript cannot follow that through the generic.
    } as unknown as Stripe.Event;
    this.state.events[event.id] = event;
    this.store.touch();
    if (this.pending) this.pending.events.push({ event, targets });
    else this.dispatcher.enqueue(event, targets);
    return event;
  }

  /** Re-sends an existing event (the `trigger`/replay path), with fresh signatures. */
  redeliver(event: Stripe.Event): void {
    this.dispatcher.enqueue(event, this.targetsFor(event.type));
  }

  private targetsFor(type: string): DeliveryTarget[] {
    return Object.values(this.state.webhookEndpoints)
      .filter(({ endpoint }) => endpoint.status === 'enabled')
      .filter(({ endpoint }) => endpoint.enabled_events.includes('*') || endpoint.enabled_events.includes(type))
      .map(({ endpoint, secret }) => ({ id: endpoint.id, url: endpoint.url, secret }));
  }
}

function customerOf(object: object): string | null {
  if ('object' in object && object.object === 'customer' && 'id' in object && typeof object.id === 'string') {
    return object.id;
  }
  if ('customer' in object) {
    const c = object.customer;
    if (typeof c === 'string') return c;
    if (typeof c === 'object' && c !== null && 'id' in c && typeof c.id === 'string') return c.id;
  }
  return null;
}
