import { asActor, type Actor } from '@/lib/auth/actor';
import { bigMicrosToCentsCeil, bigMicrosToCentsFloor, exactInt, toBig, type ExactInt } from '@/lib/billing/money';
import type { PlanId } from '@/lib/billing/plans';
import type { CommitUsageBody, ReleaseUsageBody, ReserveUsageBody } from '@/lib/billing/schemas';
import { translateDatabaseError } from '@/lib/db/errors';
import type { Database, Queryable } from '@/lib/db';
import { AppError } from '@/lib/http/errors';

// The usage core: check, reserve, commit, release. Every write is one call of an atomic SQL
// function (supabase/migrations/*_usage.sql), run by the system on behalf of the
// authenticated actor; reads by a signed-in user go through RLS as that user.

// Micro-dollar figures are ExactInts (lib/billing/money.ts): a month of usage can pass 2^53.
// Cents derived from them stay below 2^53 (each is a bigint column divided by 10^4).
export interface UsageSnapshot {
  planId: PlanId;
  periodStart: string;
  periodEnd: string;
  allowanceMicros: ExactInt;
  usedMicros: ExactInt;
  /** Spendable credits: unexpired, not frozen by a dispute. */
  creditsMicros: ExactInt;
  reservedMicros: ExactInt;
  /** Usage no allowance or credit covered, refunded credit already spent: paid first by new credits. */
  owedMicros: ExactInt;
  remainingMicros: ExactInt;
  allowanceCents: number;
  usageCents: number;
  creditsCents: number;
  reservedCents: number;
  owedCents: number;
  remainingCents: number;
  /** An auto-recharge is on its way (started, charged and not yet credited, or awaiting the user's confirmation). */
  rechargePending: boolean;
  /** Its status, when there is one (requires_action: the user must confirm it). */
  rechargeStatus: RechargeStatus | null;
}

/** The status of an open auto-recharge (supabase/migrations/20261202000000_auto_recharge.sql). */
export type RechargeStatus = 'pending' | 'processing' | 'requires_action';

interface SnapshotRow {
  plan_id: PlanId;
  period_start: Date;
  period_end: Date;
  allowance_micros: string;
  used_micros: string;
  credits_micros: string;
  reserved_micros: string;
  owed_micros: string;
  remaining_micros: string;
  recharge_status: RechargeStatus | null;
}

const cents = (value: bigint) => Number(value);

async function readSnapshot(tx: Queryable, userId: string): Promise<UsageSnapshot> {
  const { rows } = await tx.query<SnapshotRow>(
    `select plan_id, period_start, period_end, allowance_micros::text, used_micros::text, credits_micros::text,
            reserved_micros::text, owed_micros::text, remaining_micros::text,
            app_private.open_recharge_status($1) as recharge_status
     from app_private.usage_snapshot($1)`,
    [userId],
  );
  const row = rows[0];
  if (!row) throw new Error('usage_snapshot returned no row');
  const [allowance, used, credits, reserved, owed, remaining] = [
    row.allowance_micros,
    row.used_micros,
    row.credits_micros,
    row.reserved_micros,
    row.owed_micros,
    row.remaining_micros,
  ].map(toBig) as [bigint, bigint, bigint, bigint, bigint, bigint];
  return {
    planId: row.plan_id,
    periodStart: row.period_start.toISOString(),
    periodEnd: row.period_end.toISOString(),
    allowanceMicros: exactInt(allowance),
    usedMicros: exactInt(used),
    creditsMicros: exactInt(credits),
    reservedMicros: exactInt(reserved),
    owedMicros: exactInt(owed),
    remainingMicros: exactInt(remaining),
    allowanceCents: cents(bigMicrosToCentsFloor(allowance)),
    usageCents: cents(bigMicrosToCentsCeil(used)),
    creditsCents: cents(bigMicrosToCentsFloor(credits)),
    reservedCents: cents(bigMicrosToCentsCeil(reserved)),
    owedCents: cents(bigMicrosToCentsCeil(owed)),
    remainingCents: cents(bigMicrosToCentsFloor(remaining)),
    rechargePending: row.recharge_status !== null,
    rechargeStatus: row.recharge_status,
  };
}

