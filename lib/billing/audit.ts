import type { Queryable } from '@/lib/db';

// Every money change (credit, period start, plan change, refund) leaves an append-only row.
export interface AuditEntry {
  userId: string | null;
  actor: string;
  action:
    | 'credit.granted'
    | 'usage_period.started'
    | 'plan.changed'
    | 'subscription.canceled'
    | 'refund.recorded'
    // lib/payments/subscriptions.ts, lib/webhooks/handlers/invoices.ts
    | 'plan.change_scheduled'
    | 'plan.change_unscheduled'
    | 'subscription.duplicate_ended'
    | 'invoice.flagged'
    // lib/webhooks/handlers/invoices.ts: the card that paid a failed renewal pays the next ones
    | 'payment_method.default_changed';
  entityType: string;
  entityId: string;
  amountMicros?: number | null;
  details?: Record<string, unknown>;
}

export async function writeAudit(tx: Queryable, entry: AuditEntry): Promise<void> {
  await tx.query(
    `insert into public.audit_log (user_id, actor, action, entity_type, entity_id, amount_micros, details)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [
      entry.userId,
      entry.actor,
      entry.action,
      entry.entityType,
      entry.entityId,
      entry.amountMicros ?? null,
      JSON.stringify(entry.details ?? {}),
    ],
  );
}
