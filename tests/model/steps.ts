import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { commitUsage, releaseUsage, reserveUsage } from '@/lib/billing/usage';
import { commitUsageAndRecharge } from '@/lib/payments/usage-payment';
import { commitUsageBodySchema, releaseUsageBodySchema, reserveUsageBodySchema } from '@/lib/billing/schemas';
import { reconcile } from '@/lib/payments/reconcile';
import { stripe, type Stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { asTaskRunner } from '@/tests/helpers/users';
import { advanceClock } from '@/tests/local-stripe/helpers';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as postSubscription } from '@/app/api/payments/subscriptions/route';
import { PUT as putAutoRecharge } from '@/app/api/payments/auto-recharge/route';
import { PUT as putSubscription, DELETE as deleteSubscription } from '@/app/api/payments/subscriptions/[subscriptionId]/route';
import { POST as postCommit } from '@/pages/api/usage/commit';
import { POST as postRelease } from '@/pages/api/usage/release';
import type { ModelSystem } from './system';

// The steps a sequence is made of, as data (so a failing sequence prints and shrinks), and how
// each is carried out against the real system. Users are referred to by index (0..USERS-1);
// payments and reservations by an index taken modulo what exists when the step runs, so every
// generated sequence is runnable whatever happened before it.

export const USERS = 3;
const DAY = 86_400;

export type Card = 'visa' | 'declined' | 'insufficient' | '3ds-pass' | '3ds-fail' | 'dispute';
export type Delivery = 'normal' | 'duplicate' | 'reorder' | 'lost';
export type Plan = 'starter' | 'pro' | 'enterprise';
/** The default card auto-recharge charges: pays, declines, or needs the user (3184). */
export type RechargeCard = 'visa' | 'declined' | 'needs-user';

export type Step =
  | { kind: 'topUp'; user: number; cents: number; card: Card; delivery: Delivery }
  | { kind: 'subscribe'; user: number; plan: Exclude<Plan, 'starter'>; card: Card; delivery: Delivery }
  | { kind: 'changePlan'; user: number; plan: Plan; delivery: Delivery }
  | { kind: 'cancel'; user: number; immediately: boolean; delivery: Delivery }
  | { kind: 'resume'; user: number; delivery: Delivery }
  | { kind: 'refund'; user: number; payment: number; partial: boolean; delivery: Delivery }
  | { kind: 'dispute'; user: number; payment: number; won: boolean; delivery: Delivery }
  | { kind: 'renew'; user: number; paid: boolean; delivery: Delivery }
  | { kind: 'reserve'; user: number; cents: number }
  | { kind: 'commit'; user: number; reservation: number | null; tokens: number; executionMs: number; retry: boolean }
  | { kind: 'release'; user: number; reservation: number }
  | { kind: 'lapse'; user: number; reservation: number }
  | { kind: 'trespass'; user: number; victim: number; action: 'commit' | 'release' | 'changePlan' | 'cancel' }
  | {
      kind: 'autoRecharge';
      user: number;
      on: boolean;
      card: RechargeCard;
      thresholdCents: number;
      amountCents: number;
      capCents: number;
      /** Tasks the runner commits right after (each may start a recharge), of taskTokens each. */
      tasks: number;
      taskTokens: number;
    }
  | { kind: 'confirmRecharge'; user: number; passes: boolean; delivery: Delivery }
  | { kind: 'reconcile' };

const user = fc.integer({ min: 0, max: USERS - 1 });
const delivery = fc.constantFrom<Delivery>('normal', 'normal', 'normal', 'duplicate', 'reorder', 'lost');
const card = fc.constantFrom<Card>('visa', 'visa', 'visa', 'declined', 'insufficient', '3ds-pass', '3ds-fail', 'dispute');

