import { describe, expect, it } from 'vitest';
import { createSubscription, getSubscriptionForCheckout, fetchSubscription, syncSubscription } from '@/lib/payments/subscriptions';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { processEvent } from '@/lib/webhooks/inbox';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { GET as getBilling } from '@/app/api/payments/billing/route';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';

// One subscription per user at every door (issue 11, finding 3): an unpaid subscription for
// another plan is ended when the user subscribes again, checkout refuses it, and a second
// subscription that becomes active anyway is canceled at once and refunded. And USD only: an
// invoice in another currency is recorded and flagged, never accounted for as a period.

const h = paymentsHarness();
const intentIdOf = (clientSecret: string) => clientSecret.split('_secret_')[0]!;
const subscribe = (token: string, planId: string) =>
  api(postSubscription, 'POST', '/api/payments/subscriptions', { token, body: { planId } });
const customerOf = async (userId: string) =>
  (await h.db.query<{ c: string }>('select stripe_customer_id as c from users where id = $1', [userId])).rows[0]!.c;

describe('one subscription at a time', () => {
  it('an unpaid Pro is ended when Enterprise is asked for: its invoice cannot be paid and checkout refuses it', async () => {
    const user = await h.auth.signUp();
    const pro = await subscribe(user.accessToken, 'pro');
    const enterprise = await subscribe(user.accessToken, 'enterprise');
    expect(enterprise.status).toBe(200);
    await h.local.idle();
    const proId: string = pro.body.data.subscriptionId;

    // At Stripe: the Pro subscription is over and its first invoice void.
    const atStripe = await stripe().subscriptions.retrieve(proId, { expand: ['latest_invoice'] });
    expect([atStripe.status, (atStripe.latest_invoice as Stripe.Invoice).status]).toEqual(['canceled', 'void']);
    // Its client secret no longer pays anything.
    await expect(
      stripe().paymentIntents.confirm(intentIdOf(pro.body.data.clientSecret), { payment_method: 'pm_card_visa' }),
    ).rejects.toThrow();
    // Checkout hands out no secret for it.
    const checkout = await getSubscriptionForCheckout(h.db, user.userId, proId);
    expect(checkout).toMatchObject({ status: 'canceled', clientSecret: null });
    // Nor for an older unpaid one our records still show as pending: it is not the newest.
    await h.db.query(
      `insert into subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end, created_at)
       values ('sub_old_pending', $1, 'pro', 'incomplete', now(), now() + interval '1 month', now() - interval '1 hour')`,
      [user.userId],
    );
    expect(await getSubscriptionForCheckout(h.db, user.userId, 'sub_old_pending')).toMatchObject({
      status: 'superseded',
      clientSecret: null,
    });
    // The Enterprise one is the user's pending subscription, and paying it leaves exactly one.
    const pending = await getSubscriptionForCheckout(h.db, user.userId, enterprise.body.data.subscriptionId);
    expect(pending.clientSecret).toBe(enterprise.body.data.clientSecret);
    await stripe().paymentIntents.confirm(intentIdOf(pending.clientSecret!), { payment_method: 'pm_card_visa' });
    await h.local.idle();
    await h.db.query("delete from subscriptions where id = 'sub_old_pending'");
    const all = await stripe().subscriptions.list({ customer: await customerOf(user.userId), status: 'all' });
    expect(all.data.map((subscription) => subscription.status).sort()).toEqual(['active', 'canceled']);
    const audit = await h.db.query(
      "select entity_id, details->>'reason' as reason from audit_log where user_id = $1 and action = 'subscription.duplicate_ended'",
      [user.userId],
    );
    expect(audit.rows).toEqual([{ entity_id: proId, reason: 'replaced_by_new_subscription' }]);
  });

  it('ten requests for three plans at the same moment make one subscription', async () => {
    const user = await h.auth.signUp();
    const plans = ['pro', 'enterprise', 'starter', 'pro', 'enterprise', 'starter', 'pro', 'enterprise', 'starter', 'pro'];
    const answers = await Promise.all(plans.map((planId) => subscribe(user.accessToken, planId)));
    const customer = await customerOf(user.userId);
    const atStripe = await stripe().subscriptions.list({ customer, status: 'all' });
    expect(atStripe.data).toHaveLength(1);
    const ok = answers.filter((answer) => answer.status === 200);
    expect(new Set(ok.map((answer) => answer.body.data.subscriptionId))).toEqual(new Set([atStripe.data[0]!.id]));
    for (const refused of answers.filter((answer) => answer.status !== 200)) expect(refused.body.error?.code).toBe('idempotency_conflict');
    expect((await h.db.query('select count(*)::int as n from subscription_requests where user_id = $1', [user.userId])).rows).toEqual([
      { n: 0 },
    ]);
  });

  it('two plans asked at the same moment: the one that gets its turn last is refused even after the first finished', async () => {
    // What a loaded machine does to two concurrent requests: both arrive, the first runs to the
    // end, only then the second gets its turn. It arrived while the first was running, so it is
    // refused; a request that arrives afterwards is the user changing their mind.
    const user = await h.auth.signUp();
    await h.db.query('insert into users (id, email) values ($1, $2)', [user.userId, user.email]);
    const arrived = new Date();
    const first = await createSubscription(h.db, user.userId, 'pro', arrived);
    await expect(createSubscription(h.db, user.userId, 'enterprise', arrived)).rejects.toMatchObject({ code: 'idempotency_conflict' });
    const customer = await customerOf(user.userId);
    expect((await stripe().subscriptions.list({ customer, status: 'all' })).data.map((subscription) => subscription.id)).toEqual([
      first.subscriptionId,
    ]);
    const later = await createSubscription(h.db, user.userId, 'enterprise', new Date());
    expect(later.planId).toBe('enterprise');
    expect((await stripe().subscriptions.retrieve(first.subscriptionId)).status).toBe('canceled');
  });

  it('the same plan asked twice gets the same pending subscription, and nothing is ended', async () => {
    const user = await h.auth.signUp();
    const first = await subscribe(user.accessToken, 'pro');
    const second = await subscribe(user.accessToken, 'pro');
    expect(second.body.data.subscriptionId).toBe(first.body.data.subscriptionId);
    expect(second.body.data.clientSecret).toBe(first.body.data.clientSecret);
    expect((await stripe().subscriptions.retrieve(first.body.data.subscriptionId)).status).toBe('incomplete');
  });

  it('a second subscription paid anyway is canceled at once and its payment refunded, audited', async () => {
    const user = await h.auth.signUp();
    const enterprise = await subscribe(user.accessToken, 'enterprise');
    await stripe().paymentIntents.confirm(intentIdOf(enterprise.body.data.clientSecret), { payment_method: 'pm_card_visa' });
    await h.local.idle();
    // Straight at Stripe, past all our doors: a Pro subscription for the same customer, paid.
    const customer = await customerOf(user.userId);
    const sneaky = await stripe().subscriptions.create({
      customer,
      items: [{ price: 'price_pro_plan_id' }],
      payment_behavior: 'default_incomplete',
      metadata: { userId: user.userId, planId: 'pro' },
      expand: ['latest_invoice.confirmation_secret'],
    });
    const secret = (sneaky.latest_invoice as Stripe.Invoice).confirmation_secret!.client_secret;
    await stripe().paymentIntents.confirm(intentIdOf(secret), { payment_method: 'pm_card_visa' });
    await h.local.idle();

    const after = await stripe().subscriptions.retrieve(sneaky.id);
    expect(after.status).toBe('canceled');
    const intent = await stripe().paymentIntents.retrieve(intentIdOf(secret), { expand: ['latest_charge'] });
    expect((intent.latest_charge as Stripe.Charge).amount_refunded).toBe(5000);
    const active = await stripe().subscriptions.list({ customer, status: 'active' });
    expect(active.data.map((subscription) => subscription.id)).toEqual([enterprise.body.data.subscriptionId]);

    const billing = await api(getBilling, 'GET', '/api/payments/billing', { token: user.accessToken });
    expect(billing.body.data).toMatchObject({ planId: 'enterprise', subscription: { id: enterprise.body.data.subscriptionId } });
    const rows = await h.db.query('select id, status from subscriptions where user_id = $1 order by created_at', [user.userId]);
    expect(rows.rows).toEqual([
      { id: enterprise.body.data.subscriptionId, status: 'active' },
      { id: sneaky.id, status: 'canceled' },
    ]);
    const audit = await h.db.query(
      "select entity_id, amount_micros, details->>'kept' as kept from audit_log where user_id = $1 and action = 'subscription.duplicate_ended'",
      [user.userId],
    );
    expect(audit.rows).toEqual([{ entity_id: sneaky.id, amount_micros: 50_000_000, kept: enterprise.body.data.subscriptionId }]);
  });
});

