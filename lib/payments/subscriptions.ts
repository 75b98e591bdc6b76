import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '@/lib/db';
import { writeAudit } from '@/lib/billing/audit';
import { PLANS, type PlanId } from '@/lib/billing/plans';
import { AppError } from '@/lib/http/errors';
import { microsToCentsFloor } from '@/lib/billing/money';
import { listPlanOffers } from '@/lib/payments/catalog';
import { ensureCustomerId } from '@/lib/payments/customers';
import { subscriptionKey } from '@/lib/payments/idempotency';
import { enforceRateLimit } from '@/lib/payments/rate-limit';
import { prorationPreviewSchema, subscriptionAnswerSchema, type ProrationPreview, type SubscriptionAnswer } from '@/lib/payments/schemas';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { stripeCall } from '@/lib/stripe/errors';
import { customerIdOf, idOf, paymentIntentIdsOfInvoice, planIdOfSubscription, priceIdOf, scheduledPlanChange } from '@/lib/stripe/mapping';

// Subscriptions: create (first payment confirmed on the page), change plan (upgrades at once
// with proration, downgrades at the end of the period through a Stripe subscription schedule),
// cancel (at period end by default) and resume. Stripe is the source of truth for a
// subscription's status, price and scheduled change; the local row follows it
// (syncSubscription), except the usage period, which only a paid invoice moves
// (lib/webhooks/handlers/invoices.ts). One subscription per user at a time: creation is
// serialized per user (subscription_requests) and ends the user's other unpaid ones; a second
// subscription that becomes active anyway is ended and refunded (endDuplicateSubscription).

export const IN_FORCE_STATUSES = ['active', 'trialing', 'past_due'] as const;
/** Whether a subscription status is one of IN_FORCE_STATUSES. */
export const isInForce = (status: string) => (IN_FORCE_STATUSES as readonly string[]).includes(status);
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
  schedule_id: string | null;
  scheduled_plan_id: PlanId | null;
  scheduled_change_at: Date | null;
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
  const planId = planIdOfSubscription(subscription);
  if (!planId) throw new Error(`subscription ${subscription.id} has a price that is not one of our plans`);
  return planId;
}

function answerFor(subscription: Stripe.Subscription, row: SubscriptionRow | null): SubscriptionAnswer {
  const item = firstItem(subscription);
  const scheduled =
    row?.scheduled_plan_id && row.scheduled_change_at
      ? { planId: row.scheduled_plan_id, effectiveAt: row.scheduled_change_at.toISOString() }
      : null;
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
    scheduledChange: scheduled,
  });
}

