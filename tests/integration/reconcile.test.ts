import { describe, expect, it } from 'vitest';
import { reconcile } from '@/lib/payments/reconcile';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';

// Reconcile heals drift between the database and Stripe (lost webhooks, a customer never
// linked, a tampered local row) and a second run changes nothing.

const h = paymentsHarness();

const since = () => new Date(Date.now() - 86_400_000);

describe('npm run reconcile', () => {
  it('heals lost webhooks, unlinked customers and tampered rows, then changes nothing', async () => {
    // In step to begin with.
    const subscriber = await h.auth.signUp();
    const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', {
      token: subscriber.accessToken,
      body: { planId: 'pro' },
    });
    const payer = await h.auth.signUp();
    const intent = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: payer.accessToken, body: { amount: 9 } });
    await h.local.idle();
    await reconcile(h.db, since());

    // Drift: webhooks stop arriving while the first invoice and a top-up are paid ...
    h.local.local.webhooks.pause();
    await stripe().paymentIntents.confirm(created.body.data.clientSecret.split('_secret_')[0], { payment_method: 'pm_card_visa' });
    await stripe().paymentIntents.confirm(intent.body.data.id, { payment_method: 'pm_card_visa' });
    // ... a customer is created for a user outside the app ...
    const stranger = await h.auth.signUp();
    await h.db.query('insert into users (id, email) values ($1, $2)', [stranger.userId, stranger.email]);
    const strangerCustomer = await stripe().customers.create({ email: stranger.email, metadata: { userId: stranger.userId } });
    // ... and a local row is tampered with.
    const subscriptionId: string = created.body.data.subscriptionId;

    const first = await reconcile(h.db, since());
    expect(first).toMatchObject({ eventsFailed: 0, customersLinked: 1 });
    expect(first.eventsProcessed).toBeGreaterThan(0);
    expect((await h.db.query('select plan_id, status from subscriptions where id = $1', [subscriptionId])).rows).toEqual([
      { plan_id: 'pro', status: 'active' },
    ]);
    expect((await h.db.query('select status from payment_attempts where payment_intent_id = $1', [intent.body.data.id])).rows).toEqual([
      { status: 'succeeded' },
    ]);
    expect(
      (await h.db.query('select sum(amount_micros)::bigint as total from credit_grants where user_id = $1', [payer.userId])).rows,
    ).toEqual([{ total: 9_000_000 }]);
    expect((await h.db.query('select stripe_customer_id from users where id = $1', [stranger.userId])).rows).toEqual([
      { stripe_customer_id: strangerCustomer.id },
    ]);

    await h.db.query("update subscriptions set plan_id = 'enterprise', cancel_at_period_end = true where id = $1", [subscriptionId]);
    const healed = await reconcile(h.db, since());
    expect(healed).toEqual({
      eventsProcessed: 0,
      eventsFailed: 0,
      customersLinked: 0,
      subscriptionsHealed: 1,
      paymentsHealed: 0,
      rechargesCharged: 0,
      unmatched: 0,
    });
    expect((await h.db.query('select plan_id, cancel_at_period_end from subscriptions where id = $1', [subscriptionId])).rows).toEqual([
      { plan_id: 'pro', cancel_at_period_end: false },
    ]);

    // The late deliveries and a second run change nothing.
    h.local.local.webhooks.resume();
    await h.local.idle();
    expect(await reconcile(h.db, since())).toEqual({
      eventsProcessed: 0,
      eventsFailed: 0,
      customersLinked: 0,
      subscriptionsHealed: 0,
      paymentsHealed: 0,
      rechargesCharged: 0,
      unmatched: 0,
    });
    expect((await h.db.query('select count(*)::int as n from credit_grants where user_id = $1', [payer.userId])).rows).toEqual([{ n: 1 }]);
  });

  it('credits a succeeded top-up that its (wrongly) finished events never credited', async () => {
    const payer = await h.auth.signUp();
    const intent = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: payer.accessToken, body: { amount: 4 } });
    await h.local.idle();
    h.local.local.webhooks.pause();
    try {
      await stripe().paymentIntents.confirm(intent.body.data.id, { payment_method: 'pm_card_visa' });
      // The inbox says its events were handled (say, by a faulty release), so only the sweep of
      // PaymentIntents can find the missing credit.
      for (const event of h.local.local
        .events()
        .filter((candidate) => (candidate.data.object as { id?: string }).id === intent.body.data.id)) {
        await h.db.query(
          "insert into webhook_events (id, type, stripe_created, payload, status) values ($1, $2, now(), '{}', 'processed') on conflict (id) do update set status = 'processed'",
          [event.id, event.type],
        );
      }
      const report = await reconcile(h.db, since());
      expect(report).toMatchObject({ eventsProcessed: 0, paymentsHealed: 1 });
      expect(
        (await h.db.query('select sum(amount_micros)::bigint as total from credit_grants where user_id = $1', [payer.userId])).rows,
      ).toEqual([{ total: 4_000_000 }]);
    } finally {
      h.local.local.webhooks.resume();
      await h.local.idle();
    }
  });
});
