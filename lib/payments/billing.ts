import { asActor, type Actor } from '@/lib/auth/actor';
import type { Database } from '@/lib/db';
import { microsToCentsCeil, microsToCentsFloor } from '@/lib/billing/money';
import { PLANS, type PlanId } from '@/lib/billing/plans';
import { getUsageSnapshot } from '@/lib/billing/usage';
import { AppError } from '@/lib/http/errors';
import { listPlanOffers } from '@/lib/payments/catalog';
import { defaultCardOf } from '@/lib/payments/payment-methods';
import type { GetHistoryQuery } from '@/lib/payments/schemas';
import { stripe } from '@/lib/stripe/client';

// What the billing dashboard and GET /api/payments/billing|history show. Reads run as the user
// (RLS); only the card summary comes from Stripe, and the page still works without it.

export interface BillingOverview {
  planId: PlanId;
  planName: string;
  subscription: {
    id: string;
    status: string;
    cancelAtPeriodEnd: boolean;
    currentPeriodStart: string;
    currentPeriodEnd: string;
    /** A downgrade waiting for the period end: the plan and allowance stay until then. */
    scheduledChange: { planId: PlanId; planName: string; effectiveAt: string } | null;
  } | null;
  periodStart: string;
  periodEnd: string;
  allowanceCents: number;
  usageCents: number;
  /** Spendable credit: unexpired grants, less what a dispute holds. */
  creditsCents: number;
  reservedCents: number;
  /** Usage no allowance or credit covered (or refunded credit already spent): the next top-up pays it first. */
  owedCents: number;
  remainingCents: number;
  /** The user's credit grants, newest first: bought on, amount, left, on hold, expiry. */
  creditGrants: CreditGrantView[];
  /** The next renewal at the plan's price (prorations and credits are settled by Stripe). */
  nextInvoice: { date: string; amountCents: number } | null;
  /** The default card, else the first saved one (isDefault false: nothing pays off-session). */
  paymentMethod: { brand: string; last4: string; expMonth: number; expYear: number; isDefault: boolean } | null;
}

export interface CreditGrantView {
  id: string;
  boughtAt: string;
  expiresAt: string;
  amountCents: number;
  leftCents: number;
  frozenCents: number;
  refundedCents: number;
  expired: boolean;
}

interface SubscriptionView {
  id: string;
  plan_id: PlanId;
  status: string;
  cancel_at_period_end: boolean;
  current_period_start: Date;
  current_period_end: Date;
  scheduled_plan_id: PlanId | null;
  scheduled_change_at: Date | null;
}

/** The plan's Stripe price (cached); its allowance, which the prices are set at, if Stripe is down. */
async function renewalPriceCents(planId: PlanId): Promise<number> {
  const offers = await listPlanOffers().catch(() => []);
  return offers.find((offer) => offer.id === planId)?.priceCents ?? microsToCentsFloor(PLANS[planId].allowanceMicros);
}

/** The default card (the one renewals and auto-recharges charge), else the first saved one. */
async function cardSummary(customerId: string | null): Promise<BillingOverview['paymentMethod']> {
  if (!customerId) return null;
  try {
    const defaultCard = (await defaultCardOf(customerId))?.card ?? null;
    const card = defaultCard ?? (await stripe().customers.listPaymentMethods(customerId, { limit: 1, type: 'card' })).data[0]?.card;
    return card
      ? { brand: card.brand, last4: card.last4, expMonth: card.exp_month, expYear: card.exp_year, isDefault: defaultCard !== null }
      : null;
  } catch (error) {
    console.warn('card summary unavailable', { error: error instanceof Error ? error.message : String(error) });
    return null;
  }
}

