import type { Database, Queryable } from '@/lib/db';
import { writeAudit } from '@/lib/billing/audit';
import { PLANS, type PlanId } from '@/lib/billing/plans';
import { AppError } from '@/lib/http/errors';
import { microsToCentsFloor } from '@/lib/billing/money';
import { listPlanOffers } from '@/lib/payments/catalog';
import { ensureCustomerId } from '@/lib/payments/customers';
import { subscriptionKey } from '@/lib/payments/idempotency';
import { enforceRateLimit } from '@/lib/payments/rate-limit';
import {
  prorationPreviewSchema,
  subscriptionAnswerSchema,
  type ProrationPreview,
  type SubscriptionAnswer,
} from '@/lib/payments/schemas';
import { planIdOfPrice, priceIdOf, stripe, type Stripe } from '@/lib/stripe/client';
import { stripeCall } from '@/lib/stripe/errors';

// Subscriptions: create (first payment confirmed on the page), change plan with proration,
// cancel (at period end by default) and resume. Stripe is the source of truth for a
// subscription's status and price; the local row follows it (syncSubscription), except the usage
// period, which only a paid invoice moves (lib/webhooks/handlers/invoices.ts).

export const IN_FORCE_STATUSES = ['active', 'trialing', 'past_due'] as const;
const ENDED_STATUSES = new Set(['canceled', 'incomplete_expired']);

export interface SubscriptionRow {
  id: string;
  user_id: string;
  plan_id: PlanId;
  status: Stripe.Subscription.Status;
  current_period_start: Date;
  current_period_end: Date;
  cancel_at_period_end: boolean;
  stripe_item_id: string | null;
  created_at: Date;
}

const toDate = (seconds: number) => new Date(seconds * 1000);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function firstItem(subscription: Stripe.Subscription): Stripe.SubscriptionItem {
  const item = subscription.items.data[0];
  if (!item) throw new Error(`subscription ${subscription.id} has no items`);
  return item;
}

export function planOf(subscription: Stripe.Subscription): PlanId {
  const planId = planIdOfPrice(firstItem(subscription).price.id);
  if (!planId) throw new Error(`subscription ${subscription.id} has a price that is not one of our plans`);
  return planId;
}

function answerFor(subscription: Stripe.Subscription): SubscriptionAnswer {
  const item = firstItem(subscription);
  const invoice = typeof subscription.latest_invoice === 'object' ? subscription.latest_invoice : null;
  return subscriptionAnswerSchema.parse({
    subscriptionId: subscription.id,
    planId: planOf(subscription),
    status: subscription.status,
    // Only an unpaid first invoice needs confirming on the page.
    clientSecret: subscription.status === 'incomplete' ? (invoice?.confirmation_secret?.client_secret ?? null) : null,
    currentPeriodStart: toDate(item.current_period_start).toISOString(),
    currentPeriodEnd: toDate(item.current_period_end).toISOString(),
    cancelAtPeriodEnd: subscription.cancel_at_period_end,
  });
}

/** The user of a Stripe subscription: from its metadata, else through the customer id. */
export async function userOfSubscription(db: Queryable, subscription: Stripe.Subscription): Promise<string | null> {
  const customerId = typeof subscription.customer === 'string' ? subscription.customer : subscription.customer.id;
  const named = subscription.metadata?.userId;
  const { rows } = await db.query<{ id: string }>(
    'select id from public.users where id = $1::uuid or stripe_customer_id = $2 order by (id = $1::uuid) desc limit 1',
    [named && UUID.test(named) ? named : null, customerId],
  );
  return rows[0]?.id ?? null;
}

/** A subscription as Stripe had it, and when we asked (taken before the request was sent). */
export interface SubscriptionSnapshot {
  subscription: Stripe.Subscription;
  fetchedAt: Date;
}

/** Reads a subscription from Stripe, remembering when. */
export async function fetchSubscription(id: string): Promise<SubscriptionSnapshot> {
  const fetchedAt = new Date();
  return { subscription: await stripeCall(() => stripe().subscriptions.retrieve(id)), fetchedAt };
}

/**
 * Brings the local row in step with a snapshot of Stripe's subscription: status, plan,
 * cancellation. Never backwards: a snapshot older than the one the row was last written from is
 * skipped (two webhooks, or a webhook and a user's plan change, may finish in either order), and
 * an ended subscription is never revived. A new row takes the snapshot's period; an existing row
 * keeps its paid period (only a paid invoice moves it). Plan changes are audited. Returns the
 * row, or null when the subscription is not one of our users' plans.
 */
