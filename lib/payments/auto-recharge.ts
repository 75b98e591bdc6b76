import { asActor, type Actor } from '@/lib/auth/actor';
import type { Database, Queryable } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { autoRechargeAnswerSchema, type AutoRechargeAnswer, type SetAutoRechargeBody } from '@/lib/payments/auto-recharge-schemas';
import { defaultCardOf, readBilling } from '@/lib/payments/payment-methods';
import { recordAttempt, TOP_UP_PURPOSE } from '@/lib/payments/payment-intents';
import { isStripeError, stripe, type Stripe } from '@/lib/stripe/client';
import { stripeCall } from '@/lib/stripe/errors';

// Auto-recharge: "when my remaining balance falls below $X, add $Y with my default card, at most
// $Z a month". The rules (when one starts, the cap, declines, authentication) are in SQL, in one
// place: supabase/migrations/20261202000000_auto_recharge.sql. This module:
//   - reads and saves the user's settings (turning it on needs a default card to charge);
//   - charges a started recharge off-session with the default card, under the idempotency key
//     `auto-recharge:<id>`, so however often it is retried Stripe charges once. The intent is a
//     usage top-up (metadata.purpose), so its credit lands through the top-up webhook path;
//   - lets the user confirm (3-D Secure) or cancel a recharge their bank held back.
// The commit that crosses the threshold waits for the charge (one Stripe call): no job queue to
// lose it. A failure there never fails the commit, which is already recorded: the recharge stays
// pending and the user's next commit, or `npm run reconcile`, charges it.

const OPEN = ['pending', 'processing', 'requires_action'] as const;

interface SettingsRow {
  enabled: boolean;
  threshold_cents: number;
  amount_cents: number;
  monthly_cap_cents: number;
  declines_in_a_row: number;
  disabled_reason: 'declined' | 'no_card' | null;
  this_month_cents: number;
  open_id: string | null;
  open_status: (typeof OPEN)[number] | null;
  open_amount_cents: number | null;
  open_created_at: Date | null;
}

async function readSettings(tx: Queryable, userId: string): Promise<AutoRechargeAnswer | null> {
  const { rows } = await tx.query<SettingsRow>(
    `select s.enabled, s.threshold_cents, s.amount_cents, s.monthly_cap_cents, s.declines_in_a_row, s.disabled_reason,
            (select coalesce(sum(r.amount_cents), 0)::int from public.auto_recharges r
              where r.user_id = s.user_id and r.cap_month = (date_trunc('month', now() at time zone 'UTC'))::date
                and r.status in ('pending', 'processing', 'requires_action', 'succeeded')) as this_month_cents,
            o.id as open_id, o.status as open_status, o.amount_cents as open_amount_cents, o.created_at as open_created_at
     from public.auto_recharge_settings s
     left join public.auto_recharges o on o.user_id = s.user_id and o.status = any($2::text[])
     where s.user_id = $1`,
    [userId, OPEN],
  );
  const row = rows[0];
  if (!row) return null;
  return autoRechargeAnswerSchema.parse({
    enabled: row.enabled,
    thresholdCents: row.threshold_cents,
    amountCents: row.amount_cents,
    monthlyCapCents: row.monthly_cap_cents,
    thisMonthCents: row.this_month_cents,
    declinesInARow: row.declines_in_a_row,
    disabledReason: row.disabled_reason,
    openRecharge:
      row.open_id && row.open_status && row.open_amount_cents !== null && row.open_created_at
        ? { id: row.open_id, status: row.open_status, amountCents: row.open_amount_cents, createdAt: row.open_created_at.toISOString() }
        : null,
  });
}

/** The user's auto-recharge settings, read as the user through RLS; null when never set. */
export function getAutoRecharge(db: Database, actor: Actor): Promise<AutoRechargeAnswer | null> {
  return asActor(db, actor, (tx) => readSettings(tx, actor.userId));
}

/**
 * Saves the user's settings. Turning it on needs a default card (the one recharges charge), and
 * clears what turned it off before (the decline count, the reason). Only the user sets it.
 */
