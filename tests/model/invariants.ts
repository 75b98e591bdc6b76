import { stripe } from '@/lib/stripe/client';
import type { ModelSystem } from './system';
import type { Model, ModelUser } from './steps';

// What must hold after every step, whatever the sequence: the invariants of the money model.
// Each throws with the user and the figures when it does not hold.

const fail = (what: string, user: ModelUser, detail: unknown): never => {
  throw new Error(`${what} (user ${user.userId}): ${JSON.stringify(detail)}`);
};

const big = (value: string | number | bigint | null | undefined) => BigInt(value ?? 0);

/** 3. Every usage event came from one of the runner's commits, and none disappeared. */
async function usageCameFromCommits(system: ModelSystem, user: ModelUser) {
  const { rows } = await system.db.query<{ idempotency_key: string; cost_micros: string }>(
    'select idempotency_key, cost_micros::text from usage_events where user_id = $1',
    [user.userId],
  );
  const recorded = new Map(rows.map((row) => [row.idempotency_key, Number(row.cost_micros)]));
  const expected = [...user.commits.entries()].sort();
  const actual = [...recorded.entries()].sort();
  if (JSON.stringify(expected) !== JSON.stringify(actual)) fail('usage events differ from the runner commits', user, { expected, actual });
}

/** 4. Counters equal their ledgers: period counters, grant counters and what is owed. */
async function countersEqualLedgers(system: ModelSystem, user: ModelUser) {
  const periods = await system.db.query(
    `select p.period_start, p.used_micros::text as counter, coalesce(sum(e.cost_micros), 0)::text as ledger
       from user_usage p left join usage_events e on e.user_id = p.user_id and e.period_start = p.period_start
      where p.user_id = $1 group by p.period_start, p.used_micros
     having p.used_micros <> coalesce(sum(e.cost_micros), 0)`,
    [user.userId],
  );
  if (periods.rows.length) fail('period usage counters differ from the usage ledger', user, periods.rows);
  const orphans = await system.db.query(
    'select e.period_start from usage_events e where e.user_id = $1 and not exists (select 1 from user_usage p where p.user_id = e.user_id and p.period_start = e.period_start)',
    [user.userId],
  );
  if (orphans.rows.length) fail('usage events outside any period counter', user, orphans.rows);
  const grants = await system.db.query(
    `select g.id, g.left_micros::text, g.frozen_micros::text, g.refunded_micros::text,
            coalesce(sum(m.left_micros), 0)::text as left_ledger, coalesce(sum(m.frozen_micros), 0)::text as frozen_ledger,
            coalesce(sum(m.refunded_micros), 0)::text as refunded_ledger
       from credit_grants g left join credit_movements m on m.grant_id = g.id
      where g.user_id = $1 group by g.id
     having g.left_micros <> coalesce(sum(m.left_micros), 0) or g.frozen_micros <> coalesce(sum(m.frozen_micros), 0)
         or g.refunded_micros <> coalesce(sum(m.refunded_micros), 0)`,
    [user.userId],
  );
  if (grants.rows.length) fail('credit grant counters differ from the credit ledger', user, grants.rows);
  const owed = await system.db.query<{ counter: string; ledger: string }>(
    `select coalesce((select owed_micros from credit_accounts where user_id = $1), 0)::text as counter,
            coalesce((select sum(owed_micros) from credit_movements where user_id = $1), 0)::text as ledger`,
    [user.userId],
  );
  const row = owed.rows[0]!;
  if (row.counter !== row.ledger) fail('owed differs from the credit ledger', user, row);
}

/**
 * 2. remaining = allowance + spendable credits - usage - holds - owed, with each term recomputed
 * from its ledger rather than read from a counter; and usage is never forgiven: whatever the
 * periods used beyond their allowance was paid from credits or is owed.
 */
