import type { Queryable } from '@/lib/db';
import { microsToCentsCeil } from '@/lib/billing/money';
import type { Stripe } from '@/lib/stripe/client';
import { idOf } from '@/lib/stripe/mapping';
import { topUpUserId } from '@/lib/webhooks/handlers/payment-intents';
import { formatDollars, notify } from '@/lib/webhooks/notifications';
import type { HandlerResult } from '@/lib/webhooks/types';

// Money going back: refunds and disputes (chargebacks) of any charge, top-ups and subscription
// invoices alike. Each is recorded once whatever the order or number of deliveries (the SQL keys
// on the charge's refunded total and on the dispute's status), nets out of revenue on the admin
// view, and, for a top-up, takes its credit back (app_private.record_charge_refund,
// app_private.record_dispute: unspent credit first, the rest becomes owed).

const ACTOR = 'stripe-webhook';

/** The top-up user a charge's metadata names (charges of our intents carry its metadata). */
function metadataUser(charge: Stripe.Charge | null): string | null {
  if (!charge?.metadata) return null;
  return topUpUserId({ metadata: charge.metadata } as Stripe.PaymentIntent);
}

const owedText = (owedMicros: number) =>
  owedMicros > 0
    ? ` ${formatDollars(microsToCentsCeil(owedMicros))} of it had already been used and is now owed: your next top-up pays it first.`
    : '';

export async function onChargeRefunded(tx: Queryable, charge: Stripe.Charge, eventId: string): Promise<HandlerResult> {
  const { rows } = await tx.query<{ user_id: string; kind: string; refunded_cents: number; taken_micros: number; owed_micros: number }>(
    'select * from app_private.record_charge_refund($1, $2, $3, $4, $5, $6, $7)',
    [charge.id, idOf(charge.payment_intent), metadataUser(charge), idOf(charge.customer), charge.amount_refunded, charge.currency, ACTOR],
  );
  const row = rows[0];
  if (!row) return { outcome: 'ignored', userId: null };
  const credit =
    row.kind === 'usage_topup'
      ? ` The credit it bought is reduced by ${formatDollars(row.refunded_cents)}.${owedText(row.owed_micros)}`
      : '';
  await notify(tx, {
    userId: row.user_id,
    kind: 'credit_refunded',
    title: `${formatDollars(row.refunded_cents)} of your payment was refunded`,
    body: `The refund goes back to your card.${credit}`,
    data: { chargeId: charge.id, refundedCents: row.refunded_cents, owedMicros: row.owed_micros },
    dedupeKey: `refund:${eventId}`,
  });
  return { outcome: 'processed', userId: row.user_id };
}

const disputeStatus = (dispute: Stripe.Dispute): 'open' | 'won' | 'lost' =>
  dispute.status === 'lost' ? 'lost' : dispute.status === 'won' || dispute.status === 'warning_closed' ? 'won' : 'open';

/** charge.dispute.created / charge.dispute.closed (and updates that close it). */
export async function onDispute(
  tx: Queryable,
  dispute: Stripe.Dispute,
  disputedCharge: Stripe.Charge | null,
  _eventId: string,
  eventCreated: Date,
): Promise<HandlerResult> {
  const charge = typeof dispute.charge === 'string' ? disputedCharge : dispute.charge;
  const status = disputeStatus(dispute);
  const { rows } = await tx.query<{ user_id: string; kind: string; amount_cents: number; frozen_micros: number; owed_micros: number }>(
    'select * from app_private.record_dispute($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
    [
      dispute.id,
      idOf(dispute.charge),
      idOf(dispute.payment_intent) ?? idOf(charge?.payment_intent),
      metadataUser(charge),
      idOf(charge?.customer),
      dispute.amount,
      dispute.currency,
      status,
      eventCreated,
      ACTOR,
    ],
  );
  const row = rows[0];
  if (!row) return { outcome: 'ignored', userId: null };
  const amount = formatDollars(row.amount_cents);
  const topUp = row.kind === 'usage_topup';
  const text = {
    open: {
      title: `Your bank disputed a payment of ${amount}`,
      body: topUp
        ? `Until the dispute is settled, ${formatDollars(microsToCentsCeil(row.frozen_micros))} of the credit it bought is on hold.`
        : 'We will tell you how it ends.',
    },
    won: {
      title: `The dispute of your ${amount} payment was settled in our favour`,
      body: topUp ? 'The credit on hold can be used again.' : 'Nothing changes.',
    },
    lost: {
      title: `The dispute of your ${amount} payment was settled in your favour`,
      body: topUp ? `The credit it bought is taken back.${owedText(row.owed_micros)}` : 'The payment was returned to you.',
    },
  }[status];
  await notify(tx, {
    userId: row.user_id,
    kind: status === 'open' ? 'dispute_opened' : status === 'won' ? 'dispute_won' : 'dispute_lost',
    title: text.title,
    body: text.body,
    data: { disputeId: dispute.id, amountCents: row.amount_cents, status },
    dedupeKey: `dispute:${dispute.id}:${status}`,
  });
  // A disputed auto-recharge: no more charges to that card without the user saying so again.
  const paymentIntentId = idOf(dispute.payment_intent) ?? idOf(charge?.payment_intent);
  if (status === 'open' && paymentIntentId) {
    await tx.query('select app_private.pause_auto_recharge_after_dispute($1, $2)', [row.user_id, paymentIntentId]);
  }
  return { outcome: 'processed', userId: row.user_id };
}