export const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('topUp' as const), user, cents: fc.integer({ min: 50, max: 5_000 }), card, delivery }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('subscribe' as const),
      user,
      plan: fc.constantFrom('pro' as const, 'enterprise' as const),
      card,
      delivery,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('changePlan' as const),
      user,
      plan: fc.constantFrom<Plan>('starter', 'pro', 'enterprise'),
      delivery,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), user, immediately: fc.boolean(), delivery }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resume' as const), user, delivery }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('refund' as const), user, payment: fc.nat(5), partial: fc.boolean(), delivery }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('dispute' as const), user, payment: fc.nat(5), won: fc.boolean(), delivery }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('renew' as const), user, paid: fc.boolean(), delivery }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('reserve' as const), user, cents: fc.integer({ min: 1, max: 3_000 }) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      user,
      reservation: fc.option(fc.nat(5), { nil: null, freq: 4 }),
      tokens: fc.integer({ min: 0, max: 2_000_000 }),
      executionMs: fc.integer({ min: 0, max: 600_000 }),
      retry: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), user, reservation: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lapse' as const), user, reservation: fc.nat(5) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('trespass' as const),
      user,
      victim: user,
      action: fc.constantFrom('commit' as const, 'release' as const, 'changePlan' as const, 'cancel' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reconcile' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('autoRecharge' as const),
      user,
      on: fc.constantFrom(true, true, true, false),
      card: fc.constantFrom<RechargeCard>('visa', 'visa', 'declined', 'needs-user'),
      thresholdCents: fc.integer({ min: 0, max: 60_000 }),
      amountCents: fc.integer({ min: 50, max: 5_000 }),
      capCents: fc.integer({ min: 50, max: 20_000 }),
      tasks: fc.integer({ min: 0, max: 3 }),
      taskTokens: fc.integer({ min: 0, max: 2_000_000 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('confirmRecharge' as const), user, passes: fc.boolean(), delivery }) },
);

const RECHARGE_CARDS: Record<RechargeCard, string> = {
  visa: 'pm_card_visa',
  declined: 'pm_card_chargeCustomerFail',
  'needs-user': 'pm_card_authenticationRequired',
};

/** What the test knows about one user: who they are, and what the runner did for them. */
export interface ModelUser {
  userId: string;
  token: string;
  customerId: string;
  clockId: string;
  renewed: boolean;
  /** The runner's reservations, in the order made. */
  reservations: Array<{ id: string; amountMicros: number; settled: boolean }>;
  /** Every commit the runner made (idempotency key -> cost): the usage ledger must be exactly these. */
  commits: Map<string, number>;
  /** The highest monthly auto-recharge cap the user ever saved: no month's recharges may pass it. */
  maxRechargeCapCents: number;
}

export interface Model {
  users: ModelUser[];
  /** Some webhooks were lost since the last reconcile: the database may lag Stripe until then. */
  lostSinceReconcile: boolean;
  startedAt: Date;
}

const PAYMENT_METHODS: Record<Card, string> = {
  visa: 'pm_card_visa',
  declined: 'pm_card_visa_chargeDeclined',
  insufficient: 'pm_card_visa_chargeDeclinedInsufficientFunds',
  '3ds-pass': 'pm_card_authenticationRequiredOnSetup',
  '3ds-fail': 'pm_card_authenticationRequiredOnSetup',
  dispute: 'pm_card_createDispute',
};

/** A user with a Stripe customer on a test clock started 33 days ago, so one renewal can be run up to the real now. */
export async function createModelUser(system: ModelSystem): Promise<ModelUser> {
  const signedUp = await system.auth.signUp();
  const clock = await stripe().testHelpers.testClocks.create({ frozen_time: Math.floor(Date.now() / 1000) - 33 * DAY });
  const customer = await stripe().customers.create({ email: signedUp.email, test_clock: clock.id, metadata: { userId: signedUp.userId } });
  await system.db.query('insert into users (id, email, stripe_customer_id) values ($1, $2, $3)', [
    signedUp.userId,
    signedUp.email,
    customer.id,
  ]);
  return {
    userId: signedUp.userId,
    token: signedUp.accessToken,
    customerId: customer.id,
    clockId: clock.id,
    renewed: false,
    reservations: [],
    commits: new Map(),
    maxRechargeCapCents: 0,
  };
}

const ignoreCardErrors = (error: Error & { type?: string }) => {
  if (error.type !== 'StripeCardError' && error.type !== 'StripeInvalidRequestError') throw error;
  return null;
};

async function payIntent(system: ModelSystem, intentId: string, card: Card) {
  const intent = await stripe().paymentIntents.confirm(intentId, { payment_method: PAYMENT_METHODS[card] }).catch(ignoreCardErrors);
  if (intent?.status === 'requires_action') system.local.completeAuthentication(intentId, card === '3ds-pass' ? 'succeed' : 'fail');
}

async function subscriptionInForce(system: ModelSystem, userId: string): Promise<string | null> {
  const { rows } = await system.db.query<{ id: string }>(
    "select id from subscriptions where user_id = $1 and status in ('active', 'trialing', 'past_due') order by created_at desc limit 1",
    [userId],
  );
  return rows[0]?.id ?? null;
}

