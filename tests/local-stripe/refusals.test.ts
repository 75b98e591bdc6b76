// A refused request changes nothing and emits nothing (Stripe's behaviour):
// each /v1 call is one transaction in the engine, rolled back on any error
// but a decline (which Stripe records). For every resource, a request that is
// refused - many of them after the handler has already changed something -
// must leave the stored objects byte-for-byte as they were, record no event
// and deliver no webhook.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { Engine } from '../../local/stripe/engine.js';
import { StripeApiError } from '../../local/stripe/core/errors.js';
import { Store } from '../../local/stripe/store.js';
import { DEFAULT_RETRY, WebhookDispatcher } from '../../local/stripe/webhooks/dispatcher.js';
import { startHarness, stripeError, type Harness } from './helpers.js';

let h: Harness;
let customer: Stripe.Customer;
let failingCustomer: Stripe.Customer;
let paid: Stripe.PaymentIntent;
let subscription: Stripe.Subscription;
let draft: Stripe.Invoice;
let open: Stripe.Invoice;
let clock: Stripe.TestHelpers.TestClock;

beforeAll(async () => {
  h = await startHarness();
  const s = h.stripe;
  customer = await s.customers.create({
    email: 'refusals@example.com',
    payment_method: 'pm_card_visa',
    invoice_settings: { default_payment_method: 'pm_card_visa' },
  });
  failingCustomer = await s.customers.create({
    payment_method: 'pm_card_chargeCustomerFail',
    invoice_settings: { default_payment_method: 'pm_card_chargeCustomerFail' },
  });
  paid = await s.paymentIntents.create({
    amount: 2000,
    currency: 'usd',
    customer: customer.id,
    payment_method: 'pm_card_visa',
    confirm: true,
  });
  // The failing customer's subscription starts in a trial, so it exists without a charge.
  subscription = await s.subscriptions.create({
    customer: failingCustomer.id,
    items: [{ price: 'price_starter_plan_id' }],
    trial_period_days: 30,
  });
  await s.invoiceItems.create({ customer: customer.id, amount: 500, currency: 'usd' });
  draft = await s.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'include' });
  await s.invoiceItems.create({ customer: customer.id, amount: 700, currency: 'usd' });
  open = await s.invoices.finalizeInvoice(
    (await s.invoices.create({ customer: customer.id, pending_invoice_items_behavior: 'include' })).id,
  );
  clock = await s.testHelpers.testClocks.create({ frozen_time: 1_767_225_600 });
  await h.local.webhooks.idle();
});
afterAll(() => h.close());

type Refusal = [string, (s: Stripe) => Promise<unknown>, number];