async function remainingAddsUp(system: ModelSystem, user: ModelUser) {
  const { rows } = await system.db.query<Record<string, string>>(
    `select s.allowance_micros::text as allowance, s.remaining_micros::text as remaining, s.period_start,
       (select coalesce(sum(e.cost_micros), 0) from usage_events e where e.user_id = $1 and e.period_start = s.period_start)::text as used,
       (select coalesce(sum(r.amount_micros), 0) from usage_reservations r
         where r.user_id = $1 and r.status = 'open' and r.expires_at > now())::text as held,
       (select coalesce(sum(m.left_micros - m.frozen_micros), 0) from credit_movements m join credit_grants g on g.id = m.grant_id
         where m.user_id = $1 and g.expires_at > now())::text as spendable,
       (select coalesce(sum(m.owed_micros), 0) from credit_movements m where m.user_id = $1)::text as owed,
       (select coalesce(sum(-m.left_micros), 0) from credit_movements m where m.user_id = $1 and m.kind = 'usage')::text as paid_by_credit,
       (select coalesce(sum(m.owed_micros), 0) from credit_movements m where m.user_id = $1 and m.kind = 'usage_owed')::text as usage_owed,
       (select coalesce(sum(greatest(p.used_micros - p.allowance_micros, 0)), 0) from user_usage p where p.user_id = $1)::text as beyond
     from app_private.usage_snapshot($1) s`,
    [user.userId],
  );
  const s = rows[0];
  if (!s) return fail('no usage snapshot', user, null);
  const allowanceLeft = big(s.allowance) > big(s.used) ? big(s.allowance) - big(s.used) : 0n;
  const expected = allowanceLeft + big(s.spendable) - big(s.held) - big(s.owed);
  if (big(s.remaining) !== expected) fail('remaining does not add up from the ledgers', user, { ...s, expected: expected.toString() });
  // An upgrade raises a period's allowance after some usage was already paid beyond it, never the
  // other way (downgrades wait for the period end), so paid + owed can only exceed what is beyond now.
  if (big(s.paid_by_credit) + big(s.usage_owed) < big(s.beyond)) fail('usage beyond the allowance was forgiven', user, s);
}

/**
 * 1. Money in, net of refunds and lost disputes (at Stripe), equals subscription charges plus
 * credits granted (in the database), to the cent. Only meaningful once the database has heard of
 * everything Stripe did: not while lost webhooks await reconcile.
 */
async function moneyIsConserved(system: ModelSystem, user: ModelUser) {
  let stripeNet = 0n;
  for await (const charge of stripe().charges.list({ customer: user.customerId, limit: 100 })) {
    if (charge.status !== 'succeeded') continue;
    let lost = 0;
    if (charge.disputed)
      for await (const dispute of stripe().disputes.list({ charge: charge.id })) if (dispute.status === 'lost') lost += dispute.amount;
    stripeNet += BigInt(charge.amount - charge.amount_refunded - lost);
  }
  const { rows } = await system.db.query<{ invoices: string; invoice_refunds: string; invoice_disputes: string; credits_micros: string }>(
    `select
       (select coalesce(sum(amount_paid_cents), 0) from invoices where user_id = $1 and status = 'paid' and currency = 'usd')::text as invoices,
       (select coalesce(sum(amount_cents), 0) from charge_refunds where user_id = $1 and kind = 'subscription')::text as invoice_refunds,
       (select coalesce(sum(amount_cents), 0) from disputes where user_id = $1 and kind = 'subscription' and status = 'lost')::text as invoice_disputes,
       (select coalesce(sum(amount_micros - refunded_micros), 0) from credit_grants where user_id = $1)::text as credits_micros`,
    [user.userId],
  );
  const r = rows[0]!;
  const credits = big(r.credits_micros);
  if (credits % 10_000n !== 0n) fail('credits granted are not whole cents', user, r);
  const databaseNet = big(r.invoices) - big(r.invoice_refunds) - big(r.invoice_disputes) + credits / 10_000n;
  if (databaseNet !== stripeNet)
    fail('money in at Stripe differs from charges plus credits', user, { stripeNet: stripeNet.toString(), ...r });
}