/** The customer's succeeded charges, oldest first (top-ups and invoice payments alike). */
async function succeededCharges(customerId: string): Promise<Stripe.Charge[]> {
  const charges: Stripe.Charge[] = [];
  for await (const charge of stripe().charges.list({ customer: customerId, limit: 100 }))
    if (charge.status === 'succeeded') charges.push(charge);
  return charges.sort((a, b) => a.created - b.created || a.id.localeCompare(b.id));
}

const pick = <T>(items: T[], index: number): T | undefined => (items.length ? items[index % items.length] : undefined);

function setDelivery(system: ModelSystem, model: Model, mode: Delivery) {
  system.local.webhooks.setChaos({ duplicate: mode === 'duplicate', reorder: mode === 'reorder' });
  system.setLosing(mode === 'lost');
  if (mode === 'lost') model.lostSinceReconcile = true;
}

/** Runs one step. Returns what a trespass must have left unchanged, if anything to compare. */
export async function runStep(system: ModelSystem, model: Model, step: Step): Promise<void> {
  if ('delivery' in step) setDelivery(system, model, step.delivery);
  try {
    await runStepBody(system, model, step);
    await system.idle();
  } finally {
    setDelivery(system, model, 'normal');
  }
}

async function runStepBody(system: ModelSystem, model: Model, step: Step): Promise<void> {
  const db = system.db;
  switch (step.kind) {
    case 'topUp': {
      const u = model.users[step.user]!;
      const created = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', {
        token: u.token,
        body: { amount: step.cents / 100 },
      });
      if (created.status === 429) return; // rate-limited: nothing to pay
      if (created.status !== 200) throw new Error(`top-up answered ${created.status}: ${JSON.stringify(created.body)}`);
      await payIntent(system, created.body.data.id as string, step.card);
      return;
    }
    case 'subscribe': {
      const u = model.users[step.user]!;
      const created = await api(postSubscription, 'POST', '/api/payments/subscriptions', { token: u.token, body: { planId: step.plan } });
      if (created.status === 409 || created.status === 429) return; // one is already in force, or rate-limited
      if (created.status !== 200) throw new Error(`subscribe answered ${created.status}: ${JSON.stringify(created.body)}`);
      const secret = created.body.data.clientSecret as string | null;
      if (secret) await payIntent(system, secret.split('_secret_')[0]!, step.card);
      return;
    }
    case 'changePlan': {
      const u = model.users[step.user]!;
      const id = await subscriptionInForce(system, u.userId);
      if (!id) return;
      await api(putSubscription, 'PUT', `/api/payments/subscriptions/${id}`, {
        token: u.token,
        params: { subscriptionId: id },
        body: { planId: step.plan },
      });
      return;
    }
    case 'cancel': {
      const u = model.users[step.user]!;
      const id = await subscriptionInForce(system, u.userId);
      if (!id) return;
      const query = step.immediately ? '?immediately=true' : '';
      await api(deleteSubscription, 'DELETE', `/api/payments/subscriptions/${id}${query}`, {
        token: u.token,
        params: { subscriptionId: id },
      });
      return;
    }
    case 'resume': {
      const u = model.users[step.user]!;
      const id = await subscriptionInForce(system, u.userId);
      if (!id) return;
      await api(putSubscription, 'PUT', `/api/payments/subscriptions/${id}`, {
        token: u.token,
        params: { subscriptionId: id },
        body: { cancelAtPeriodEnd: false },
      });
      return;
    }
    case 'refund': {
      const u = model.users[step.user]!;
      const charge = pick(
        (await succeededCharges(u.customerId)).filter((c) => !c.disputed && c.amount_refunded < c.amount),
        step.payment,
      );
      if (!charge) return;
      const left = charge.amount - charge.amount_refunded;
      const amount = step.partial && left > 1 ? Math.floor(left / 2) : left;
      await stripe().refunds.create({ charge: charge.id, amount }).catch(ignoreCardErrors);
      return;
    }
    case 'dispute': {
      const u = model.users[step.user]!;
      const charge = pick(
        (await succeededCharges(u.customerId)).filter((c) => !c.disputed && c.amount_refunded === 0),
        step.payment,
      );
      if (!charge) return;
      const dispute = system.local.disputeCharge(charge.id);
      await system.idle();
      await stripe().disputes.update(dispute.id, { evidence: { uncategorized_text: step.won ? 'winning_evidence' : 'losing_evidence' } });
      return;
    }
    case 'renew': {
      const u = model.users[step.user]!;
      if (u.renewed) return;
      u.renewed = true;
      const id = await subscriptionInForce(system, u.userId);
      if (id && !step.paid) {
        const failing = await stripe().paymentMethods.attach('pm_card_chargeCustomerFail', { customer: u.customerId });
        await stripe().subscriptions.update(id, { default_payment_method: failing.id });
      }
      await advanceClock(stripe(), u.clockId, Math.floor(Date.now() / 1000) - 60);
      return;
    }
    case 'reserve': {
      const u = model.users[step.user]!;
      const body = reserveUsageBodySchema.parse({ estimatedCost: step.cents / 100, idempotencyKey: `res-${randomUUID()}` });
      const held = await reserveUsage(db, asTaskRunner(u.userId), body, 600);
      if (held.allowed && held.reservationId)
        u.reservations.push({ id: held.reservationId, amountMicros: held.amountMicros, settled: false });
      return;
    }
    case 'commit': {
      const u = model.users[step.user]!;
      const reservation =
        step.reservation === null
          ? undefined
          : pick(
              u.reservations.filter((r) => !r.settled),
              step.reservation,
            );
      const key = `task-${randomUUID()}`;
      const body = commitUsageBodySchema.parse({
        reservationId: reservation?.id,
        agent: 'model-agent',
        tokens: step.tokens,
        executionMs: step.executionMs,
        idempotencyKey: key,
      });
      const attempts = step.retry ? 2 : 1; // a retried commit (same key) must count once
      for (let i = 0; i < attempts; i++) {
        // The commit route's path: it starts and charges an auto-recharge when one is due.
        const done = await commitUsageAndRecharge(db, asTaskRunner(u.userId), body, null).catch((error: { code?: string }) => {
          // The runner's commit may be refused (a ceiling, a reservation already settled): then nothing is recorded.
          if (typeof error.code === 'string' && error.code !== 'internal_error') return null;
          throw error;
        });
        if (!done) return;
        u.commits.set(key, done.costMicros);
      }
      if (reservation) reservation.settled = true;
      return;
    }
    case 'release': {
      const u = model.users[step.user]!;
      const reservation = pick(
        u.reservations.filter((r) => !r.settled),
        step.reservation,
      );
      if (!reservation) return;
      await releaseUsage(db, asTaskRunner(u.userId), releaseUsageBodySchema.parse({ reservationId: reservation.id }));
      reservation.settled = true;
      return;
    }
    case 'lapse': {
      // Stands in for the passage of time: the hold's expiry moves into the past, as if the task crashed.
      const u = model.users[step.user]!;
      const reservation = pick(
        u.reservations.filter((r) => !r.settled),
        step.reservation,
      );
      if (!reservation) return;
      await db.query("update usage_reservations set expires_at = now() - interval '1 second' where id = $1 and status = 'open'", [
        reservation.id,
      ]);
      return;
    }
    case 'trespass':
      return trespass(system, model, step);
    case 'autoRecharge': {
      const u = model.users[step.user]!;
      if (step.on) {
        const card = await stripe().paymentMethods.attach(RECHARGE_CARDS[step.card], { customer: u.customerId });
        await stripe().customers.update(u.customerId, { invoice_settings: { default_payment_method: card.id } });
      }
      const saved = await api(putAutoRecharge, 'PUT', '/api/payments/auto-recharge', {
        token: u.token,
        body: {
          enabled: step.on,
          threshold: step.thresholdCents / 100,
          amount: step.amountCents / 100,
          monthlyCap: Math.max(step.capCents, step.amountCents) / 100,
        },
      });
      if (saved.status !== 200) throw new Error(`auto-recharge answered ${saved.status}: ${JSON.stringify(saved.body)}`);
      u.maxRechargeCapCents = Math.max(u.maxRechargeCapCents, step.capCents, step.amountCents);
      for (let i = 0; i < step.tasks; i++) {
        const key = `task-${randomUUID()}`;
        const body = commitUsageBodySchema.parse({ agent: 'model-agent', tokens: step.taskTokens, executionMs: 0, idempotencyKey: key });
        u.commits.set(key, (await commitUsageAndRecharge(db, asTaskRunner(u.userId), body, null)).costMicros);
        await system.idle();
      }
      return;
    }
    case 'confirmRecharge': {
      // The user answers their bank's challenge for a held-back recharge, on-session.
      const u = model.users[step.user]!;
      const { rows } = await db.query<{ payment_intent_id: string; payment_method_id: string }>(
        "select payment_intent_id, payment_method_id from auto_recharges where user_id = $1 and status = 'requires_action'",
        [u.userId],
      );
      const held = rows[0];
      if (!held) return;
      const intent = await stripe()
        .paymentIntents.confirm(held.payment_intent_id, { payment_method: held.payment_method_id })
        .catch(ignoreCardErrors);
      if (intent?.status === 'requires_action') system.local.completeAuthentication(intent.id, step.passes ? 'succeed' : 'fail');
      return;
    }
    case 'reconcile': {
      await reconcile(db, new Date(model.startedAt.getTime() - 60 * DAY * 1000));
      model.lostSinceReconcile = false;
      return;
    }
  }
}

