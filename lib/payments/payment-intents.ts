import type { Database } from '@/lib/db';
import { AppError, isAppError } from '@/lib/http/errors';
import { centsToDollars } from '@/lib/billing/money';
import { ensureCustomerId } from '@/lib/payments/customers';
import { topUpKey } from '@/lib/payments/idempotency';
import { enforceRateLimit } from '@/lib/payments/rate-limit';
import { MAX_TOP_UP_DOLLARS, MIN_CHARGE_CENTS, paymentIntentAnswerSchema, type PaymentIntentAnswer } from '@/lib/payments/schemas';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { customerIdOf } from '@/lib/stripe/mapping';
import { stripeCall } from '@/lib/stripe/errors';

// Usage top-ups: a PaymentIntent for the user's customer, recorded in payment_attempts as
// pending; the payment_intent.succeeded webhook credits exactly what was paid.
//
// Never two intents for one click: a still-payable intent of the same amount (for a shortfall,
// of at least the amount) from the last REUSE_MINUTES is handed back instead of a new one, and a
// new one is created with the idempotency key `topup:<user>:<number of attempts so far>:<amount>:<hour>`
// (lib/payments/idempotency.ts), so concurrent requests (which see the same number) get the same
// intent from Stripe, and the attempt row is written once.
// The client secret goes back to the caller and is never stored or logged.

const REUSE_MINUTES = 30;
const PAYABLE = new Set<Stripe.PaymentIntent.Status>(['requires_payment_method', 'requires_confirmation', 'requires_action']);
export const TOP_UP_PURPOSE = 'usage_topup';

function answer(intent: Stripe.PaymentIntent, reused: boolean): PaymentIntentAnswer {
  if (!intent.client_secret) throw new Error(`payment intent ${intent.id} came back without a client secret`);
  return paymentIntentAnswerSchema.parse({
    id: intent.id,
    clientSecret: intent.client_secret,
    amountCents: intent.amount,
    amount: centsToDollars(intent.amount),
    status: intent.status,
    reused,
  });
}

/** A recent still-payable intent of exactly `amountCents`, or (coverAtLeast) the smallest of at least that. */
async function reusableIntent(
  db: Database,
  userId: string,
  amountCents: number,
  coverAtLeast: boolean,
): Promise<Stripe.PaymentIntent | null> {
  // An auto-recharge's intent is handed back only while it waits for the user's confirmation: a
  // declined one stays payable at Stripe, and paying it would turn a failed recharge into a paid
  // one (past the month's cap, "charged to your default card").
  const { rows } = await db.query<{ payment_intent_id: string }>(
    `select a.payment_intent_id from public.payment_attempts a
     where a.user_id = $1 and a.kind = 'usage_topup' and a.status in ('pending', 'failed')
       and (a.amount_cents = $2 or ($4 and a.amount_cents >= $2 and a.amount_cents <= $5))
       and a.payment_intent_id is not null and a.created_at > now() - make_interval(mins => $3)
       and not exists (select 1 from public.auto_recharges r
                       where r.payment_intent_id = a.payment_intent_id and r.status <> 'requires_action')
     order by a.amount_cents, a.created_at desc limit 1`,
    [userId, amountCents, REUSE_MINUTES, coverAtLeast, MAX_TOP_UP_DOLLARS * 100],
  );
  const id = rows[0]?.payment_intent_id;
  if (!id) return null;
  const intent = await stripeCall(() => stripe().paymentIntents.retrieve(id));
  return PAYABLE.has(intent.status) ? intent : null;
}

/**
 * A top-up PaymentIntent of `amountCents` (at least Stripe's minimum charge, at most our maximum).
 * `coverAtLeast`: any open intent of at least that amount will do (a shortfall asked about again
 * after a few cents more usage keeps its intent).
 */