export async function syncSubscription(tx: Queryable, snapshot: SubscriptionSnapshot, actor: string): Promise<SubscriptionRow | null> {
  const { subscription, fetchedAt } = snapshot;
  const userId = await userOfSubscription(tx, subscription);
  const planId = planIdOfPrice(subscription.items.data[0]?.price.id);
  if (!userId || !planId) return null;
  const item = firstItem(subscription);
  const customerId = typeof subscription.customer === 'string' ? subscription.customer : subscription.customer.id;
  const before = await tx.query<SubscriptionRow & { stripe_updated_at: Date | null }>(
    'select * from public.subscriptions where id = $1 for update',
    [subscription.id],
  );
  const previous = before.rows[0];
  if (previous?.stripe_updated_at && previous.stripe_updated_at > fetchedAt) return previous;
  if (previous && ENDED_STATUSES.has(previous.status) && !ENDED_STATUSES.has(subscription.status)) return previous;
  const inForce = (status: string) => (IN_FORCE_STATUSES as readonly string[]).includes(status);
  // A plan change within the paid period prorates that period's allowance (see the
  // prorated_allowance migration): the period's row is pinned to the old plan first.
  const planChangesInPeriod = previous !== undefined && inForce(previous.status) && inForce(subscription.status) && previous.plan_id !== planId;
  if (planChangesInPeriod) await tx.query('select app_private.lock_usage_period($1)', [userId]);

  const { rows } = await tx.query<SubscriptionRow>(
    `insert into public.subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end,
       cancel_at_period_end, canceled_at, ended_at, stripe_item_id, stripe_customer_id, stripe_updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     on conflict (id) do update set plan_id = excluded.plan_id, status = excluded.status,
       cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at,
       ended_at = excluded.ended_at, stripe_item_id = excluded.stripe_item_id,
       stripe_updated_at = excluded.stripe_updated_at,
       -- The first paid period starts when the first invoice is paid: until then the row follows Stripe's.
       current_period_start = case when subscriptions.status = 'incomplete' then excluded.current_period_start
                                   else subscriptions.current_period_start end,
       current_period_end = case when subscriptions.status = 'incomplete' then excluded.current_period_end
                                 else subscriptions.current_period_end end
     returning *`,
    [
      subscription.id,
      userId,
      planId,
      subscription.status,
      toDate(item.current_period_start),
      toDate(item.current_period_end),
      subscription.cancel_at_period_end,
      subscription.canceled_at ? toDate(subscription.canceled_at) : null,
      subscription.ended_at ? toDate(subscription.ended_at) : null,
      item.id,
      customerId,
      fetchedAt,
    ],
  );
  const row = rows[0]!;
  if (planChangesInPeriod) await tx.query('select app_private.lock_usage_period($1)', [userId]);
  const wasInForce = previous !== undefined && inForce(previous.status);
  const isInForce = inForce(row.status);
  if (previous && wasInForce && isInForce && previous.plan_id !== row.plan_id) {
    await writeAudit(tx, {
      userId,
      actor,
      action: 'plan.changed',
      entityType: 'subscription',
      entityId: row.id,
      details: { from: previous.plan_id, to: row.plan_id },
    });
  }
  if (isInForce !== wasInForce) {
    await writeAudit(tx, {
      userId,
      actor,
      action: isInForce ? 'plan.changed' : 'subscription.canceled',
      entityType: 'subscription',
      entityId: row.id,
      details: isInForce ? { from: 'starter', to: row.plan_id, status: row.status } : { plan: row.plan_id, status: row.status },
    });
  }
  return row;
}

async function ownedSubscription(db: Database, userId: string, subscriptionId: string): Promise<SubscriptionRow> {
  const { rows } = await db.query<SubscriptionRow>('select * from public.subscriptions where id = $1 and user_id = $2', [
    subscriptionId,
    userId,
  ]);
  // Someone else's subscription is answered exactly like a missing one.
  if (!rows[0]) throw new AppError('not_found', 'Subscription not found');
  return rows[0];
}

export async function subscriptionInForce(db: Queryable, userId: string): Promise<SubscriptionRow | null> {
  const { rows } = await db.query<SubscriptionRow>(
    `select * from public.subscriptions where user_id = $1 and status = any($2::text[])
     order by current_period_start desc limit 1`,
    [userId, IN_FORCE_STATUSES],
  );
  return rows[0] ?? null;
}

const retrieveWithSecret = (id: string) =>
  stripeCall(() => stripe().subscriptions.retrieve(id, { expand: ['latest_invoice.confirmation_secret'] }));

/**
 * POST /api/payments/subscriptions: a subscription waiting for its first payment
 * (default_incomplete); the page confirms it with the answer's client secret. Refused while
 * another subscription is in force. A repeated request for the same plan gets the same one.
 */