export async function getBillingOverview(db: Database, actor: Actor): Promise<BillingOverview> {
  const [snapshot, { subscription, customerId, grants }] = await Promise.all([
    getUsageSnapshot(db, actor),
    asActor(db, actor, async (tx) => {
      const subs = await tx.query<SubscriptionView>(
        `select id, plan_id, status, cancel_at_period_end, current_period_start, current_period_end,
                scheduled_plan_id, scheduled_change_at
         from public.subscriptions where user_id = $1 and status in ('active', 'trialing', 'past_due', 'incomplete')
         order by (status = 'incomplete'), current_period_start desc limit 1`,
        [actor.userId],
      );
      const users = await tx.query<{ stripe_customer_id: string | null }>('select stripe_customer_id from public.users where id = $1', [
        actor.userId,
      ]);
      // Grants whose credit is spent, refunded or expired stay listed for a year after purchase.
      const grants = await tx.query<{
        id: string;
        purchased_at: Date;
        expires_at: Date;
        amount_micros: number;
        left_micros: number;
        frozen_micros: number;
        refunded_micros: number;
        expired: boolean;
      }>(
        `select id, purchased_at, expires_at, amount_micros, left_micros, frozen_micros, refunded_micros, expires_at <= now() as expired
         from public.credit_grants where user_id = $1 and (left_micros > 0 or purchased_at > now() - interval '12 months')
         order by purchased_at desc, id limit 50`,
        [actor.userId],
      );
      return { subscription: subs.rows[0] ?? null, customerId: users.rows[0]?.stripe_customer_id ?? null, grants: grants.rows };
    }),
  ]);
  const inForce = subscription && subscription.status !== 'incomplete' ? subscription : null;
  // The renewal bills the plan a scheduled downgrade moves to.
  const renewalCents = inForce ? await renewalPriceCents(inForce.scheduled_plan_id ?? inForce.plan_id) : 0;
  return {
    planId: snapshot.planId,
    planName: PLANS[snapshot.planId].name,
    subscription: subscription && {
      id: subscription.id,
      status: subscription.status,
      cancelAtPeriodEnd: subscription.cancel_at_period_end,
      currentPeriodStart: subscription.current_period_start.toISOString(),
      currentPeriodEnd: subscription.current_period_end.toISOString(),
      scheduledChange:
        subscription.scheduled_plan_id && subscription.scheduled_change_at
          ? {
              planId: subscription.scheduled_plan_id,
              planName: PLANS[subscription.scheduled_plan_id].name,
              effectiveAt: subscription.scheduled_change_at.toISOString(),
            }
          : null,
    },
    periodStart: snapshot.periodStart,
    periodEnd: snapshot.periodEnd,
    allowanceCents: snapshot.allowanceCents,
    usageCents: snapshot.usageCents,
    creditsCents: snapshot.creditsCents,
    reservedCents: snapshot.reservedCents,
    owedCents: snapshot.owedCents,
    remainingCents: snapshot.remainingCents,
    creditGrants: grants.map((grant) => ({
      id: grant.id,
      boughtAt: grant.purchased_at.toISOString(),
      expiresAt: grant.expires_at.toISOString(),
      amountCents: microsToCentsFloor(grant.amount_micros),
      leftCents: microsToCentsFloor(grant.left_micros),
      frozenCents: microsToCentsCeil(grant.frozen_micros),
      refundedCents: microsToCentsFloor(grant.refunded_micros),
      expired: grant.expired,
    })),
    nextInvoice:
      inForce && !inForce.cancel_at_period_end ? { date: inForce.current_period_end.toISOString(), amountCents: renewalCents } : null,
    paymentMethod: await cardSummary(customerId),
  };
}

// ---- history ----------------------------------------------------------------------------

export interface HistoryEntry {
  kind: 'payment' | 'invoice';
  id: string;
  description: string;
  amountCents: number;
  refundedCents: number;
  status: string;
  failureMessage: string | null;
  createdAt: string;
}

export interface HistoryPage {
  entries: HistoryEntry[];
  nextCursor: string | null;
}

interface HistoryRow {
  kind: 'payment' | 'invoice';
  id: string;
  billing_reason: string | null;
  amount_cents: number;
  refunded_cents: number;
  status: string;
  failure_message: string | null;
  created_at: Date;
}

const INVOICE_DESCRIPTIONS: Record<string, string> = {
  subscription_create: 'Subscription, first payment',
  subscription_cycle: 'Subscription renewal',
  subscription_update: 'Plan change (prorated)',
};

// The cursor is the (time, id) of the last entry shown, opaque to clients.
function encodeCursor(row: HistoryRow): string {
  return Buffer.from(`${row.created_at.toISOString()}|${row.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: string } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  if (!id || Number.isNaN(date.getTime())) throw new AppError('validation_failed', 'cursor is not valid');
  return { at: date, id };
}

/** Top-up payments and subscription invoices, newest first, a page at a time. */
export async function getPaymentHistory(db: Database, actor: Actor, query: GetHistoryQuery): Promise<HistoryPage> {
  const after = query.cursor ? decodeCursor(query.cursor) : null;
  const rows = await asActor(db, actor, async (tx) => {
    const result = await tx.query<HistoryRow>(
      `select * from (
         -- Times at millisecond precision, as the cursor carries them (a JavaScript Date).
         select 'payment' as kind, coalesce(a.payment_intent_id, a.id::text) as id,
                case when exists (select 1 from public.auto_recharges r where r.payment_intent_id = a.payment_intent_id)
                     then 'auto_recharge' end as billing_reason,
                a.amount_cents, a.refunded_cents, a.status, a.failure_message, date_trunc('milliseconds', a.created_at) as created_at
         from public.payment_attempts a where a.user_id = $1 and a.kind = 'usage_topup'
         union all
         select 'invoice', id, billing_reason, amount_due_cents, 0, status, failure_message, date_trunc('milliseconds', stripe_created)
         from public.invoices where user_id = $1 and status <> 'draft'
       ) entries
       where $2::timestamptz is null or (created_at, id) < ($2::timestamptz, $3::text)
       order by created_at desc, id desc
       limit $4`,
      [actor.userId, after?.at ?? null, after?.id ?? null, query.limit + 1],
    );
    return result.rows;
  });
  const page = rows.slice(0, query.limit);
  return {
    entries: page.map((row) => ({
      kind: row.kind,
      id: row.id,
      description:
        row.kind === 'payment'
          ? row.billing_reason === 'auto_recharge'
            ? 'Auto-recharge'
            : 'Usage top-up'
          : (INVOICE_DESCRIPTIONS[row.billing_reason ?? ''] ?? 'Invoice'),
      amountCents: row.amount_cents,
      refundedCents: row.refunded_cents,
      status: row.status,
      failureMessage: row.failure_message,
      createdAt: row.created_at.toISOString(),
    })),
    nextCursor: rows.length > query.limit ? encodeCursor(page[page.length - 1]!) : null,
  };
}