/** A signed-in user reaches for what is not theirs: it must be refused (403/404) and change nothing. */
async function trespass(system: ModelSystem, model: Model, step: Extract<Step, { kind: 'trespass' }>) {
  const attacker = model.users[step.user]!;
  const victim = model.users[step.victim]!;
  const before = await fingerprint(system, model);
  let status: number;
  switch (step.action) {
    case 'commit':
    case 'release': {
      const reservation = victim.reservations.find((r) => !r.settled) ?? victim.reservations[0];
      const body =
        step.action === 'commit'
          ? {
              reservationId: reservation?.id ?? randomUUID(),
              agent: 'x',
              tokens: 0,
              executionMs: 0,
              idempotencyKey: `steal-${randomUUID()}`,
            }
          : { reservationId: reservation?.id ?? randomUUID() };
      status = (
        await api(step.action === 'commit' ? postCommit : postRelease, 'POST', `/api/usage/${step.action}`, { token: attacker.token, body })
      ).status;
      // The route refuses any signed-in user; the runner acting for the attacker must not reach the
      // victim's reservation either.
      if (reservation && step.user !== step.victim) {
        const runner = asTaskRunner(attacker.userId);
        const settle =
          step.action === 'commit'
            ? commitUsage(system.db, runner, commitUsageBodySchema.parse(body))
            : releaseUsage(system.db, runner, releaseUsageBodySchema.parse(body));
        const refused = await settle.then(
          () => null,
          (error: { code?: string }) => error.code,
        );
        if (refused !== 'not_found' && refused !== 'forbidden')
          throw new Error(`the runner for user ${step.user} could ${step.action} user ${step.victim}'s reservation (${String(refused)})`);
      }
      break;
    }
    case 'changePlan':
    case 'cancel': {
      const id = (await subscriptionInForce(system, victim.userId)) ?? 'sub_does_not_exist';
      if (step.user === step.victim) return; // one's own subscription is not a trespass
      status =
        step.action === 'cancel'
          ? (
              await api(deleteSubscription, 'DELETE', `/api/payments/subscriptions/${id}?immediately=true`, {
                token: attacker.token,
                params: { subscriptionId: id },
              })
            ).status
          : (
              await api(putSubscription, 'PUT', `/api/payments/subscriptions/${id}`, {
                token: attacker.token,
                params: { subscriptionId: id },
                body: { planId: 'starter' },
              })
            ).status;
      break;
    }
  }
  await system.idle();
  if (![403, 404].includes(status))
    throw new Error(`trespass ${step.action} by user ${step.user} on user ${step.victim} answered ${status}`);
  const after = await fingerprint(system, model);
  if (JSON.stringify(after) !== JSON.stringify(before))
    throw new Error(`trespass ${step.action} changed state:\n${JSON.stringify(before)}\n${JSON.stringify(after)}`);
}

/** Everything money-related of the sequence's users, summarised. */
async function fingerprint(system: ModelSystem, model: Model) {
  const ids = model.users.map((u) => u.userId);
  const { rows } = await system.db.query(
    `select u.id,
       (select count(*) from usage_events e where e.user_id = u.id)::int as events,
       (select coalesce(sum(cost_micros), 0)::text from usage_events e where e.user_id = u.id) as cost,
       (select count(*) from usage_reservations r where r.user_id = u.id and r.status = 'open')::int as open_holds,
       (select string_agg(s.id || s.plan_id || s.status || s.cancel_at_period_end, ',' order by s.id) from subscriptions s where s.user_id = u.id) as subs,
       (select string_agg(a.id || a.status, ',' order by a.id) from auto_recharges a where a.user_id = u.id) as recharges
     from users u where u.id = any($1::uuid[]) order by u.id`,
    [ids],
  );
  return rows;
}
