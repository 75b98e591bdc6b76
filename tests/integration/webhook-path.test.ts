import { describe, expect, it } from 'vitest';
import { reconcile } from '@/lib/payments/reconcile';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { dispatch } from '@/lib/webhooks/dispatcher';
import { processEvent } from '@/lib/webhooks/inbox';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';

// One path for every webhook (issue 11, "leave the money code readable"): the dispatcher handles
// payment_intent.succeeded like every other type, in the event's one transaction, and reconcile
// heals through the same dispatcher.

const h = paymentsHarness();
const intentIdOf = (clientSecret: string) => clientSecret.split('_secret_')[0]!;
const credits = async (userId: string) =>
  (await h.db.query<{ total: string | null }>('select sum(amount_micros)::text as total from credit_grants where user_id = $1', [userId]))
    .rows[0]!.total;

/** Two users' paid $7 top-ups whose webhooks are held back (until resume), and their payment_intent.succeeded events. */
async function heldTopUps() {
  const made = [];
  for (let n = 0; n < 2; n++) {
    const user = await h.auth.signUp();
    const intent = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 7 } });
    made.push({ user, intentId: intent.body.data.id as string });
  }
  await h.local.idle();
  h.local.local.webhooks.pause();
  for (const { intentId } of made) await stripe().paymentIntents.confirm(intentId, { payment_method: 'pm_card_visa' });
  const eventOf = (intentId: string) =>
    h.local.local.events('payment_intent.succeeded').find((candidate) => (candidate.data.object as Stripe.PaymentIntent).id === intentId)!;
  return made.map((entry) => ({ ...entry, event: eventOf(entry.intentId) }));
}

describe('one webhook path', () => {
  it("the dispatcher handles payment_intent.succeeded: the top-up is credited once, in the caller's transaction", async () => {
    const [held, other] = (await heldTopUps()) as [
      Awaited<ReturnType<typeof heldTopUps>>[number],
      Awaited<ReturnType<typeof heldTopUps>>[number],
    ];
    const { user, event } = held;
    const first = await h.db.systemTransaction((tx) => dispatch(tx, event, { subscription: null }));
    expect(first).toEqual({ outcome: 'processed', userId: user.userId });
    expect(await credits(user.userId)).toBe('7000000');
    // A rolled back transaction leaves nothing behind.
    await expect(
      h.db.systemTransaction(async (tx) => {
        await dispatch(tx, other.event, { subscription: null });
        throw new Error('crash after the handler');
      }),
    ).rejects.toThrow('crash after the handler');
    expect(await credits(other.user.userId)).toBeNull();
    // Through the inbox: once, whatever the number of deliveries.
    const answers = await Promise.all([1, 2, 3].map(() => processEvent(h.db, other.event)));
    expect(answers.map((answer) => answer.outcome).sort()).toEqual(['duplicate', 'duplicate', 'processed']);
    expect(await credits(other.user.userId)).toBe('7000000');
    h.local.local.webhooks.resume();
    await h.local.idle();
  });

  it('reconcile ends a second subscription the webhooks never saw, and refunds it', async () => {
    const user = await h.auth.signUp();
    const first = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: user.accessToken, body: { planId: 'pro' } });
    await stripe().paymentIntents.confirm(intentIdOf(first.body.data.clientSecret), { payment_method: 'pm_card_visa' });
    await h.local.idle();
    const customer = (await h.db.query<{ c: string }>('select stripe_customer_id as c from users where id = $1', [user.userId])).rows[0]!.c;
    h.local.local.webhooks.pause();
    const second = await stripe().subscriptions.create({
      customer,
      items: [{ price: 'price_enterprise_plan_id' }],
      payment_behavior: 'default_incomplete',
      metadata: { userId: user.userId },
      expand: ['latest_invoice.confirmation_secret'],
    });
    await stripe().paymentIntents.confirm(intentIdOf((second.latest_invoice as Stripe.Invoice).confirmation_secret!.client_secret), {
      payment_method: 'pm_card_visa',
    });
    // Reconcile runs before any of those events arrives.
    await reconcile(h.db, new Date(Date.now() - 3_600_000));
    h.local.local.webhooks.resume();
    await h.local.idle();
    expect((await stripe().subscriptions.retrieve(second.id)).status).toBe('canceled');
    const active = await stripe().subscriptions.list({ customer, status: 'active' });
    expect(active.data.map((subscription) => subscription.id)).toEqual([first.body.data.subscriptionId]);
    const audit = await h.db.query(
      "select entity_id, amount_micros from audit_log where user_id = $1 and action = 'subscription.duplicate_ended'",
      [user.userId],
    );
    expect(audit.rows).toEqual([{ entity_id: second.id, amount_micros: 500_000_000 }]);
  });
});