/** The actor's allowance in the period in force (a user reads it through RLS). */
export function getUsageSnapshot(db: Database, actor: Actor): Promise<UsageSnapshot> {
  return asActor(db, actor, (tx) => readSnapshot(tx, actor.userId));
}

export interface UsageLimitCheck {
  allowed: boolean;
  estimatedCostMicros: number;
  remainingMicros: ExactInt;
  remainingCents: number;
  shortfallMicros: ExactInt;
  /** Whole cents that would cover the shortfall (rounded up). */
  shortfallCents: number;
  planId: PlanId;
  periodEnd: string;
  /** An auto-recharge is on its way: the task may fit once it lands. */
  rechargePending: boolean;
  rechargeStatus: RechargeStatus | null;
}

/** Whether a task of the estimated cost fits in the remaining allowance. No side effect. */
export async function checkUsageLimit(db: Database, actor: Actor, estimatedCostMicros: number): Promise<UsageLimitCheck> {
  const snapshot = await getUsageSnapshot(db, actor);
  const gap = BigInt(estimatedCostMicros) - toBig(snapshot.remainingMicros);
  const shortfall = gap > 0n ? gap : 0n;
  return {
    allowed: shortfall === 0n,
    estimatedCostMicros,
    remainingMicros: snapshot.remainingMicros,
    remainingCents: snapshot.remainingCents,
    shortfallMicros: exactInt(shortfall),
    shortfallCents: cents(bigMicrosToCentsCeil(shortfall)),
    planId: snapshot.planId,
    periodEnd: snapshot.periodEnd,
    rechargePending: snapshot.rechargePending,
    rechargeStatus: snapshot.rechargeStatus,
  };
}

export interface Reservation {
  allowed: boolean;
  reservationId: string | null;
  duplicate: boolean;
  amountMicros: number;
  remainingMicros: ExactInt;
  remainingCents: number;
  shortfallMicros: ExactInt;
  shortfallCents: number;
  expiresAt: string | null;
  /** A refused reservation only: an auto-recharge is on its way, so it may fit once it lands (false when allowed). */
  rechargePending: boolean;
}

interface ReserveRow {
  reservation_id: string | null;
  allowed: boolean;
  duplicate: boolean;
  amount_micros: number;
  remaining_micros: string;
  shortfall_micros: string;
  expires_at: Date | null;
  recharge_status: RechargeStatus | null;
}

// Usage is written by the task runner only; a signed-in user checks and reads. The routes refuse
// users first (lib/http/route.ts); this second lock keeps any other caller of lib from writing
// usage as a user.
function assertTaskRunner(actor: Actor): void {
  if (actor.kind !== 'task-runner') throw new AppError('forbidden', 'Only the task runner may record usage');
}

/** Hold the estimated cost of a task. When the allowance is short nothing is held. */
export async function reserveUsage(db: Database, actor: Actor, request: ReserveUsageBody, ttlSeconds: number): Promise<Reservation> {
  assertTaskRunner(actor);
  const { rows } = await db
    .prepared<ReserveRow>(
      'reserve_usage',
      // Whether a recharge is on its way matters to a refused reservation only (the runner may
      // wait for it): asked then, so an allowed reservation costs nothing more.
      `select reservation_id, allowed, duplicate, amount_micros, remaining_micros::text, shortfall_micros::text, expires_at,
              case when allowed then null else app_private.open_recharge_status($1) end as recharge_status
       from app_private.reserve_usage($1, $2, $3, $4)`,
      [actor.userId, request.estimatedCost, request.idempotencyKey, ttlSeconds],
    )
    .catch(translateDatabaseError);
  const row = rows[0];
  if (!row) throw new Error('reserve_usage returned no row');
  return {
    allowed: row.allowed,
    reservationId: row.reservation_id,
    duplicate: row.duplicate,
    amountMicros: row.amount_micros,
    remainingMicros: exactInt(toBig(row.remaining_micros)),
    remainingCents: cents(bigMicrosToCentsFloor(toBig(row.remaining_micros))),
    shortfallMicros: exactInt(toBig(row.shortfall_micros)),
    shortfallCents: cents(bigMicrosToCentsCeil(toBig(row.shortfall_micros))),
    expiresAt: row.expires_at?.toISOString() ?? null,
    rechargePending: row.recharge_status !== null,
  };
}

