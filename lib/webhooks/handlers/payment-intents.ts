import type { Queryable } from '@/lib/db';
import { recordRechargeOutcome } from '@/lib/payments/auto-recharge';
import { TOP_UP_PURPOSE } from '@/lib/payments/payment-intents';
import type { Stripe } from '@/lib/stripe/client';
import { customerIdOf } from '@/lib/stripe/mapping';
import { formatDollars, notify } from '@/lib/webhooks/notifications';
import type { HandlerResult } from '@/lib/webhooks/types';

// Usage top-ups. Only intents we created for a top-up (metadata.purpose) touch credits; the
// intents of subscription invoices are accounted for by the invoice handlers.

const ACTOR = 'stripe-webhook';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const customerOf = (intent: Stripe.PaymentIntent) => customerIdOf(intent);

/** The user a top-up intent names, if it is one of our top-ups (no database read). */
export function topUpUserId(intent: Stripe.PaymentIntent): string | null {
  const userId = intent.metadata?.userId;
  return intent.metadata?.purpose === TOP_UP_PURPOSE && userId && UUID.test(userId) ? userId : null;
}

/** The top-up's user, if we know them and, once linked, they own the intent's customer. */
async function topUpUser(tx: Queryable, intent: Stripe.PaymentIntent): Promise<string | null> {
  const userId = topUpUserId(intent);
  if (!userId) return null;
  const { rows } = await tx.query<{ id: string }>(
    'select id from public.users where id = $1::uuid and (stripe_customer_id is null or stripe_customer_id = $2)',
    [userId, customerOf(intent)],
  );
  return rows[0]?.id ?? null;
}

/** The auto-recharge an intent pays (lib/payments/auto-recharge.ts), if it is one. */
function autoRechargeOf(intent: Stripe.PaymentIntent): string | null {
  const id = intent.metadata?.autoRechargeId;
  return id && UUID.test(id) ? id : null;
}

/** What app_private.settle_top_up needs to know of an intent. */
export function topUpFields(intent: Stripe.PaymentIntent) {
  return {
    intentId: intent.id,
    userId: topUpUserId(intent),
    customerId: customerOf(intent),
    amountCents: intent.amount,
    receivedCents: intent.amount_received,
    // USD only: another currency is recorded and flagged, never credited.
    currency: intent.currency,
  };
}

async function ensureAttempt(tx: Queryable, userId: string, intent: Stripe.PaymentIntent): Promise<void> {
  await tx.query(
    `insert into public.payment_attempts (user_id, amount_cents, payment_intent_id, kind, status)
     values ($1, $2, $3, 'usage_topup', 'pending') on conflict (payment_intent_id) do nothing`,
    [userId, intent.amount, intent.id],
  );
}

/** Marks the attempt succeeded and credits exactly what was received, once per intent (in SQL). */
export async function onPaymentIntentSucceeded(tx: Queryable, intent: Stripe.PaymentIntent, eventCreated: Date): Promise<HandlerResult> {
  const topUp = topUpFields(intent);
  const { rows } = await tx.query<{ user_id: string | null }>(
    'select app_private.settle_top_up($1, $2, $3, $4, $5, $6, $7, $8) as user_id',
    [topUp.intentId, topUp.userId, topUp.customerId, topUp.amountCents, topUp.receivedCents, eventCreated, ACTOR, topUp.currency],
  );
  const userId = rows[0]?.user_id ?? null;
  if (!userId) return { outcome: 'ignored', userId: null };
  // An auto-recharge's credit landed above, as any top-up's: the recharge is done.
  const recharge = autoRechargeOf(intent);
  if (recharge) await recordRechargeOutcome(tx, recharge, userId, 'succeeded', intent.id);
  return { outcome: 'processed', userId };
}

/** Records why a payment failed and tells the user, with a way to try again. Never undoes a success. */
export async function onPaymentIntentFailed(tx: Queryable, intent: Stripe.PaymentIntent, eventId: string): Promise<HandlerResult> {
  const userId = await topUpUser(tx, intent);
  if (!userId) return { outcome: 'ignored', userId: null };
  await ensureAttempt(tx, userId, intent);
  const error = intent.last_payment_error;
  const reason = error?.decline_code ?? error?.code ?? 'payment_failed';
  const message = error?.message ?? 'The payment could not be completed.';
  const { rowCount } = await tx.query(
    `update public.payment_attempts set status = 'failed', failure_code = $2, failure_message = $3
     where payment_intent_id = $1 and status in ('pending', 'failed')`,
    [intent.id, reason, message],
  );
  if (!rowCount) return { outcome: 'processed', userId };
  console.warn('payment failed', { paymentIntent: intent.id, userId, reason });
  const recharge = autoRechargeOf(intent);
  if (recharge) {
    // The recharge's own notifications say what happened and what to do (record_auto_recharge). A
    // failed confirmation by the user leaves it waiting for them: they may try again or cancel.
    if (reason !== 'payment_intent_authentication_failure') {
      await recordRechargeOutcome(
        tx,
        recharge,
        userId,
        reason === 'authentication_required' ? 'requires_action' : 'declined',
        intent.id,
        reason,
      );
    }
    return { outcome: 'processed', userId };
  }
  await notify(tx, {
    userId,
    kind: 'payment_failed',
    title: `Your payment of ${formatDollars(intent.amount)} did not go through`,
    body: `${message} No money was taken. You can try again with the same or another card.`,
    data: { paymentIntentId: intent.id, amountCents: intent.amount, reason, retryUrl: `/billing/checkout?paymentIntent=${intent.id}` },
    dedupeKey: `payment_failed:${eventId}`,
  });
  return { outcome: 'processed', userId };
}

export async function onPaymentIntentCanceled(tx: Queryable, intent: Stripe.PaymentIntent): Promise<HandlerResult> {
  const userId = await topUpUser(tx, intent);
  if (!userId) return { outcome: 'ignored', userId: null };
  await tx.query(
    "update public.payment_attempts set status = 'canceled' where payment_intent_id = $1 and status in ('pending', 'failed')",
    [intent.id],
  );
  const recharge = autoRechargeOf(intent);
  if (recharge) await recordRechargeOutcome(tx, recharge, userId, 'canceled', intent.id);
  return { outcome: 'processed', userId };
}
