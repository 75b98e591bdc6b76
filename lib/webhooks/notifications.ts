import type { Queryable } from '@/lib/db';

// In-app notifications written by webhook handlers. `dedupeKey` makes each one happen once.
export interface NotificationInput {
  userId: string;
  kind: 'payment_failed' | 'invoice_payment_failed' | 'credit_refunded' | 'dispute_opened' | 'dispute_won' | 'dispute_lost';
  title: string;
  body: string;
  data: Record<string, unknown>;
  dedupeKey: string;
}

export async function notify(tx: Queryable, input: NotificationInput): Promise<void> {
  await tx.query(
    `insert into public.notifications (user_id, kind, title, body, data, dedupe_key)
     values ($1, $2, $3, $4, $5, $6) on conflict (user_id, dedupe_key) do nothing`,
    [input.userId, input.kind, input.title, input.body, JSON.stringify(input.data), input.dedupeKey],
  );
}

export const formatDollars = (cents: number) => `$${(cents / 100).toFixed(2)}`;
