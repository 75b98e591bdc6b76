import type { Database } from '@/lib/db';
import { centsToDollars } from '@/lib/billing/money';
import { ensureCustomerId } from '@/lib/payments/customers';
import { enforceRateLimit } from '@/lib/payments/rate-limit';
import { MIN_CHARGE_CENTS, paymentIntentAnswerSchema, type PaymentIntentAnswer } from '@/lib/payments/schemas';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { stripeCall } from '@/lib/stripe/errors';

// Usage top-ups: a PaymentIntent for the user's customer, recorded in payment_attempts as
// pending; the payment_intent.succeeded webhook credits exactly what was paid.
//
// Never two intents for one click: a still-payable intent of the same amount from the last
// REUSE_MINUTES is handed back instead of a new one, and a new one is created with the
// idempotency key `topup:<user>:<number of attempts so far>`, so concurrent requests (which see
// the same number) get the same intent from Stripe, and the attempt row is written once.
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

async function reusableIntent(db: Database, userId: string, amountCents: number): Promise<Stripe.PaymentIntent | null> {
  const { rows } = await db.query<{ payment_intent_id: string }>(
    `select payment_intent_id from public.payment_attempts
     where user_id = $1 and kind = 'usage_topup' and amount_cents = $2 and status in ('pending', 'failed')
       and payment_intent_id is not null and created_at > now() - make_interval(mins => $3)
     order by created_at desc limit 1`,
    [userId, amountCents, REUSE_MINUTES],
  );
  const id = rows[0]?.payment_intent_id;
  if (!id) return null;
  const intent = await stripeCall(() => stripe().paymentIntents.retrieve(id));
  return PAYABLE.has(intent.status) ? intent : null;
}

/** A top-up PaymentIntent of `amountCents` (at least Stripe's minimum charge). */
export async function createTopUpIntent(db: Database, userId: string, amountCents: number): Promise<PaymentIntentAnswer> {
  const amount = Math.max(amountCents, MIN_CHARGE_CENTS);
  // Counted before looking for a reusable intent: a concurrent request either finished first
  // (then it is found below) or sees the same count (then Stripe answers both with one intent).
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from public.payment_attempts where user_id = $1', [userId]);
  const sequence = rows[0]?.n ?? 0;
  const reused = await reusableIntent(db, userId, amount);
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
      { idempotencyKey: `topup:${userId}:${sequence}` },
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