/** 5. After reconcile the database agrees with Stripe: subscriptions and top-up payments. */
async function databaseAgreesWithStripe(system: ModelSystem, user: ModelUser) {
  const atStripe = new Map<string, string>();
  for await (const sub of stripe().subscriptions.list({ customer: user.customerId, status: 'all', limit: 100 }))
    atStripe.set(sub.id, `${sub.status}:${sub.cancel_at_period_end}`);
  const { rows } = await system.db.query<{ id: string; state: string }>(
    "select id, status || ':' || cancel_at_period_end as state from subscriptions where user_id = $1",
    [user.userId],
  );
  const inDatabase = new Map(rows.map((row) => [row.id, row.state]));
  for (const [id, state] of atStripe) {
    // A first invoice never paid leaves an incomplete subscription Stripe may not have told us of in detail.
    if (state.startsWith('incomplete') && !inDatabase.has(id)) continue;
    if (inDatabase.get(id) !== state)
      fail('a subscription differs from Stripe after reconcile', user, { id, stripe: state, database: inDatabase.get(id) });
  }
  const intents = await system.db.query<{ payment_intent_id: string; status: string }>(
    'select payment_intent_id, status from payment_attempts where user_id = $1',
    [user.userId],
  );
  for (const attempt of intents.rows) {
    const intent = await stripe().paymentIntents.retrieve(attempt.payment_intent_id);
    if ((intent.status === 'succeeded') !== (attempt.status === 'succeeded'))
      fail('a top-up differs from Stripe after reconcile', user, { id: intent.id, stripe: intent.status, database: attempt.status });
  }
}

/**
 * 6. Auto-recharge: at most one recharge open per user; the month's open and succeeded recharges
 * within the cap; one PaymentIntent at Stripe per recharge, of its amount, charged only to the
 * user's customer; and (once no webhook is lost) every succeeded recharge credited exactly once.
 */
async function rechargesWithinTheRules(system: ModelSystem, model: Model, user: ModelUser) {
  const { rows } = await system.db.query<{
    id: string;
    status: string;
    amount_cents: number;
    payment_intent_id: string | null;
    credited: number;
  }>(
    `select r.id, r.status, r.amount_cents, r.payment_intent_id,
       (select count(*) from credit_grants g where g.source = 'payment_intent' and g.source_id = r.payment_intent_id)::int as credited
     from auto_recharges r where r.user_id = $1`,
    [user.userId],
  );
  if (rows.length === 0) return;
  const open = rows.filter((r) => ['pending', 'processing', 'requires_action'].includes(r.status));
  if (open.length > 1) fail('more than one auto-recharge open', user, open);
  const { rows: month } = await system.db.query<{ cents: number }>(
    `select coalesce(sum(r.amount_cents), 0)::int as cents from auto_recharges r where r.user_id = $1
       and r.cap_month = (date_trunc('month', now() at time zone 'UTC'))::date
       and r.status in ('pending', 'processing', 'requires_action', 'succeeded')`,
    [user.userId],
  );
  if ((month[0]?.cents ?? 0) > user.maxRechargeCapCents)
    fail('auto-recharges passed the highest monthly cap ever set', user, { month: month[0], cap: user.maxRechargeCapCents });
  const charged = new Map<string, number>();
  for await (const intent of stripe().paymentIntents.list({ customer: user.customerId, limit: 100 })) {
    const id = intent.metadata?.autoRechargeId;
    if (!id) continue;
    charged.set(id, (charged.get(id) ?? 0) + 1);
    const recharge = rows.find((r) => r.id === id);
    if (!recharge || recharge.amount_cents !== intent.amount)
      fail('a recharge intent matches no recharge of its amount', user, { id, amount: intent.amount });
  }
  for (const [id, count] of charged) if (count > 1) fail('a recharge was charged more than once', user, { id, count });
  if (!model.lostSinceReconcile)
    for (const r of rows.filter((x) => x.status === 'succeeded'))
      if (r.credited !== 1) fail('a succeeded recharge is not credited exactly once', user, r);
}

/**
 * Checks the users a step touched (a trespass touches two, reconcile everyone): the others were
 * checked after their own last step and nothing of theirs moved since (a trespass proves that
 * with its before/after fingerprint of both users).
 */
export async function checkInvariants(system: ModelSystem, model: Model, touched: ModelUser[], afterReconcile: boolean) {
  for (const user of touched) {
    await usageCameFromCommits(system, user);
    await countersEqualLedgers(system, user);
    await remainingAddsUp(system, user);
    if (!model.lostSinceReconcile) await moneyIsConserved(system, user);
    await rechargesWithinTheRules(system, model, user);
    if (afterReconcile) await databaseAgreesWithStripe(system, user);
  }
}
