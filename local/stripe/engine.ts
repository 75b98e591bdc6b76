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
];

/**
 * The shared machinery every resource handler uses: state, time (wall clock,
 * or a customer's test clock), event emission and webhook fan-out.
 */
export class Engine {
  /** The request being served, stamped on emitted events (`event.request`). */
  request: RequestInfo | null = null;

  constructor(
    readonly store: Store,
    readonly dispatcher: WebhookDispatcher,
    public baseUrl: string,
  ) {}

  get state(): State {
    return this.store.state;
  }

  /** Current time for a customer: its test clock's frozen time, else the wall clock. */
  now(customer?: string | null | { id: string }): number {
    const id = typeof customer === 'object' && customer !== null ? customer.id : customer;
    const clockId = id ? this.state.customers[id]?.test_clock : null;
    const clock = typeof clockId === 'string' ? this.state.testClocks[clockId] : undefined;
    return clock ? clock.frozen_time : wallClock();
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
    this.dispatcher.enqueue(event, targets);
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