export async function setAutoRecharge(db: Database, actor: Actor, body: SetAutoRechargeBody): Promise<AutoRechargeAnswer> {
  if (actor.kind !== 'user') throw new AppError('forbidden', 'Only the user may change their auto-recharge');
  if (body.enabled) {
    const { customerId } = await asActor(db, actor, (tx) => readBilling(tx, actor.userId));
    const card = customerId ? await defaultCardOf(customerId) : null;
    if (!card) {
      throw new AppError(
        'unprocessable',
        'Add a card and make it your default before turning on auto-recharge: recharges are charged to it.',
      );
    }
  }
  await db.query(
    `insert into public.auto_recharge_settings as s (user_id, enabled, threshold_cents, amount_cents, monthly_cap_cents)
     values ($1, $2, $3, $4, $5)
     on conflict (user_id) do update set
       enabled = excluded.enabled, threshold_cents = excluded.threshold_cents, amount_cents = excluded.amount_cents,
       monthly_cap_cents = excluded.monthly_cap_cents,
       -- Switching it back on starts the count again; editing the amounts while it is on does not.
       declines_in_a_row = case when excluded.enabled and not s.enabled then 0 else s.declines_in_a_row end,
       disabled_reason = case when excluded.enabled then null else s.disabled_reason end,
       updated_at = now()`,
    [actor.userId, body.enabled, body.threshold, body.amount, body.monthlyCap],
  );
  const saved = await getAutoRecharge(db, actor);
  if (!saved) throw new Error('auto-recharge settings vanished after saving');
  return saved;
}

type Outcome = 'charged' | 'succeeded' | 'requires_action' | 'declined' | 'no_card' | 'canceled';

/** Moves a recharge forward (SQL decides whether the outcome still applies). */
export async function recordRechargeOutcome(
  db: Queryable,
  rechargeId: string,
  userId: string,
  outcome: Outcome,
  intentId: string | null = null,
  code: string | null = null,
): Promise<string | null> {
  const { rows } = await db.query<{ status: string | null }>('select app_private.record_auto_recharge($1, $2, $3, $4, $5) as status', [
    rechargeId,
    userId,
    outcome,
    intentId,
    code,
  ]);
  return rows[0]?.status ?? null;
}

/** Starts what is due for these users after a batch of commits; the ids to charge. */
export async function startDueRecharges(db: Database, userIds: string[]): Promise<string[]> {
  if (userIds.length === 0) return [];
  const { rows } = await db.query<{ id: string | null }>('select app_private.start_auto_recharge(u) as id from unnest($1::uuid[]) u', [
    [...new Set(userIds)],
  ]);
  return rows.flatMap((row) => (row.id ? [row.id] : []));
}

interface ClaimedRow {
  id: string;
  user_id: string;
  amount_cents: number;
  payment_method_id: string | null;
  stripe_customer_id: string | null;
  enabled: boolean;
  /** Charging it now would pass the monthly cap in force (lowered since it was started). */
  over_cap: boolean;
}

/** The recharge's authentication or decline, from Stripe's card error. */
function declineOutcome(error: Stripe.errors.StripeCardError): { outcome: Outcome; code: string } {
  const code = error.decline_code ?? error.code ?? 'card_declined';
  return { outcome: code === 'authentication_required' ? 'requires_action' : 'declined', code };
}

/**
 * Charges a started recharge off-session. Taken with a lease (claimed_at) so two commits that
 * both see it due do not both call Stripe; a crashed attempt is taken again after a minute, and
 * the idempotency key makes Stripe answer the retry with the first attempt's intent or error.
 * Returns the recharge's status afterwards; never throws for a payment outcome.
 */