const refusals: Refusal[] = [
  // customers: attaches pm_card_visa, then refuses a default that is not attached.
  [
    'customers.create: attach done, then the default refused',
    (s) => s.customers.create({ payment_method: 'pm_card_visa', invoice_settings: { default_payment_method: 'pm_card_mastercard' } }),
    400,
  ],
  [
    'customers.update: unknown default',
    (s) => s.customers.update(customer.id, { name: 'x', invoice_settings: { default_payment_method: 'pm_missing' } }),
    400,
  ],
  ['customers.del: no such customer', (s) => s.customers.del('cus_missing'), 404],
  // payment intents: created, then its payment method is missing (the 404).
  [
    'paymentIntents.create: created, then no such PaymentMethod',
    (s) => s.paymentIntents.create({ amount: 1000, currency: 'usd', customer: customer.id, payment_method: 'pm_missing', confirm: true }),
    404,
  ],
  [
    'paymentIntents.create: created, then shipping without a name',
    (s) =>
      s.paymentIntents.create({
        amount: 1000,
        currency: 'usd',
        shipping: { address: { line1: 'x' } } as Stripe.PaymentIntentCreateParams.Shipping,
      }),
    400,
  ],
  ['paymentIntents.confirm: already succeeded', (s) => s.paymentIntents.confirm(paid.id, { payment_method: 'pm_card_visa' }), 400],
  ['paymentIntents.cancel: already succeeded', (s) => s.paymentIntents.cancel(paid.id), 400],
  // payment methods: a test card made for the call, then the attach check declines it.
  ['paymentMethods.attach: declined card', (s) => s.paymentMethods.attach('pm_card_chargeDeclined', { customer: customer.id }), 402],
  ['paymentMethods.create: unknown token', (s) => s.paymentMethods.create({ type: 'card', card: { token: 'tok_nope' } }), 404],
  ['paymentMethods.detach: never attached', (s) => s.paymentMethods.detach('pm_card_visa'), 400],
  // refunds
  ['refunds.create: more than was paid', (s) => s.refunds.create({ payment_intent: paid.id, amount: 999_999 }), 400],
  // catalog
  ['products.create: no name', (s) => s.products.create({} as Stripe.ProductCreateParams), 400],
  ['prices.create: no such product', (s) => s.prices.create({ product: 'prod_missing', unit_amount: 100, currency: 'usd' }), 404],
  // subscriptions: items changed and invoiced, then the charge fails with error_if_incomplete.
  [
    'subscriptions.update: trial ended, invoiced, charge declined with error_if_incomplete',
    (s) =>
      s.subscriptions.update(subscription.id, {
        trial_end: 'now',
        payment_behavior: 'error_if_incomplete',
        items: [{ id: subscription.items.data[0]?.id ?? '', price: 'price_pro_plan_id' }],
        proration_behavior: 'always_invoice',
      }),
    402,
  ],
  [
    'subscriptions.create: error_if_incomplete with a failing card',
    (s) =>
      s.subscriptions.create({
        customer: failingCustomer.id,
        items: [{ price: 'price_pro_plan_id' }],
        payment_behavior: 'error_if_incomplete',
      }),
    402,
  ],
  [
    'subscriptions.create: a one-time price',
    (s) => s.subscriptions.create({ customer: customer.id, items: [{ price: 'price_missing' }] }),
    404,
  ],
  ['subscriptions.cancel: no such subscription', (s) => s.subscriptions.cancel('sub_missing'), 404],
  // invoice items and invoices: a draft finalized for payment, then the card is missing.
  [
    'invoiceItems.create: onto a finalized invoice',
    (s) => s.invoiceItems.create({ customer: customer.id, amount: 100, currency: 'usd', invoice: open.id }),
    400,
  ],
  ['invoiceItems.create: no amount', (s) => s.invoiceItems.create({ customer: customer.id, currency: 'usd' }), 400],
  ['invoices.pay: draft finalized, then no such PaymentMethod', (s) => s.invoices.pay(draft.id, { payment_method: 'pm_missing' }), 404],
  [
    'invoices.create: send_invoice without days_until_due',
    (s) => s.invoices.create({ customer: customer.id, collection_method: 'send_invoice', pending_invoice_items_behavior: 'include' }),
    400,
  ],
  ['invoices.finalizeInvoice: not a draft', (s) => s.invoices.finalizeInvoice(open.id), 400],
  ['invoices.del: not a draft', (s) => s.invoices.del(open.id), 400],
  ['invoices.markUncollectible: a draft', (s) => s.invoices.markUncollectible(draft.id), 400],
  // test clocks, webhook endpoints, setup intents
  ['testClocks.advance: backwards', (s) => s.testHelpers.testClocks.advance(clock.id, { frozen_time: 1 }), 400],
  [
    'webhookEndpoints.create: no url',
    (s) => s.webhookEndpoints.create({ enabled_events: ['*'] } as Stripe.WebhookEndpointCreateParams),
    400,
  ],
  [
    'setupIntents.create: created, then no such PaymentMethod',
    (s) => s.setupIntents.create({ customer: customer.id, payment_method: 'pm_missing', confirm: true }),
    404,
  ],
];