export async function createSubscription(db: Database, userId: string, planId: PlanId): Promise<SubscriptionAnswer> {
  const current = await subscriptionInForce(db, userId);
  if (current) {
    throw new AppError('conflict', `You already have an active ${PLANS[current.plan_id].name} subscription. Change its plan instead.`);
  }
  // Counted before looking for a pending one, for the same reason as in createTopUpIntent.
  const { rows: counted } = await db.query<{ n: number }>('select count(*)::int as n from public.subscriptions where user_id = $1', [userId]);
  const sequence = counted[0]?.n ?? 0;
  const { rows: pending } = await db.query<SubscriptionRow>(
    `select * from public.subscriptions where user_id = $1 and status = 'incomplete' order by created_at desc`,
    [userId],
  );
  // An unpaid subscription for another plan is left to expire (Stripe does so after 23 hours);
  // cancelling it could race with its payment landing right now.
  for (const row of pending) {
    const fetchedAt = new Date();
    const subscription = await retrieveWithSecret(row.id);
    if ((IN_FORCE_STATUSES as readonly string[]).includes(subscription.status)) {
      // Paid meanwhile, and its webhook has not arrived yet: it is the subscription in force.
      await db.systemTransaction((tx) => syncSubscription(tx, { subscription, fetchedAt }, 'user'));
      throw new AppError('conflict', `You already have an active ${PLANS[planOf(subscription)].name} subscription. Change its plan instead.`);
    }
    if (subscription.status === 'incomplete' && row.plan_id === planId) return answerFor(subscription);
  }

  await enforceRateLimit(db, userId, 'subscription');
  const customerId = await ensureCustomerId(db, userId);
  const fetchedAt = new Date();
  const subscription = await stripeCall(() =>
    stripe().subscriptions.create(
      {
        customer: customerId,
        items: [{ price: priceIdOf(planId) }],
        payment_behavior: 'default_incomplete',
        payment_settings: { save_default_payment_method: 'on_subscription' },
        expand: ['latest_invoice.confirmation_secret'],
        metadata: { userId, planId },
      },
      { idempotencyKey: subscriptionKey(userId, sequence) },
    ),
  );
  await db.systemTransaction((tx) => syncSubscription(tx, { subscription, fetchedAt }, 'user'));
  return answerFor(subscription);
}

export interface PlanChange {
  preview: ProrationPreview;
  subscription: SubscriptionAnswer | null;
}

function previewOf(invoice: Stripe.Invoice, fromPlanId: PlanId, toPlanId: PlanId, prorationDate: number): ProrationPreview {
  return prorationPreviewSchema.parse({
    fromPlanId,
    toPlanId,
    amountDueNowCents: invoice.total,
    prorationDate: toDate(prorationDate).toISOString(),
    lines: invoice.lines.data.map((line) => ({ description: line.description ?? '', amountCents: line.amount })),
  });
}

/**
 * Change the plan of the user's subscription, prorated to the second: the difference is
 * invoiced at once (`always_invoice`), a downgrade leaves a credit for the next invoice.
 * `previewOnly` answers what the change would cost and changes nothing.
 */
export async function changePlan(
  db: Database,
  userId: string,
  subscriptionId: string,
  planId: PlanId,
  previewOnly = false,
  cancelAtPeriodEnd?: boolean,
): Promise<PlanChange> {
  const row = await ownedSubscription(db, userId, subscriptionId);
  if (!(IN_FORCE_STATUSES as readonly string[]).includes(row.status)) {
    throw new AppError('conflict', 'This subscription is not active, so its plan cannot be changed');
  }
  if (row.plan_id === planId) throw new AppError('conflict', `You are already on the ${PLANS[planId].name} plan`);
  const current = await stripeCall(() => stripe().subscriptions.retrieve(subscriptionId));
  const item = firstItem(current);
  const customer = typeof current.customer === 'string' ? current.customer : current.customer.id;
  const prorationDate = Math.floor(Date.now() / 1000);
  const items = [{ id: item.id, price: priceIdOf(planId) }];
  const upcoming = await stripeCall(() =>
    stripe().invoices.createPreview({
      customer,
      subscription: subscriptionId,
      subscription_details: { items, proration_behavior: 'always_invoice', proration_date: prorationDate },
    }),
  );
  const preview = previewOf(upcoming, planOf(current), planId, prorationDate);
  if (previewOnly) return { preview, subscription: null };

  const fetchedAt = new Date();
  const updated = await stripeCall(() =>
    stripe().subscriptions.update(subscriptionId, {
      items,
      proration_behavior: 'always_invoice',
      proration_date: prorationDate,
      payment_behavior: 'error_if_incomplete',
      metadata: { userId, planId },
      ...(cancelAtPeriodEnd === undefined ? {} : { cancel_at_period_end: cancelAtPeriodEnd }),
    }),
  );
  await db.systemTransaction((tx) => syncSubscription(tx, { subscription: updated, fetchedAt }, 'user'));
  return { preview, subscription: answerFor(updated) };
}

