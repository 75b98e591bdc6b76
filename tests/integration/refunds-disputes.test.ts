import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { commitUsage, getUsageSnapshot } from '@/lib/billing/usage';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { asTaskRunner } from '@/tests/helpers/users';
import { deliverWebhook as deliver } from '@/tests/helpers/webhooks';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';

// Refunds and disputes of top-ups through the webhook route (issue 11, finding 5): real top-ups
// paid on the local Stripe, real refunds and disputes and their events; reorderings as signed
// events built from the real charge.

const h = paymentsHarness();
const DOLLAR = 1_000_000;

/** A signed-up user with a paid top-up of `dollars` (4242), and its charge. */
async function paidTopUp(dollars: number, options: { pauseBeforeConfirm?: boolean } = {}) {
  const user = await h.auth.signUp();
  const created = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', {
    token: user.accessToken,
    body: { amount: dollars },
  });
  const intentId: string = created.body.data.id;
  await h.local.idle();
  if (options.pauseBeforeConfirm) h.local.local.webhooks.pause();
  const intent = await stripe().paymentIntents.confirm(intentId, { payment_method: 'pm_card_visa' });
  if (!options.pauseBeforeConfirm) await h.local.idle();
  const actor = {
    kind: 'user' as const,
    userId: user.userId,
    claims: { sub: user.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 3600 },
  };
  return { user, actor, intentId, chargeId: intent.latest_charge as string };
}

const grantOf = async (intentId: string) =>
  (
    await h.db.query<{ left: number; frozen: number; refunded: number }>(
      "select left_micros as left, frozen_micros as frozen, refunded_micros as refunded from credit_grants where source = 'payment_intent' and source_id = $1",
      [intentId],
    )
  ).rows[0];

const notices = async (userId: string) =>
  (
    await h.db.query<{ kind: string; title: string }>(
      "select kind, title from notifications where user_id = $1 and kind <> 'payment_failed' order by created_at",
      [userId],
    )
  ).rows;

function disputeEvent(chargeId: string, intentId: string, amountCents: number, status: Stripe.Dispute.Status, type: string): Stripe.Event {
  const dispute = {
    id: `du_${chargeId.slice(3)}`,
    object: 'dispute',
    amount: amountCents,
    currency: 'usd',
    charge: chargeId,
    payment_intent: intentId,
    status,
    reason: 'fraudulent',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    metadata: {},
  };
  return {
    id: `evt_${randomUUID().replaceAll('-', '')}`,
    object: 'event',
    type,
    created: Math.floor(Date.now() / 1000),
    api_version: '2026-10-28.endive',
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object: dispute },
  } as unknown as Stripe.Event;
}

describe('refunds of a top-up', () => {
  it('takes a partial refund out of the unspent credit, the rest of a full refund becomes owed, and tells the user', async () => {
    const { user, actor, intentId } = await paidTopUp(20);
    // $10 allowance, then $8 of the $20 credit.
    await commitUsage(h.db, asTaskRunner(user.userId), { agent: 'a', tokens: 18_000, executionMs: 0, idempotencyKey: randomUUID() });
    expect(await grantOf(intentId)).toEqual({ left: 12 * DOLLAR, frozen: 0, refunded: 0 });

    await stripe().refunds.create({ payment_intent: intentId, amount: 500 });
    await h.local.idle();
    expect(await grantOf(intentId)).toEqual({ left: 7 * DOLLAR, frozen: 0, refunded: 5 * DOLLAR });
    await stripe().refunds.create({ payment_intent: intentId });
    await h.local.idle();
    expect(await grantOf(intentId)).toEqual({ left: 0, frozen: 0, refunded: 20 * DOLLAR });
    expect(await getUsageSnapshot(h.db, actor)).toMatchObject({ creditsMicros: 0, owedMicros: 8 * DOLLAR, owedCents: 800 });
    expect(await notices(user.userId)).toEqual([
      { kind: 'credit_refunded', title: '$5.00 of your payment was refunded' },
      { kind: 'credit_refunded', title: '$15.00 of your payment was refunded' },
    ]);

    // Every charge.refunded event again, and in reverse: nothing more happens.
    const refunds = h.local.local
      .events('charge.refunded')
      .filter((event) => (event.data.object as Stripe.Charge).payment_intent === intentId);
    expect(refunds).toHaveLength(2);
    for (const event of [...refunds].reverse()) {
      const again = { ...event, id: `${event.id}_again` };
      expect((await deliver(again)).status).toBe(200);
    }
    expect(await grantOf(intentId)).toEqual({ left: 0, frozen: 0, refunded: 20 * DOLLAR });
    const { rows } = await h.db.query('select sum(amount_cents)::int as cents from charge_refunds where payment_intent_id = $1', [
      intentId,
    ]);
    expect(rows[0]).toEqual({ cents: 2_000 });
  });

  it('applies a refund whose event arrives before the payment_intent.succeeded event', async () => {
    const { intentId } = await paidTopUp(10, { pauseBeforeConfirm: true });
    try {
      await stripe().refunds.create({ payment_intent: intentId, amount: 400 });
      const events = h.local.local.events();
      const refunded = events.find((event) => event.type === 'charge.refunded' && event.data.object.payment_intent === intentId)!;
      const succeeded = events.find((event) => event.type === 'payment_intent.succeeded' && event.data.object.id === intentId)!;
      expect((await deliver(refunded)).body.outcome).toBe('processed');
      expect((await deliver(succeeded)).body.outcome).toBe('processed');
      expect(await grantOf(intentId)).toEqual({ left: 6 * DOLLAR, frozen: 0, refunded: 4 * DOLLAR });
    } finally {
      h.local.local.webhooks.resume();
      await h.local.idle();
    }
    expect(await grantOf(intentId)).toEqual({ left: 6 * DOLLAR, frozen: 0, refunded: 4 * DOLLAR });
  });
});

