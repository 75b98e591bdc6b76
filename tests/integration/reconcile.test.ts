import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@/lib/db';
import { useDatabase } from '@/lib/db';
import { reconcile } from '@/lib/payments/reconcile';
import { stripe } from '@/lib/stripe/client';
import { openPostgresClone } from '@/tests/helpers/databases';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { api } from '@/tests/helpers/api';
import { startTestStripe, type TestStripe } from '@/tests/helpers/stripe';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';
import { POST as postWebhook } from '@/app/api/payments/webhook/route';

// Reconcile heals drift between the database and Stripe (lost webhooks, a customer never
// linked, a tampered local row) and a second run changes nothing.

let auth: TestAuth;
let local: TestStripe;
let db: Database;

beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
  local = await startTestStripe(postWebhook);
  db = await openPostgresClone();
  useDatabase(db);
}, 60_000);
afterAll(async () => {
  await local?.close();
  await db?.close();
  await auth?.close();
});

const since = () => new Date(Date.now() - 86_400_000);

describe('npm run reconcile', () => {
  it('heals lost webhooks, unlinked customers and tampered rows, then changes nothing', async () => {
    // In step to begin with.
    const subscriber = await auth.signUp();
    const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: subscriber.accessToken, body: { planId: 'pro' } });
    const payer = await auth.signUp();
    const intent = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: payer.accessToken, body: { amount: 9 } });
    await local.idle();
    await reconcile(db, since());

    // Drift: webhooks stop arriving while the first invoice and a top-up are paid ...
    local.local.webhooks.pause();
    await stripe().paymentIntents.confirm(created.body.data.clientSecret.split('_secret_')[0], { payment_method: 'pm_card_visa' });
    await stripe().paymentIntents.confirm(intent.body.data.id, { payment_method: 'pm_card_visa' });
    // ... a customer is created for a user outside the app ...
    const stranger = await auth.signUp();
    await db.query('insert into users (id, email) values ($1, $2)', [stranger.userId, stranger.email]);
    const strangerCustomer = await stripe().customers.create({ email: stranger.email, metadata: { userId: stranger.userId } });
    // ... and a local row is tampered with.
    const subscriptionId: string = created.body.data.subscriptionId;

    const first = await reconcile(db, since());
    expect(first).toMatchObject({ eventsFailed: 0, customersLinked: 1 });
    expect(first.eventsProcessed).toBeGreaterThan(0);
    expect((await db.query('select plan_id, status from subscriptions where id = $1', [subscriptionId])).rows).toEqual([{ plan_id: 'pro', status: 'active' }]);
    expect((await db.query('select status from payment_attempts where payment_intent_id = $1', [intent.body.data.id])).rows).toEqual([{ status: 'succeeded' }]);
    expect((await db.query('select sum(amount_micros)::bigint as total from credit_grants where user_id = $1', [payer.userId])).rows).toEqual([{ total: 9_000_000 }]);
    expect((await db.query('select stripe_customer_id from users where id = $1', [stranger.userId])).rows).toEqual([{ stripe_customer_id: strangerCustomer.id }]);

    await db.query("update subscriptions set plan_id = 'enterprise', cancel_at_period_end = true where id = $1", [subscriptionId]);
    const healed = await reconcile(db, since());
    expect(healed).toEqual({ eventsProcessed: 0, eventsFailed: 0, customersLinked: 0, subscriptionsHealed: 1, paymentsHealed: 0, unmatched: 0 });
    expect((await db.query('select plan_id, cancel_at_period_end from subscriptions where id = $1', [subscriptionId])).rows).toEqual([
      { plan_id: 'pro', cancel_at_period_end: false },
    ]);

    // The late deliveries and a second run change nothing.
    local.local.webhooks.resume();
    await local.idle();
    expect(await reconcile(db, since())).toEqual({ eventsProcessed: 0, eventsFailed: 0, customersLinked: 0, subscriptionsHealed: 0, paymentsHealed: 0, unmatched: 0 });
    expect((await db.query('select count(*)::int as n from credit_grants where user_id = $1', [payer.userId])).rows).toEqual([{ n: 1 }]);
  });

  it('credits a succeeded top-up that its (wrongly) finished events never credited', async () => {
    const payer = await auth.signUp();
    const intent = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: payer.accessToken, body: { amount: 4 } });
    await local.idle();
    local.local.webhooks.pause();
    try {
      await stripe().paymentIntents.confirm(intent.body.data.id, { payment_method: 'pm_card_visa' });
      // The inbox says its events were handled (say, by a faulty release), so only the sweep of
      // PaymentIntents can find the missing credit.
      for (const event of local.local.events().filter((candidate) => (candidate.data.object as { id?: string }).id === intent.body.data.id)) {
        await db.query(
          "insert into webhook_events (id, type, stripe_created, payload, status) values ($1, $2, now(), '{}', 'processed') on conflict (id) do update set status = 'processed'",
          [event.id, event.type],
        );
      }
      const report = await reconcile(db, since());
      expect(report).toMatchObject({ eventsProcessed: 0, paymentsHealed: 1 });
      expect((await db.query('select sum(amount_micros)::bigint as total from credit_grants where user_id = $1', [payer.userId])).rows).toEqual([{ total: 4_000_000 }]);
    } finally {
      local.local.webhooks.resume();
      await local.idle();
    }
  });
});
