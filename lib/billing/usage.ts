import { asActor, type Actor } from '@/lib/auth/actor';
import { microsToCentsCeil, microsToCentsFloor } from '@/lib/billing/money';
import type { PlanId } from '@/lib/billing/plans';
import type { CommitUsageBody, ReleaseUsageBody, ReserveUsageBody } from '@/lib/billing/schemas';
import { translateDatabaseError } from '@/lib/db/errors';
import type { Database, Queryable } from '@/lib/db';
import { AppError } from '@/lib/http/errors';

// The usage core: check, reserve, commit, release. Every write is one call of an atomic SQL
// function (supabase/migrations/*_usage.sql), run by the system on behalf of the
// authenticated actor; reads by a signed-in user go through RLS as that user.

export interface UsageSnapshot {
  planId: PlanId;
  periodStart: string;
  periodEnd: string;
  allowanceMicros: number;
  usedMicros: number;
  /** Spendable credits: unexpired, not frozen by a dispute. */
  creditsMicros: number;
  reservedMicros: number;
  /** Usage no allowance or credit covered, refunded credit already spent: paid first by new credits. */
  owedMicros: number;
  remainingMicros: number;
  allowanceCents: number;
  usageCents: number;
  creditsCents: number;
  reservedCents: number;
  owedCents: number;
  remainingCents: number;
}

interface SnapshotRow {
  plan_id: PlanId;
  period_start: Date;
  period_end: Date;
  allowance_micros: number;
  used_micros: number;
  credits_micros: number;
  reserved_micros: number;
  owed_micros: number;
  remaining_micros: number;
}

async function readSnapshot(tx: Queryable, userId: string): Promise<UsageSnapshot> {
  const { rows } = await tx.query<SnapshotRow>('select * from app_private.usage_snapshot($1)', [userId]);
  const row = rows[0];
  if (!row) throw new Error('usage_snapshot returned no row');
  return {
    planId: row.plan_id,
    periodStart: row.period_start.toISOString(),
    periodEnd: row.period_end.toISOString(),
    allowanceMicros: row.allowance_micros,
    usedMicros: row.used_micros,
    creditsMicros: row.credits_micros,
    reservedMicros: row.reserved_micros,
    owedMicros: row.owed_micros,
    remainingMicros: row.remaining_micros,
    allowanceCents: microsToCentsFloor(row.allowance_micros),
    usageCents: microsToCentsCeil(row.used_micros),
    creditsCents: microsToCentsFloor(row.credits_micros),
    reservedCents: microsToCentsCeil(row.reserved_micros),
    owedCents: microsToCentsCeil(row.owed_micros),
    remainingCents: microsToCentsFloor(row.remaining_micros),
  };
}

/** The actor's allowance in the period in force (a user reads it through RLS). */
export function getUsageSnapshot(db: Database, actor: Actor): Promise<UsageSnapshot> {
  return asActor(db, actor, (tx) => readSnapshot(tx, actor.userId));
}

export interface UsageLimitCheck {
  allowed: boolean;
  estimatedCostMicros: number;
  remainingMicros: number;
  remainingCents: number;
  shortfallMicros: number;
  /** Whole cents that would cover the shortfall (rounded up). */
  shortfallCents: number;
  planId: PlanId;
  periodEnd: string;
}

/** Whether a task of the estimated cost fits in the remaining allowance. No side effect. */
export async function checkUsageLimit(db: Database, actor: Actor, estimatedCostMicros: number): Promise<UsageLimitCheck> {
  const snapshot = await getUsageSnapshot(db, actor);
  const shortfallMicros = Math.max(0, estimatedCostMicros - snapshot.remainingMicros);
  return {
    allowed: shortfallMicros === 0,
    estimatedCostMicros,
    remainingMicros: snapshot.remainingMicros,
    remainingCents: snapshot.remainingCents,
    shortfallMicros,
    shortfallCents: microsToCentsCeil(shortfallMicros),
    planId: snapshot.planId,
    periodEnd: snapshot.periodEnd,
  };
}

export interface Reservation {
  allowed: boolean;
  reservationId: string | null;
  duplicate: boolean;
  amountMicros: number;
  remainingMicros: number;
  remainingCents: number;
  shortfallMicros: number;
  shortfallCents: number;
  expiresAt: string | null;
}

interface ReserveRow {
  reservation_id: string | null;
  allowed: boolean;
  duplicate: boolean;
  amount_micros: number;
  remaining_micros: number;
  shortfall_micros: number;
  expires_at: Date | null;
}

// Usage is written by the task runner only; a signed-in user checks and reads. The routes refuse
// users first (lib/http/route.ts); this second lock keeps any other caller of lib from writing
// usage as a user.
function assertTaskRunner(actor: Actor): void {
  if (actor.kind !== 'task-runner') throw new AppError('forbidden', 'Only the task runner may record usage');
}

/** Hold the estimated cost of a task. When the allowance is short nothing is held. */
export async function reserveUsage(
  db: Database,
  actor: Actor,
  request: ReserveUsageBody,
  ttlSeconds: number,
): Promise<Reservation> {
  assertTaskRunner(actor);
  const { rows } = await db
    .prepared<ReserveRow>('reserve_usage', 'select * from app_private.reserve_usage($1, $2, $3, $4)', [
      actor.userId,
      request.estimatedCost,
      request.idempotencyKey,
      ttlSeconds,
    ])
    .catch(translateDatabaseError);
  const row = rows[0];
  if (!row) throw new Error('reserve_usage returned no row');
  return {
    allowed: row.allowed,
    reservationId: row.reservation_id,
    duplicate: row.duplicate,
    amountMicros: row.amount_micros,
    remainingMicros: row.remaining_micros,
    remainingCents: microsToCentsFloor(row.remaining_micros),
    shortfallMicros: row.shortfall_micros,
    shortfallCents: microsToCentsCeil(row.shortfall_micros),
    expiresAt: row.expires_at?.toISOString() ?? null,
  };
}

export interface CommittedUsage {
  eventId: string;
  duplicate: boolean;
  costMicros: number;
  planId: PlanId;
  remainingMicros: number;
  remainingCents: number;
}

interface CommitRow {
  event_id: string;
  duplicate: boolean;
  cost_micros: number;
  plan_id: PlanId;
  remaining_micros: number;
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
    .prepared<CommitRow>('commit_usage', 'select * from app_private.commit_usage($1, $2, $3, $4, $5, $6, $7)', [
      actor.userId,
      request.reservationId ?? null,
      request.agent,
      request.tokens,
      request.executionMs,
      request.idempotencyKey,
      maxCostMicros,
    ])
    .catch(translateDatabaseError);
  const row = rows[0];
  if (!row) throw new Error('commit_usage returned no row');
  return {
    eventId: row.event_id,
    duplicate: row.duplicate,
    costMicros: row.cost_micros,
    planId: row.plan_id,
    remainingMicros: row.remaining_micros,
    remainingCents: microsToCentsFloor(row.remaining_micros),
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