export async function createTopUpIntent(
  db: Database,
  userId: string,
  amountCents: number,
  coverAtLeast = false,
): Promise<PaymentIntentAnswer> {
  const amount = Math.min(Math.max(amountCents, MIN_CHARGE_CENTS), MAX_TOP_UP_DOLLARS * 100);
  // Counted before looking for a reusable intent: a concurrent request either finished first
  // (then it is found below) or sees the same count (then Stripe answers both with one intent).
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from public.payment_attempts where user_id = $1', [userId]);
  const sequence = rows[0]?.n ?? 0;
  const reused = await reusableIntent(db, userId, amount, coverAtLeast);
  if (reused) return answer(reused, true);

  await enforceRateLimit(db, userId, 'payment_intent');
  const customerId = await ensureCustomerId(db, userId);
  const intent = await stripeCall(() =>
    stripe().paymentIntents.create(
      {
        amount,
        currency: 'usd',
        customer: customerId,
        automatic_payment_methods: { enabled: true },
        description: 'Usage top-up',
        metadata: { userId, purpose: TOP_UP_PURPOSE, sequence: String(sequence) },
      },
      { idempotencyKey: topUpKey(userId, sequence, amount) },
    ),
  );
  await recordAttempt(db, userId, intent);
  return answer(intent, false);
}

/** The attempt row of a top-up intent; written once however often it is called. */
export async function recordAttempt(db: Database, userId: string, intent: Stripe.PaymentIntent): Promise<void> {
  await db.query(
    `insert into public.payment_attempts (user_id, amount_cents, payment_intent_id, kind, status)
     values ($1, $2, $3, 'usage_topup', 'pending')
     on conflict (payment_intent_id) do nothing`,
    [userId, intent.amount, intent.id],
  );
}

export type CheckoutIntent =
  | { state: 'payable'; intentId: string; clientSecret: string; amountCents: number }
  | { state: 'paid' | 'processing' | 'canceled'; intentId: string; amountCents: number };

/** One of the user's own top-up intents, to pay (again) on the checkout page. */
export async function getTopUpForCheckout(db: Database, userId: string, intentId: string): Promise<CheckoutIntent> {
  const { rowCount } = await db.query(
    "select 1 from public.payment_attempts where payment_intent_id = $1 and user_id = $2 and kind = 'usage_topup'",
    [intentId, userId],
  );
  // Someone else's intent is answered exactly like a missing one.
  if (!rowCount) throw new AppError('not_found', 'Payment not found');
  const intent = await stripeCall(() => stripe().paymentIntents.retrieve(intentId));
  if (PAYABLE.has(intent.status) && intent.client_secret) {
    return { state: 'payable', intentId, clientSecret: intent.client_secret, amountCents: intent.amount };
  }
  const state = intent.status === 'succeeded' ? 'paid' : intent.status === 'canceled' ? 'canceled' : 'processing';
  return { state, intentId, amountCents: intent.amount };
}

export interface PaymentOutcome {
  intentId: string;
  status: Stripe.PaymentIntent.Status;
  amountCents: number;
  /** Why it failed, in Stripe's code (e.g. card_declined), if it did. */
  failureCode: string | null;
  /** A usage top-up (retried on the checkout page), or a subscription invoice's payment. */
  topUp: boolean;
}

/**
 * What became of a payment after a redirect (3-D Secure), read from Stripe. Only the user's own:
 * a top-up attempt of theirs, or an intent of their Stripe customer (a subscription invoice).
 */
export async function getPaymentOutcome(db: Database, userId: string, intentId: string): Promise<PaymentOutcome> {
  const { rows } = await db.query<{ stripe_customer_id: string | null }>('select stripe_customer_id from public.users where id = $1', [
    userId,
  ]);
  const intent = await stripeCall(() => stripe().paymentIntents.retrieve(intentId)).catch((error: unknown) => {
    // An id Stripe does not know is a missing payment; an outage stays an outage.
    const cause = isAppError(error) ? (error.cause as { code?: string } | undefined) : undefined;
    if (cause?.code === 'resource_missing') throw new AppError('not_found', 'Payment not found');
    throw error;
  });
  const customer = customerIdOf(intent);
  const owned = (customer !== null && customer === rows[0]?.stripe_customer_id) || intent.metadata?.userId === userId;
  if (!owned) throw new AppError('not_found', 'Payment not found');
  const error = intent.last_payment_error;
  return {
    intentId,
    status: intent.status,
    amountCents: intent.amount,
    failureCode: error?.decline_code ?? error?.code ?? null,
    topUp: intent.metadata?.purpose === TOP_UP_PURPOSE,
  };
}