export async function chargeAutoRecharge(db: Database, rechargeId: string): Promise<string | null> {
  const { rows } = await db.query<ClaimedRow>(
    `update public.auto_recharges r set claimed_at = now()
     from public.users u, public.auto_recharge_settings s
     where r.id = $1 and u.id = r.user_id and s.user_id = r.user_id and r.status = 'pending'
       and (r.claimed_at is null or r.claimed_at < now() - interval '1 minute')
     returning r.id, r.user_id, r.amount_cents, r.payment_method_id, u.stripe_customer_id, s.enabled,
       (select coalesce(sum(o.amount_cents), 0) from public.auto_recharges o
         where o.user_id = r.user_id and o.cap_month = r.cap_month and o.id <> r.id
           and o.status in ('processing', 'requires_action', 'succeeded')) + r.amount_cents > s.monthly_cap_cents as over_cap`,
    [rechargeId],
  );
  const claimed = rows[0];
  if (!claimed) return null;
  const { user_id: userId, stripe_customer_id: customerId } = claimed;
  // Turned off, or the cap lowered, since the commit that started it (only a crash leaves that
  // much time): the settings in force now decide, and it is not charged.
  if (!claimed.enabled || claimed.over_cap) return recordRechargeOutcome(db, rechargeId, userId, 'canceled');

  // The card is fixed at the first attempt, so a retry sends Stripe the same parameters.
  let paymentMethodId = claimed.payment_method_id;
  if (!paymentMethodId) {
    const card = customerId ? await defaultCardOf(customerId) : null;
    if (!card || !customerId) return recordRechargeOutcome(db, rechargeId, userId, 'no_card');
    const fixed = await db.query<{ payment_method_id: string }>(
      `update public.auto_recharges set payment_method_id = coalesce(payment_method_id, $2) where id = $1 returning payment_method_id`,
      [rechargeId, card.id],
    );
    paymentMethodId = fixed.rows[0]?.payment_method_id ?? card.id;
  }

  try {
    const intent = await stripe().paymentIntents.create(
      {
        amount: claimed.amount_cents,
        currency: 'usd',
        customer: customerId ?? undefined,
        payment_method: paymentMethodId,
        off_session: true,
        confirm: true,
        description: 'Auto-recharge',
        metadata: { userId, purpose: TOP_UP_PURPOSE, autoRechargeId: rechargeId },
      },
      { idempotencyKey: `auto-recharge:${rechargeId}` },
    );
    await recordAttempt(db, userId, intent);
    const outcome: Outcome = intent.status === 'succeeded' || intent.status === 'processing' ? 'charged' : 'requires_action';
    return await recordRechargeOutcome(db, rechargeId, userId, outcome, intent.id);
  } catch (error) {
    if (isStripeError(error, 'StripeCardError')) {
      const intent = error.payment_intent;
      if (intent) await recordAttempt(db, userId, intent);
      const { outcome, code } = declineOutcome(error);
      return recordRechargeOutcome(db, rechargeId, userId, outcome, intent?.id ?? null, code);
    }
    // Stripe refusing the request itself (the card was detached meanwhile, say) will refuse it
    // again: a failed attempt, like a decline.
    if (isStripeError(error, 'StripeInvalidRequestError')) {
      return recordRechargeOutcome(db, rechargeId, userId, 'declined', null, error.code ?? 'invalid_request');
    }
    // Stripe unreachable, or failing: the recharge stays pending; the next commit or reconcile
    // takes it again after the lease.
    console.warn('auto-recharge charge failed, will retry', { rechargeId, error: error instanceof Error ? error.message : String(error) });
    return 'pending';
  }
}

/** Charges every due recharge (after a commit or a batch); payment outcomes never throw. */
export async function chargeDueRecharges(db: Database, rechargeIds: string[]): Promise<void> {
  await Promise.all(
    rechargeIds.map((id) =>
      chargeAutoRecharge(db, id).catch((error: unknown) => {
        console.error('auto-recharge could not be charged', { rechargeId: id, error });
      }),
    ),
  );
}

/** Pending recharges left behind (a crash between the commit and the charge), for reconcile. */
export async function chargeStalePendingRecharges(db: Database): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `select id from public.auto_recharges
     where status = 'pending' and (claimed_at is null or claimed_at < now() - interval '1 minute')
       and created_at < now() - interval '1 minute'`,
  );
  await chargeDueRecharges(
    db,
    rows.map((row) => row.id),
  );
  return rows.length;
}