/** Cancel at the end of the paid period (default), or now. */
export async function cancelSubscription(db: Database, userId: string, subscriptionId: string, immediately: boolean) {
  const row = await ownedSubscription(db, userId, subscriptionId);
  if (ENDED_STATUSES.has(row.status)) throw new AppError('conflict', 'This subscription has already ended');
  let snapshot = await fetchSubscription(subscriptionId);
  // Already ended at Stripe (e.g. an earlier cancel whose local write failed): just record it.
  if (!ENDED_STATUSES.has(snapshot.subscription.status)) {
    const fetchedAt = new Date();
    const updated = await stripeCall(() =>
      immediately
        ? stripe().subscriptions.cancel(subscriptionId)
        : stripe().subscriptions.update(subscriptionId, { cancel_at_period_end: true }),
    );
    snapshot = { subscription: updated, fetchedAt };
  }
  await db.systemTransaction((tx) => syncSubscription(tx, snapshot, 'user'));
  return answerFor(snapshot.subscription);
}

/** Undo a cancellation at period end while the subscription is still running. */
export async function resumeSubscription(db: Database, userId: string, subscriptionId: string) {
  const row = await ownedSubscription(db, userId, subscriptionId);
  if (ENDED_STATUSES.has(row.status)) throw new AppError('conflict', 'This subscription has already ended; subscribe again instead');
  const fetchedAt = new Date();
  const updated = await stripeCall(() => stripe().subscriptions.update(subscriptionId, { cancel_at_period_end: false }));
  await db.systemTransaction((tx) => syncSubscription(tx, { subscription: updated, fetchedAt }, 'user'));
  return answerFor(updated);
}

/** PUT /api/payments/subscriptions/:id: change plan and/or (un)schedule the cancellation. */
export async function updateSubscription(
  db: Database,
  userId: string,
  subscriptionId: string,
  body: { planId?: PlanId | undefined; cancelAtPeriodEnd?: boolean | undefined },
) {
  // Both in one Stripe call, so a failure cannot leave half the request done.
  if (body.planId) {
    const change = await changePlan(db, userId, subscriptionId, body.planId, false, body.cancelAtPeriodEnd);
    return { ...change.subscription!, preview: change.preview };
  }
  if (body.cancelAtPeriodEnd) return { ...(await cancelSubscription(db, userId, subscriptionId, false)), preview: null };
  return { ...(await resumeSubscription(db, userId, subscriptionId)), preview: null };
}

/**
 * POST /api/payments/upgrade-plan (and the plans page's server action): move the user to a
 * plan. With a subscription in force this is a prorated plan change; without one it subscribes.
 */
export async function upgradePlan(db: Database, userId: string, planId: PlanId, previewOnly: boolean) {
  const current = await subscriptionInForce(db, userId);
  if (current) {
    const change = await changePlan(db, userId, current.id, planId, previewOnly);
    return { preview: change.preview, subscription: change.subscription };
  }
  const offer = (await listPlanOffers()).find((candidate) => candidate.id === planId);
  const price = offer?.priceCents ?? microsToCentsFloor(PLANS[planId].allowanceMicros);
  const preview = prorationPreviewSchema.parse({
    fromPlanId: 'starter',
    toPlanId: planId,
    amountDueNowCents: price,
    prorationDate: new Date().toISOString(),
    lines: [{ description: `${PLANS[planId].name} plan, first month`, amountCents: price }],
  });
  if (previewOnly) return { preview, subscription: null };
  return { preview, subscription: await createSubscription(db, userId, planId) };
}

export interface SubscriptionCheckout {
  subscriptionId: string;
  planId: PlanId;
  status: string;
  clientSecret: string | null;
  amountCents: number;
}

/** The first payment of one of the user's own subscriptions, to confirm on the checkout page. */
export async function getSubscriptionForCheckout(db: Database, userId: string, subscriptionId: string): Promise<SubscriptionCheckout> {
  await ownedSubscription(db, userId, subscriptionId);
  const subscription = await retrieveWithSecret(subscriptionId);
  const answer = answerFor(subscription);
  const invoice = typeof subscription.latest_invoice === 'object' ? subscription.latest_invoice : null;
  return {
    subscriptionId,
    planId: answer.planId,
    status: answer.status,
    clientSecret: answer.clientSecret,
    amountCents: invoice?.amount_due ?? microsToCentsFloor(PLANS[answer.planId].allowanceMicros),
  };
}
