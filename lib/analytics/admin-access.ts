import { z } from 'zod';
import { getAdminAnalytics } from '@/lib/analytics/admin';
import type { AdminAnalytics, AdminAnalyticsQuery } from '@/lib/analytics/schemas';
import type { Actor } from '@/lib/auth/actor';
import { requireAdmin } from '@/lib/auth/admin';
import type { Database } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { replayEvent, type WebhookAnswer } from '@/lib/webhooks/inbox';

// The operators' view, behind two locks: each function first checks the caller is an admin
// (lib/auth/admin.ts: anyone else gets not_found), then reads as that user, inside a
// transaction as role `authenticated` with their verified claims, where only the admin RLS
// policies (supabase/migrations/20261201000000_core.sql, app_private.is_admin) make other users' rows visible.
// Replaying a webhook writes money, which only the system does: it runs as the system after the
// admin check, and leaves an audit row naming the admin.

/** The admin figures for a month, read through RLS as the admin. */
export async function getAdminAnalyticsAsAdmin(db: Database, actor: Actor | null, query: AdminAnalyticsQuery): Promise<AdminAnalytics> {
  requireAdmin(actor);
  return db.userTransaction(actor.claims, (tx) => getAdminAnalytics(tx, query));
}

export const ADMIN_WEBHOOK_EVENTS_LIMIT = 100;

export const adminWebhookEventSchema = z.object({
  id: z.string(),
  type: z.string(),
  /** `failed`, or `received` (arrived, never finished: pending). */
  status: z.enum(['failed', 'received']),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  userId: z.string().nullable(),
  receivedAt: z.string(),
  stripeCreatedAt: z.string(),
});

export type AdminWebhookEvent = z.output<typeof adminWebhookEventSchema>;

/** Failed and pending (received, not finished) webhook events, newest first, read through RLS. */
export async function listWebhookEventsForAdmin(
  db: Database,
  actor: Actor | null,
  limit = ADMIN_WEBHOOK_EVENTS_LIMIT,
): Promise<AdminWebhookEvent[]> {
  requireAdmin(actor);
  const { rows } = await db.userTransaction(actor.claims, (tx) =>
    tx.query<{
      id: string;
      type: string;
      status: string;
      attempts: number;
      last_error: string | null;
      user_id: string | null;
      received_at: Date;
      stripe_created: Date;
    }>(
      `select id, type, status, attempts, last_error, user_id::text as user_id, received_at, stripe_created
       from public.webhook_events
       where status in ('failed', 'received')
       order by received_at desc, id
       limit $1`,
      [Math.max(1, Math.min(limit, 1000))],
    ),
  );
  return rows.map((row) =>
    adminWebhookEventSchema.parse({
      id: row.id,
      type: row.type,
      status: row.status,
      attempts: row.attempts,
      lastError: row.last_error,
      userId: row.user_id,
      receivedAt: row.received_at.toISOString(),
      stripeCreatedAt: row.stripe_created.toISOString(),
    }),
  );
}

// Stripe event ids: `evt_` and letters, digits or underscores.
export const replayWebhookEventBodySchema = z.strictObject({
  eventId: z
    .string({ error: 'eventId must be a Stripe event id (evt_...)' })
    .trim()
    .max(255, { error: 'eventId must be a Stripe event id (evt_...)' })
    .regex(/^evt_[A-Za-z0-9_]+$/, { error: 'eventId must be a Stripe event id (evt_...)' }),
});

export type ReplayWebhookEventBody = z.output<typeof replayWebhookEventBodySchema>;

export const WEBHOOK_REPLAYED_ACTION = 'webhook.replayed';

/**
 * Replays a stored webhook event from its recorded payload (as `npm run webhooks -- replay`),
 * for an admin only. Every attempt that reaches the inbox is audited with the admin as actor
 * (`admin:<userId>`) and its outcome, failures included; the failure itself is rethrown (the
 * inbox has already recorded it on the event for the next try).
 */
export async function replayWebhookEventAsAdmin(db: Database, actor: Actor | null, eventId: string): Promise<WebhookAnswer> {
  requireAdmin(actor);
  const parsed = replayWebhookEventBodySchema.safeParse({ eventId });
  if (!parsed.success) {
    throw new AppError('validation_failed', parsed.error.issues[0]?.message ?? 'Invalid event id');
  }
  const id = parsed.data.eventId;
  const { rows } = await db.query<{ status: string; type: string }>('select status, type from public.webhook_events where id = $1', [id]);
  const before = rows[0];
  if (!before) throw new AppError('not_found', 'Webhook event not found');

  const audit = (details: Record<string, unknown>) =>
    // The user the event concerns, once known (set when an event is processed); the admin is the actor.
    db.query(
      `insert into public.audit_log (user_id, actor, action, entity_type, entity_id, details)
       values ((select u.id from public.webhook_events w join public.users u on u.id = w.user_id where w.id = $1),
               $2, $3, 'webhook_event', $1, $4)`,
      [
        id,
        `admin:${actor.userId}`,
        WEBHOOK_REPLAYED_ACTION,
        JSON.stringify({ eventType: before.type, previousStatus: before.status, ...details }),
      ],
    );

  let answer: WebhookAnswer;
  try {
    answer = await replayEvent(db, id);
  } catch (error) {
    await audit({ outcome: 'failed' });
    throw error;
  }
  await audit({ outcome: answer.outcome });
  return answer;
}