export type RechargeConfirmation =
  | {
      state: 'payable';
      rechargeId: string;
      amountCents: number;
      intentId: string;
      clientSecret: string;
      paymentMethodId: string | null;
      card: { brand: string; last4: string } | null;
    }
  | { state: 'paid' | 'processing' | 'canceled' | 'failed'; rechargeId: string; amountCents: number };

/**
 * A recharge the user's bank held back, to confirm on /billing/auto-recharge/<id>. Read as the
 * user through RLS: someone else's id is answered exactly like a missing one.
 */
export async function getRechargeForConfirmation(db: Database, actor: Actor, rechargeId: string): Promise<RechargeConfirmation> {
  const row = await asActor(db, actor, async (tx) => {
    const found = await tx.query<{
      status: string;
      amount_cents: number;
      payment_intent_id: string | null;
      payment_method_id: string | null;
    }>('select status, amount_cents, payment_intent_id, payment_method_id from public.auto_recharges where id = $1 and user_id = $2', [
      rechargeId,
      actor.userId,
    ]);
    return found.rows[0] ?? null;
  });
  if (!row) throw new AppError('not_found', 'Recharge not found');
  const base = { rechargeId, amountCents: row.amount_cents };
  if (row.status === 'succeeded') return { state: 'paid', ...base };
  if (row.status === 'canceled') return { state: 'canceled', ...base };
  if (row.status === 'failed') return { state: 'failed', ...base };
  if (row.status !== 'requires_action' || !row.payment_intent_id) return { state: 'processing', ...base };
  const intentId = row.payment_intent_id;
  const intent = await stripeCall(() => stripe().paymentIntents.retrieve(intentId, { expand: ['payment_method'] }));
  if (intent.status === 'succeeded') return { state: 'paid', ...base };
  if (intent.status === 'canceled') return { state: 'canceled', ...base };
  if (!intent.client_secret || intent.status === 'processing') return { state: 'processing', ...base };
  // After the off-session refusal Stripe keeps the card on the error, not on the intent.
  const method =
    (typeof intent.payment_method === 'object' ? intent.payment_method : null) ?? intent.last_payment_error?.payment_method ?? null;
  return {
    state: 'payable',
    ...base,
    intentId,
    clientSecret: intent.client_secret,
    paymentMethodId: row.payment_method_id,
    card: method?.card ? { brand: method.card.brand, last4: method.card.last4 } : null,
  };
}

/** The user declines a held-back recharge: the payment is cancelled at Stripe, nothing is charged, auto-recharge pauses. */
export async function cancelAutoRecharge(db: Database, actor: Actor, rechargeId: string): Promise<void> {
  const confirmation = await getRechargeForConfirmation(db, actor, rechargeId);
  if (confirmation.state !== 'payable') {
    throw new AppError('conflict', 'This recharge can no longer be cancelled: it was paid, cancelled or is being processed.');
  }
  const { intentId } = confirmation;
  try {
    await stripe().paymentIntents.cancel(intentId, {}, { idempotencyKey: `auto-recharge-cancel:${rechargeId}` });
  } catch (error) {
    // Paid meanwhile (the user confirmed in another tab): the webhook records it.
    if (isStripeError(error, 'StripeInvalidRequestError') && error.code === 'payment_intent_unexpected_state') {
      throw new AppError('conflict', 'This recharge was paid meanwhile, so it cannot be cancelled.', { cause: error });
    }
    throw error;
  }
  await recordRechargeOutcome(db, rechargeId, actor.userId, 'canceled', intentId);
  // Otherwise the next task below the threshold would start another on the same card, and the
  // bank would ask again: paused until the user turns it on again.
  await db.query(
    "update public.auto_recharge_settings set enabled = false, disabled_reason = 'canceled', updated_at = now() where user_id = $1 and enabled",
    [actor.userId],
  );
}