describe('disputes of a top-up', () => {
  it('through the local Stripe: pm_card_createDispute freezes the credit; losing evidence takes it back, with notices', async () => {
    const user = await h.auth.signUp();
    const created = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 12 } });
    const intentId: string = created.body.data.id;
    await stripe().paymentIntents.confirm(intentId, { payment_method: 'pm_card_createDispute' });
    await h.local.idle();
    expect(await grantOf(intentId)).toEqual({ left: 12 * DOLLAR, frozen: 12 * DOLLAR, refunded: 0 });
    const dispute = (await stripe().disputes.list({ payment_intent: intentId })).data[0]!;
    await stripe().disputes.update(dispute.id, { evidence: { uncategorized_text: 'losing_evidence' } });
    await h.local.idle();
    expect(await grantOf(intentId)).toEqual({ left: 0, frozen: 0, refunded: 12 * DOLLAR });
    expect((await notices(user.userId)).map((notice) => notice.kind)).toEqual(['dispute_opened', 'dispute_lost']);
    const { rows } = await h.db.query('select status, amount_cents from disputes where id = $1', [dispute.id]);
    expect(rows).toEqual([{ status: 'lost', amount_cents: 1_200 }]);
  });

  it('freezes the disputed credit, and a dispute won releases it', async () => {
    const { user, actor, intentId, chargeId } = await paidTopUp(10);
    const opened = disputeEvent(chargeId, intentId, 1_000, 'needs_response', 'charge.dispute.created');
    expect((await deliver(opened)).body.outcome).toBe('processed');
    expect((await deliver(opened)).body.outcome).toBe('duplicate');
    expect(await grantOf(intentId)).toEqual({ left: 10 * DOLLAR, frozen: 10 * DOLLAR, refunded: 0 });
    expect((await getUsageSnapshot(h.db, actor)).creditsMicros).toBe(0);
    await deliver(disputeEvent(chargeId, intentId, 1_000, 'won', 'charge.dispute.closed'));
    expect(await grantOf(intentId)).toEqual({ left: 10 * DOLLAR, frozen: 0, refunded: 0 });
    expect((await getUsageSnapshot(h.db, actor)).creditsMicros).toBe(10 * DOLLAR);
    expect((await notices(user.userId)).map((notice) => notice.kind)).toEqual(['dispute_opened', 'dispute_won']);
  });

  it('takes the credit back when lost, what was spent becoming owed, even when the closing arrives first', async () => {
    const { user, actor, intentId, chargeId } = await paidTopUp(10);
    await commitUsage(h.db, asTaskRunner(user.userId), { agent: 'a', tokens: 13_000, executionMs: 0, idempotencyKey: randomUUID() }); // $3 of credit
    await deliver(disputeEvent(chargeId, intentId, 1_000, 'lost', 'charge.dispute.closed'));
    await deliver(disputeEvent(chargeId, intentId, 1_000, 'needs_response', 'charge.dispute.created')); // late
    expect(await grantOf(intentId)).toEqual({ left: 0, frozen: 0, refunded: 10 * DOLLAR });
    expect(await getUsageSnapshot(h.db, actor)).toMatchObject({ creditsMicros: 0, owedMicros: 3 * DOLLAR });
    expect((await notices(user.userId)).map((notice) => notice.kind)).toEqual(['dispute_lost']);
  });
});