describe('a refused request changes nothing and emits nothing', () => {
  it.each(refusals)('%s', async (_name, call, status) => {
    await h.local.webhooks.idle();
    const before = h.local.snapshot();
    const events = h.local.events().length;
    const received = h.receiver.received.length;
    const err = await stripeError(() => call(h.stripe));
    expect(err.statusCode).toBe(status);
    expect(h.local.snapshot()).toBe(before);
    expect(h.local.events()).toHaveLength(events);
    await h.local.webhooks.idle();
    expect(h.receiver.received).toHaveLength(received);
  });

  it('while a decline is recorded as Stripe records it (402, failed charge, payment_failed)', async () => {
    const events = h.local.events().length;
    const err = await stripeError(() =>
      h.stripe.paymentIntents.create({
        amount: 900,
        currency: 'usd',
        customer: customer.id,
        payment_method: 'pm_card_chargeDeclined',
        confirm: true,
      }),
    );
    expect(err.statusCode).toBe(402);
    const types = h.local
      .events()
      .slice(events)
      .map((e) => e.type);
    expect(types).toEqual(['payment_intent.created', 'charge.failed', 'payment_intent.payment_failed']);
    const pi = (err.raw as { payment_intent?: Stripe.PaymentIntent }).payment_intent;
    expect((await h.stripe.paymentIntents.retrieve(pi?.id ?? '')).status).toBe('requires_payment_method');
  });
});

describe('engine.transaction (the mechanism behind it)', () => {
  const make = () => {
    const engine = new Engine(new Store(), new WebhookDispatcher(DEFAULT_RETRY), 'http://127.0.0.1:1');
    engine.state.webhookEndpoints.we_1 = {
      secret: 'whsec_x',
      endpoint: {
        id: 'we_1',
        object: 'webhook_endpoint',
        status: 'enabled',
        enabled_events: ['*'],
        url: 'http://127.0.0.1:1/hook',
      } as Stripe.WebhookEndpoint,
    };
    return engine;
  };
  const customer = (id: string) => ({ id, object: 'customer', metadata: {} }) as unknown as Stripe.Customer;

  it('puts back every collection and drops the events when the unit throws', () => {
    const engine = make();
    engine.state.customers.cus_a = customer('cus_a');
    const before = JSON.stringify(engine.state);
    const enqueued: string[] = [];
    engine.dispatcher.enqueue = (event) => void enqueued.push(event.id);
    expect(() =>
      engine.transaction(() => {
        // Touch every collection the engine keeps, and emit.
        for (const key of Object.keys(engine.state) as Array<keyof typeof engine.state>) {
          const value = engine.state[key];
          if (key !== 'events' && key !== 'idempotency' && key !== 'webhookEndpoints' && typeof value === 'object' && value !== null) {
            Object.assign(value, { probe_1: { id: 'probe_1' } });
          }
        }
        const a = engine.state.customers.cus_a;
        if (a) a.metadata = { changed: 'yes' };
        engine.emit('customer.created', customer('cus_new'));
        delete engine.state.webhookEndpoints.we_1;
        throw new Error('refused');
      }),
    ).toThrow('refused');
    expect(JSON.stringify(engine.state)).toBe(before);
    expect(enqueued).toEqual([]);
  });

  it('keeps a unit whose error says its changes stand, and delivers only on commit', () => {
    const engine = make();
    const enqueued: string[] = [];
    engine.dispatcher.enqueue = (event) => void enqueued.push(event.type);
    const decline = new StripeApiError(402, { type: 'card_error', message: 'declined' });
    decline.keepChanges = true;
    expect(() =>
      engine.transaction(
        () => {
          engine.state.customers.cus_b = customer('cus_b');
          engine.emit('customer.created', customer('cus_b'));
          expect(enqueued).toEqual([]);
          throw decline;
        },
        (e) => e instanceof StripeApiError && e.keepChanges,
      ),
    ).toThrow('declined');
    expect(engine.state.customers.cus_b?.id).toBe('cus_b');
    expect(enqueued).toEqual(['customer.created']);
  });

  it('gives the same value for the same key within a unit only', () => {
    const engine = make();
    let n = 0;
    const next = () => ++n;
    engine.transaction(() => {
      expect(engine.memo('k', next)).toBe(1);
      expect(engine.memo('k', next)).toBe(1);
    });
    expect(engine.memo('k', next)).toBe(2);
  });
});