export interface CommittedUsage {
  eventId: string;
  duplicate: boolean;
  costMicros: number;
  planId: PlanId;
  remainingMicros: ExactInt;
  remainingCents: number;
  /** An auto-recharge is on its way (this commit may have started it). */
  rechargePending: boolean;
  /** A recharge this commit started (or found left uncharged) that must now be charged; not an answer field. */
  dueRechargeId: string | null;
}

interface CommitRow {
  event_id: string;
  duplicate: boolean;
  cost_micros: number;
  plan_id: PlanId;
  remaining_micros: string;
  due_recharge_id: string | null;
  recharge_status: RechargeStatus | null;
}

/**
 * Record a finished task, priced at the rates stored on its reservation (else of the plan in
 * force). A repeated key counts once. A cost above `maxCostMicros` is refused (422), nothing written.
 */
export async function commitUsage(
  db: Database,
  actor: Actor,
  request: CommitUsageBody,
  maxCostMicros: number | null = null,
): Promise<CommittedUsage> {
  assertTaskRunner(actor);
  const { rows } = await db
    .prepared<CommitRow>(
      'commit_usage',
      // In the same statement (one transaction, the period row still locked): start an
      // auto-recharge when this commit left the balance below the user's threshold.
      `select c.event_id, c.duplicate, c.cost_micros, c.plan_id, c.remaining_micros::text, r.due_recharge_id, r.recharge_status
       from app_private.commit_usage($1, $2, $3, $4, $5, $6, $7) c
       cross join lateral app_private.auto_recharge_after_commit($1, c.remaining_micros, c.duplicate) r`,
      [
        actor.userId,
        request.reservationId ?? null,
        request.agent,
        request.tokens,
        request.executionMs,
        request.idempotencyKey,
        maxCostMicros,
      ],
    )
    .catch(translateDatabaseError);
  const row = rows[0];
  if (!row) throw new Error('commit_usage returned no row');
  return {
    eventId: row.event_id,
    duplicate: row.duplicate,
    costMicros: row.cost_micros,
    planId: row.plan_id,
    remainingMicros: exactInt(toBig(row.remaining_micros)),
    remainingCents: cents(bigMicrosToCentsFloor(toBig(row.remaining_micros))),
    rechargePending: row.recharge_status !== null,
    dueRechargeId: row.due_recharge_id,
  };
}

export interface ReleasedReservation {
  reservationId: string;
  status: 'released' | 'expired';
  duplicate: boolean;
}

/** Give back a reservation of a task that failed or was cancelled. */
export async function releaseUsage(db: Database, actor: Actor, request: ReleaseUsageBody): Promise<ReleasedReservation> {
  assertTaskRunner(actor);
  const { rows } = await db
    .query<{ reservation_id: string; status: 'released' | 'expired'; duplicate: boolean }>(
      'select * from app_private.release_usage($1, $2)',
      [actor.userId, request.reservationId],
    )
    .catch(translateDatabaseError);
  const row = rows[0];
  if (!row) throw new Error('release_usage returned no row');
  return { reservationId: row.reservation_id, status: row.status, duplicate: row.duplicate };
}