/** The user of a Stripe subscription: from its metadata, else through the customer id. */
export async function userOfSubscription(db: Queryable, subscription: Stripe.Subscription): Promise<string | null> {
  const customerId = customerIdOf(subscription);
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

/** Reads a subscription from Stripe with its schedule, remembering when. */
export async function fetchSubscription(id: string): Promise<SubscriptionSnapshot> {
  const fetchedAt = new Date();
  return { subscription: await stripeCall(() => stripe().subscriptions.retrieve(id, { expand: ['schedule'] })), fetchedAt };
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
  const planId = planIdOfSubscription(subscription);
  if (!userId || !planId) return null;
  // Our plans are dollars: a subscription in another currency is never one of them (its
  // invoices are recorded and flagged by the invoice handlers).
  if (subscription.currency.toLowerCase() !== 'usd') return null;
  const item = firstItem(subscription);
  const customerId = customerIdOf(subscription);
  // The plan change the subscription's schedule will make (undefined: not expanded, keep ours).
  const scheduled = scheduledPlanChange(subscription);
  const before = await tx.query<SubscriptionRow & { stripe_updated_at: Date | null }>(
    'select * from public.subscriptions where id = $1 for update',
    [subscription.id],
  );
  const previous = before.rows[0];
  if (previous?.stripe_updated_at && previous.stripe_updated_at > fetchedAt) return previous;
  if (previous && ENDED_STATUSES.has(previous.status) && !ENDED_STATUSES.has(subscription.status)) return previous;
  // A plan change within the paid period prorates that period's allowance (see the
  // prorated_allowance migration): the period's row is pinned to the old plan first.
  const planChangesInPeriod =
    previous !== undefined && isInForce(previous.status) && isInForce(subscription.status) && previous.plan_id !== planId;
  if (planChangesInPeriod) await tx.query('select app_private.lock_usage_period($1)', [userId]);

  const { rows } = await tx.query<SubscriptionRow>(
    `insert into public.subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end,
       cancel_at_period_end, canceled_at, ended_at, stripe_item_id, stripe_customer_id, stripe_updated_at,
       schedule_id, scheduled_plan_id, scheduled_change_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     on conflict (id) do update set plan_id = excluded.plan_id, status = excluded.status,
       schedule_id = excluded.schedule_id,
       scheduled_plan_id = case when $16 then excluded.scheduled_plan_id
                                when excluded.schedule_id is null or excluded.plan_id = subscriptions.scheduled_plan_id then null
                                else subscriptions.scheduled_plan_id end,
       scheduled_change_at = case when $16 then excluded.scheduled_change_at
                                  when excluded.schedule_id is null or excluded.plan_id = subscriptions.scheduled_plan_id then null
                                  else subscriptions.scheduled_change_at end,
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
      idOf(subscription.schedule),
      scheduled?.planId ?? null,
      scheduled?.at ?? null,
      scheduled !== undefined,
    ],
  );
  const row = rows[0]!;
  if (planChangesInPeriod) await tx.query('select app_private.lock_usage_period($1)', [userId]);
  const wasInForce = previous !== undefined && isInForce(previous.status);
  const nowInForce = isInForce(row.status);
  if (previous && wasInForce && nowInForce && previous.plan_id !== row.plan_id) {
    await writeAudit(tx, {
      userId,
      actor,
      action: 'plan.changed',
      entityType: 'subscription',
      entityId: row.id,
      details: { from: previous.plan_id, to: row.plan_id },
    });
  }
  const scheduledBefore = previous?.scheduled_plan_id ?? null;
  if (nowInForce && scheduledBefore !== row.scheduled_plan_id && (row.scheduled_plan_id || row.plan_id !== scheduledBefore)) {
    await writeAudit(tx, {
      userId,
      actor,
      action: row.scheduled_plan_id ? 'plan.change_scheduled' : 'plan.change_unscheduled',
      entityType: 'subscription',
      entityId: row.id,
      details: { from: row.plan_id, to: row.scheduled_plan_id ?? scheduledBefore, at: row.scheduled_change_at },
    });
  }
  if (nowInForce !== wasInForce) {
    await writeAudit(tx, {
      userId,
      actor,
      action: nowInForce ? 'plan.changed' : 'subscription.canceled',
      entityType: 'subscription',
      entityId: row.id,
      details: nowInForce ? { from: 'starter', to: row.plan_id, status: row.status } : { plan: row.plan_id, status: row.status },
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
  stripeCall(() => stripe().subscriptions.retrieve(id, { expand: ['latest_invoice.confirmation_secret', 'schedule'] }));

async function record(db: Database, snapshot: SubscriptionSnapshot, actor = 'user'): Promise<SubscriptionRow | null> {
  return db.systemTransaction((tx) => syncSubscription(tx, snapshot, actor));
}

const alreadySubscribed = (planId: PlanId) =>
  new AppError('conflict', `You already have an active ${PLANS[planId].name} subscription. Change its plan instead.`);

const concurrentRequest = () =>
  new AppError('idempotency_conflict', 'Another subscription request of yours is in progress. Please try again in a moment.');

/** How long a subscription request holds the user's turn (longer than its Stripe calls with retries). */
const REQUEST_LEASE_SECONDS = 120;

/**
 * Runs `work` as the user's only subscription request: the user's subscription_requests row is
 * taken first (a row left by a crashed process expires), so two requests at the same moment,
 * for the same plan or two plans, never both reach Stripe. The other one gets 409. (One that
 * only gets its turn after the first finished is told apart by its arrival time: see
 * createSubscription.)
 */
async function oneRequestAtATime<T>(db: Database, userId: string, planId: PlanId, work: () => Promise<T>): Promise<T> {
  const token = randomUUID();
  const { rowCount } = await db.query(
    `insert into public.subscription_requests as r (user_id, token, plan_id, expires_at)
     values ($1, $2, $3, now() + make_interval(secs => $4))
     on conflict (user_id) do update set token = excluded.token, plan_id = excluded.plan_id,
       expires_at = excluded.expires_at, created_at = now()
     where r.expires_at < now()`,
    [userId, token, planId, REQUEST_LEASE_SECONDS],
  );
  if (!rowCount) throw concurrentRequest();
  try {
    return await work();
  } finally {
    await db.query('delete from public.subscription_requests where user_id = $1 and token = $2', [userId, token]);
  }
}

/**
 * Ends a subscription at Stripe that must not run: another unpaid one of the user (its open
 * invoice is voided with it), or a second one that was paid anyway. Whatever its invoices
 * collected is refunded in full. Idempotent (safe to repeat after a failure): an ended
 * subscription is not canceled again and each payment is refunded under its own key.
 * Returns the subscription as it is now and the cents refunded by this call or an earlier one.
 */
export async function endDuplicateSubscription(subscriptionId: string): Promise<{ snapshot: SubscriptionSnapshot; refundedCents: number }> {
  let snapshot = await fetchSubscription(subscriptionId);
  if (!ENDED_STATUSES.has(snapshot.subscription.status)) {
    const fetchedAt = new Date();
    const canceled = await stripeCall(() =>
      stripe().subscriptions.cancel(subscriptionId, { cancellation_details: { comment: 'A second subscription of the same user' } }),
    );
    snapshot = { subscription: canceled, fetchedAt };
  }
  const paid = await stripeCall(() =>
    stripe().invoices.list({ subscription: subscriptionId, status: 'paid', limit: 100, expand: ['data.payments'] }),
  );
  let refundedCents = 0;
  for (const invoice of paid.data) {
    for (const intentId of paymentIntentIdsOfInvoice(invoice)) {
      const refund = await stripeCall(() =>
        stripe().refunds.create(
          { payment_intent: intentId, reason: 'duplicate', metadata: { subscriptionId, invoiceId: invoice.id } },
          { idempotencyKey: `duplicate-subscription-refund:${intentId}` },
        ),
      );
      refundedCents += refund.amount;
    }
  }
  return { snapshot, refundedCents };
}

/**
 * POST /api/payments/subscriptions: a subscription waiting for its first payment
 * (default_incomplete); the page confirms it with the answer's client secret. Refused while
 * another subscription is in force. A repeated request for the same plan gets the same one; a
 * request for another plan ends the unpaid one first, so at most one is ever payable.
 */
export async function createSubscription(
  db: Database,
  userId: string,
  planId: PlanId,
  requestedAt = new Date(),
): Promise<SubscriptionAnswer> {
  const current = await subscriptionInForce(db, userId);
  if (current) throw alreadySubscribed(current.plan_id);
  return oneRequestAtATime(db, userId, planId, async () => {
    // Counted before looking for a pending one, for the same reason as in createTopUpIntent.
    const { rows: counted } = await db.query<{ n: number }>('select count(*)::int as n from public.subscriptions where user_id = $1', [
      userId,
    ]);
    const sequence = counted[0]?.n ?? 0;
    const { rows: pending } = await db.query<SubscriptionRow>(
      `select * from public.subscriptions where user_id = $1 and status = 'incomplete' order by created_at desc`,
      [userId],
    );
    const others: SubscriptionRow[] = [];
    for (const row of pending) {
      const fetchedAt = new Date();
      const subscription = await retrieveWithSecret(row.id);
      if (isInForce(subscription.status)) {
        // Paid meanwhile, and its webhook has not arrived yet: it is the subscription in force.
        await record(db, { subscription, fetchedAt });
        throw alreadySubscribed(planOf(subscription));
      }
      if (subscription.status === 'incomplete' && row.plan_id === planId && others.length === 0) {
        const reused = await record(db, { subscription, fetchedAt });
        return answerFor(subscription, reused);
      }
      if (subscription.status === 'incomplete') {
        // Made by a request that was already running when this one arrived (two plans at the
        // same moment, however the two were scheduled): that one wins, this one is refused.
        if (row.created_at > requestedAt) throw concurrentRequest();
        others.push(row);
      } else await record(db, { subscription, fetchedAt });
    }
    // The user changed their mind: the unpaid ones end before the new one exists. One paid in
    // this very moment is refunded (it lost the race to this request).
    for (const row of others) {
      const { snapshot, refundedCents } = await endDuplicateSubscription(row.id);
      await db.systemTransaction(async (tx) => {
        await syncSubscription(tx, snapshot, 'user');
        await writeAudit(tx, {
          userId,
          actor: 'user',
          action: 'subscription.duplicate_ended',
          entityType: 'subscription',
          entityId: row.id,
          amountMicros: refundedCents * 10_000,
          details: { reason: 'replaced_by_new_subscription', planId: row.plan_id, newPlanId: planId, refundedCents },
        });
      });
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
    return answerFor(subscription, await record(db, { subscription, fetchedAt }));
  });
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
    effectiveAt: null,
    lines: invoice.lines.data.map((line) => ({ description: line.description ?? '', amountCents: line.amount })),
  });
}

/** A change that costs nothing now: a downgrade at `effectiveAt`, or undoing one (null). */
const freePreview = (fromPlanId: PlanId, toPlanId: PlanId, effectiveAt: Date | null): ProrationPreview =>
  prorationPreviewSchema.parse({
    fromPlanId,
    toPlanId,
    amountDueNowCents: 0,
    prorationDate: new Date().toISOString(),
    effectiveAt: effectiveAt?.toISOString() ?? null,
    lines: [],
  });

const isDowngrade = (from: PlanId, to: PlanId) => PLANS[to].allowanceMicros < PLANS[from].allowanceMicros;

/** The subscription's open schedule, if it has one (expanded by fetchSubscription). */
function openSchedule(subscription: Stripe.Subscription): Stripe.SubscriptionSchedule | null {
  const schedule = subscription.schedule;
  if (!schedule || typeof schedule === 'string') return null;
  return schedule.status === 'active' || schedule.status === 'not_started' ? schedule : null;
}

/** Lets the subscription run on its own again (a scheduled change is forgotten). */
async function releaseSchedule(subscription: Stripe.Subscription): Promise<void> {
  const schedule = openSchedule(subscription);
  if (schedule) await stripeCall(() => stripe().subscriptionSchedules.release(schedule.id));
}

/**
 * A schedule for the subscription. No idempotency key of ours: after an undo (release) the same
 * subscription needs a new schedule in the same period. Two requests at once: Stripe refuses
 * the second create (the subscription already has a schedule), which then uses that one.
 */
async function createSchedule(subscriptionId: string): Promise<Stripe.SubscriptionSchedule> {
  try {
    return await stripeCall(() => stripe().subscriptionSchedules.create({ from_subscription: subscriptionId }));
  } catch (error) {
    const schedule = openSchedule((await fetchSubscription(subscriptionId)).subscription);
    if (schedule) return schedule;
    throw error;
  }
}

/**
 * Stripe's recipe for a change at the end of the period: a schedule from the subscription,
 * whose running phase stays as it is and whose next phase, from the period end, is the new
 * plan; then the schedule lets go of the subscription. No proration, nothing invoiced now.
 */
async function scheduleAtPeriodEnd(subscription: Stripe.Subscription, userId: string, planId: PlanId): Promise<void> {
  const item = firstItem(subscription);
  const schedule = openSchedule(subscription) ?? (await createSchedule(subscription.id));
  const running = schedule.current_phase ?? { start_date: item.current_period_start, end_date: item.current_period_end };
  await stripeCall(() =>
    stripe().subscriptionSchedules.update(schedule.id, {
      end_behavior: 'release',
      proration_behavior: 'none',
      metadata: { userId, planId },
      phases: [
        { items: [{ price: item.price.id, quantity: item.quantity ?? 1 }], start_date: running.start_date, end_date: running.end_date },
        { items: [{ price: priceIdOf(planId), quantity: 1 }], duration: { interval: 'month', interval_count: 1 } },
      ],
    }),
  );
}

/**
 * Change the plan of the user's subscription. An upgrade takes effect at once, prorated to the
 * second, and the difference is invoiced at once (`always_invoice`). A downgrade takes effect
 * at the end of the paid period: until then the user keeps the plan they paid for and its
 * allowance, and no credit or refund is created. Asking for the current plan while a downgrade
 * is scheduled undoes it. `previewOnly` answers what the change would cost and changes nothing.
 * With `cancelAtPeriodEnd: true` a downgrade is moot (the subscription ends at the same moment):
 * only the cancellation is made.
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
  if (!isInForce(row.status)) {
    throw new AppError('conflict', 'This subscription is not active, so its plan cannot be changed');
  }
  const { subscription: current } = await fetchSubscription(subscriptionId);
  const fromPlanId = planOf(current);
  const item = firstItem(current);
  const scheduled = openSchedule(current) ? scheduledPlanChange(current) : null;

  if (fromPlanId === planId) {
    if (!scheduled) throw new AppError('conflict', `You are already on the ${PLANS[planId].name} plan`);
    const preview = freePreview(fromPlanId, planId, null);
    if (previewOnly) return { preview, subscription: null };
    return { preview, subscription: await keepCurrentPlan(db, userId, subscriptionId, cancelAtPeriodEnd) };
  }

  if (isDowngrade(fromPlanId, planId)) {
    const preview = freePreview(fromPlanId, planId, toDate(item.current_period_end));
    if (previewOnly) return { preview, subscription: null };
    if (cancelAtPeriodEnd) return { preview, subscription: await cancelSubscription(db, userId, subscriptionId, false) };
    if (current.cancel_at_period_end) {
      throw new AppError('conflict', 'This subscription ends at the end of the period. Resume it before changing its plan.');
    }
    await scheduleAtPeriodEnd(current, userId, planId);
    const after = await fetchSubscription(subscriptionId);
    return { preview, subscription: answerFor(after.subscription, await record(db, after)) };
  }

  const prorationDate = Math.floor(Date.now() / 1000);
  const items = [{ id: item.id, price: priceIdOf(planId) }];
  const upcoming = await stripeCall(() =>
    stripe().invoices.createPreview({
      customer: customerIdOf(current) ?? undefined,
      subscription: subscriptionId,
      subscription_details: { items, proration_behavior: 'always_invoice', proration_date: prorationDate },
    }),
  );
  const preview = previewOf(upcoming, fromPlanId, planId, prorationDate);
  if (previewOnly) return { preview, subscription: null };

  // An upgrade replaces a scheduled downgrade.
  await releaseSchedule(current);
  const fetchedAt = new Date();
  const updated = await stripeCall(() =>
    stripe().subscriptions.update(subscriptionId, {
      items,
      proration_behavior: 'always_invoice',
      proration_date: prorationDate,
      payment_behavior: 'error_if_incomplete',
      metadata: { userId, planId },
      expand: ['schedule'],
      ...(cancelAtPeriodEnd === undefined ? {} : { cancel_at_period_end: cancelAtPeriodEnd }),
    }),
  );
  return { preview, subscription: answerFor(updated, await record(db, { subscription: updated, fetchedAt })) };
}

/** Undo a scheduled downgrade: the subscription renews on its current plan. */
export async function keepCurrentPlan(
  db: Database,
  userId: string,
  subscriptionId: string,
  cancelAtPeriodEnd?: boolean,
): Promise<SubscriptionAnswer> {
  const row = await ownedSubscription(db, userId, subscriptionId);
  if (!isInForce(row.status)) throw new AppError('conflict', 'This subscription is not active');
  const { subscription } = await fetchSubscription(subscriptionId);
  await releaseSchedule(subscription);
  if (cancelAtPeriodEnd !== undefined) {
    return cancelAtPeriodEnd ? cancelSubscription(db, userId, subscriptionId, false) : resumeSubscription(db, userId, subscriptionId);
  }
  const after = await fetchSubscription(subscriptionId);
  return answerFor(after.subscription, await record(db, after));
}

/** Cancel at the end of the paid period (default), or now. A scheduled downgrade is dropped. */
export async function cancelSubscription(db: Database, userId: string, subscriptionId: string, immediately: boolean) {
  const row = await ownedSubscription(db, userId, subscriptionId);
  if (ENDED_STATUSES.has(row.status)) throw new AppError('conflict', 'This subscription has already ended');
  let snapshot = await fetchSubscription(subscriptionId);
  // Already ended at Stripe (e.g. an earlier cancel whose local write failed): just record it.
  if (!ENDED_STATUSES.has(snapshot.subscription.status)) {
    // Stripe refuses cancellation changes on a subscription its schedule manages.
    if (!immediately) await releaseSchedule(snapshot.subscription);
    const fetchedAt = new Date();
    const updated = await stripeCall(() =>
      immediately
        ? stripe().subscriptions.cancel(subscriptionId, { expand: ['schedule'] })
        : stripe().subscriptions.update(subscriptionId, { cancel_at_period_end: true, expand: ['schedule'] }),
    );
    snapshot = { subscription: updated, fetchedAt };
  }
  return answerFor(snapshot.subscription, await record(db, snapshot));
}

/** Undo a cancellation at period end while the subscription is still running. */
export async function resumeSubscription(db: Database, userId: string, subscriptionId: string) {
  const row = await ownedSubscription(db, userId, subscriptionId);
  if (ENDED_STATUSES.has(row.status)) throw new AppError('conflict', 'This subscription has already ended; subscribe again instead');
  const fetchedAt = new Date();
  const updated = await stripeCall(() =>
    stripe().subscriptions.update(subscriptionId, { cancel_at_period_end: false, expand: ['schedule'] }),
  );
  return answerFor(updated, await record(db, { subscription: updated, fetchedAt }));
}

/** PUT /api/payments/subscriptions/:id: change plan and/or (un)schedule the cancellation. */
export async function updateSubscription(
  db: Database,
  userId: string,
  subscriptionId: string,
  body: { planId?: PlanId | undefined; cancelAtPeriodEnd?: boolean | undefined },
) {
  // Both in one Stripe call where Stripe allows it, so a failure cannot leave half the request done.
  if (body.planId) {
    const change = await changePlan(db, userId, subscriptionId, body.planId, false, body.cancelAtPeriodEnd);
    return { ...change.subscription!, preview: change.preview };
  }
  if (body.cancelAtPeriodEnd) return { ...(await cancelSubscription(db, userId, subscriptionId, false)), preview: null };
  return { ...(await resumeSubscription(db, userId, subscriptionId)), preview: null };
}

/**
 * POST /api/payments/upgrade-plan (and the plans page's server action): move the user to a
 * plan. With a subscription in force this is a plan change (see changePlan); without one it
 * subscribes.
 */
export async function upgradePlan(db: Database, userId: string, planId: PlanId, previewOnly: boolean, requestedAt = new Date()) {
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
    effectiveAt: null,
    lines: [{ description: `${PLANS[planId].name} plan, first month`, amountCents: price }],
  });
  if (previewOnly) return { preview, subscription: null };
  return { preview, subscription: await createSubscription(db, userId, planId, requestedAt) };
}

export interface SubscriptionCheckout {
  subscriptionId: string;
  planId: PlanId;
  /** Stripe's status, or `superseded`: no longer the user's pending subscription, never payable. */
  status: string;
  clientSecret: string | null;
  amountCents: number;
}

/**
 * The first payment of the user's pending subscription, to confirm on the checkout page. Only
 * the newest unpaid subscription, while no other is in force, gets a client secret: an older
 * one (the user chose another plan since) is answered `superseded`.
 */
export async function getSubscriptionForCheckout(db: Database, userId: string, subscriptionId: string): Promise<SubscriptionCheckout> {
  const row = await ownedSubscription(db, userId, subscriptionId);
  const fallbackAmount = microsToCentsFloor(PLANS[row.plan_id].allowanceMicros);
  const { rows: newest } = await db.query<{ id: string }>(
    `select id from public.subscriptions where user_id = $1 and status = 'incomplete' order by created_at desc limit 1`,
    [userId],
  );
  const inForce = await subscriptionInForce(db, userId);
  if (row.status === 'incomplete' && (newest[0]?.id !== row.id || (inForce && inForce.id !== row.id))) {
    return { subscriptionId, planId: row.plan_id, status: 'superseded', clientSecret: null, amountCents: fallbackAmount };
  }
  const subscription = await retrieveWithSecret(subscriptionId);
  const answer = answerFor(subscription, row);
  const invoice = typeof subscription.latest_invoice === 'object' ? subscription.latest_invoice : null;
  return {
    subscriptionId,
    planId: answer.planId,
    status: answer.status,
    clientSecret: answer.clientSecret,
    amountCents: invoice?.amount_due ?? fallbackAmount,
  };
}
