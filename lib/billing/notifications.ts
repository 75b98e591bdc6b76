import { z } from 'zod';
import type { Actor } from '@/lib/auth/actor';
import type { Database } from '@/lib/db';
import { AppError } from '@/lib/http/errors';

// The user's in-app notifications (payment failed, budget reached), read and dismissed as the
// user through RLS: a user may only set read_at on their own.

export interface UserNotification {
  id: string;
  kind: string;
  title: string;
  body: string;
  /** Where the user can act on it (retry a payment, update the card), if anywhere. */
  actionUrl: string | null;
  createdAt: string;
}

export const dismissNotificationSchema = z.strictObject({ id: z.uuid({ error: 'id must be a UUID' }) });

// Our own paths only (not `//host`), in the characters our links use.
const LOCAL_PATH = /^\/(?![/\\])[A-Za-z0-9/_?=&.#-]*$/;

export async function listUnreadNotifications(
  db: Database,
  actor: Extract<Actor, { kind: 'user' }>,
  limit = 10,
): Promise<UserNotification[]> {
  const { rows } = await db.userTransaction(actor.claims, (tx) =>
    tx.query<{ id: string; kind: string; title: string; body: string; data: { retryUrl?: unknown }; created_at: Date }>(
      `select id, kind, title, body, data, created_at from public.notifications
       where user_id = $1 and read_at is null order by created_at desc limit $2`,
      [actor.userId, limit],
    ),
  );
  return rows.map((row) => ({
    id: row.id,
    kind: row.kind,
    title: row.title,
    body: row.body,
    // Only our own paths become links.
    actionUrl: typeof row.data.retryUrl === 'string' && LOCAL_PATH.test(row.data.retryUrl) ? row.data.retryUrl : null,
    createdAt: row.created_at.toISOString(),
  }));
}

export async function dismissNotification(db: Database, actor: Extract<Actor, { kind: 'user' }>, id: string): Promise<void> {
  const { rowCount } = await db.userTransaction(actor.claims, (tx) =>
    tx.query('update public.notifications set read_at = now() where id = $1 and read_at is null', [id]),
  );
  if (!rowCount) throw new AppError('not_found', 'Notification not found');
}