describe('USD only', () => {
  it('an invoice in another currency is recorded and flagged, and never starts a period', async () => {
    const user = await h.auth.signUp();
    const pro = await subscribe(user.accessToken, 'pro');
    await h.local.idle();
    h.local.local.webhooks.pause();
    let paidEvent: Stripe.Event | undefined;
    try {
      await stripe().paymentIntents.confirm(intentIdOf(pro.body.data.clientSecret), { payment_method: 'pm_card_visa' });
      paidEvent = h.local.local
        .events('invoice.paid')
        .find((event) => (event.data.object as Stripe.Invoice).parent?.subscription_details?.subscription === pro.body.data.subscriptionId);
    } finally {
      h.local.local.webhooks.resume();
    }
    expect(paidEvent).toBeDefined();
    // The same invoice as if billed in euros (a price with another currency, an account setting).
    const euro = structuredClone(paidEvent!);
    euro.id = `${paidEvent!.id}_eur`;
    (euro.data.object as Stripe.Invoice).currency = 'eur';
    (euro.data.object as Stripe.Invoice).id = `${(paidEvent!.data.object as Stripe.Invoice).id}_eur`;
    await processEvent(h.db, euro);

    const invoice = await h.db.query('select currency, flag, status from invoices where id = $1', [
      (euro.data.object as Stripe.Invoice).id,
    ]);
    expect(invoice.rows).toEqual([{ currency: 'eur', flag: 'currency:eur', status: 'paid' }]);
    const audit = await h.db.query(
      "select action, entity_id from audit_log where user_id = $1 and action in ('invoice.flagged', 'usage_period.started')",
      [user.userId],
    );
    expect(audit.rows).toEqual([{ action: 'invoice.flagged', entity_id: (euro.data.object as Stripe.Invoice).id }]);
    // Processing it again flags nothing twice.
    await h.db.query('delete from webhook_events where id = $1', [euro.id]);
    await processEvent(h.db, euro);
    expect((await h.db.query("select 1 from audit_log where user_id = $1 and action = 'invoice.flagged'", [user.userId])).rowCount).toBe(1);
  });

  it('a subscription in another currency is never a plan in force', async () => {
    const user = await h.auth.signUp();
    const pro = await subscribe(user.accessToken, 'pro');
    await stripe().paymentIntents.confirm(intentIdOf(pro.body.data.clientSecret), { payment_method: 'pm_card_visa' });
    await h.local.idle();
    const snapshot = await fetchSubscription(pro.body.data.subscriptionId);
    const inEuros = { ...snapshot, subscription: { ...snapshot.subscription, id: 'sub_in_euros', currency: 'eur' } };
    expect(await h.db.systemTransaction((tx) => syncSubscription(tx, inEuros, 'test'))).toBeNull();
    expect((await h.db.query("select 1 from subscriptions where id = 'sub_in_euros'")).rowCount).toBe(0);
  });
});
