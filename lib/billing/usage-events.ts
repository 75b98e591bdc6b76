import { z } from 'zod';
import { commitUsageBodySchema } from '@/lib/billing/schemas';
import type { Database } from '@/lib/db';
import { databaseErrorAsAppError } from '@/lib/db/errors';
import type { ErrorCode } from '@/lib/http/errors';
import { validationError } from '@/lib/http/route';

// Batch ingestion of finished tasks (POST /api/usage/events). Each event is what one
// POST /api/usage/commit takes, plus the user it is for; each is validated on its own (with the
// commit's schema) and recorded on its own (by the commit's SQL function, in its own
// subtransaction: supabase/migrations/20261201300000_usage_event_batches.sql), so a batch obeys
// exactly the rules of single commits. The whole batch is one round trip to the database.

export const MAX_EVENTS_PER_BATCH = 500;

export const usageEventSchema = commitUsageBodySchema.extend({
  userId: z.uuid({ error: 'userId must be a UUID' }),
});
export type UsageEvent = z.infer<typeof usageEventSchema>;

// Only the envelope is checked here: a bad event is that event's `rejected` result, not a 400.
export const recordUsageEventsBodySchema = z.strictObject({
  events: z
    .array(z.unknown(), { error: `events must be a list of 1 to ${MAX_EVENTS_PER_BATCH} usage events` })
    .min(1, { error: `events must be a list of 1 to ${MAX_EVENTS_PER_BATCH} usage events` })
    .max(MAX_EVENTS_PER_BATCH, { error: `events must be a list of 1 to ${MAX_EVENTS_PER_BATCH} usage events` }),
});
export type RecordUsageEventsBody = z.infer<typeof recordUsageEventsBodySchema>;

export type UsageEventResult =
  | { status: 'recorded'; eventId: string; costMicros: number }
  | { status: 'duplicate'; eventId: string; costMicros: number }
  | { status: 'rejected'; code: ErrorCode; message: string };

interface BatchRow {
  ordinal: number;
  outcome: 'recorded' | 'duplicate' | 'rejected';
  event_id: string | null;
  cost_micros: number | null;
  error_code: string | null;
  error_message: string | null;
}

// The SQL function's refusals, as the same codes and messages a single commit would answer.
function rejection(sqlstate: string, message: string): UsageEventResult {
  const error = databaseErrorAsAppError(Object.assign(new Error(message), { code: sqlstate }));
  return error
    ? { status: 'rejected', code: error.code, message: error.message }
    : { status: 'rejected', code: 'unprocessable', message: 'The usage amounts are out of range' };
}

/**
 * Records each event on its own; one result per event, in the order given. An event costing more
 * than `maxCostMicros` (the per-task ceiling, as on a single commit) is rejected with 422.
 */
export async function recordUsageEvents(
  db: Database,
  events: readonly unknown[],
  maxCostMicros: number | null = null,
): Promise<UsageEventResult[]> {
  const results: Array<UsageEventResult | undefined> = new Array(events.length);
  const valid: Array<UsageEvent & { i: number }> = [];
  events.forEach((event, i) => {
    const parsed = usageEventSchema.safeParse(event);
    if (parsed.success) valid.push({ ...parsed.data, i });
    else {
      const error = validationError(parsed.error);
      results[i] = { status: 'rejected', code: error.code, message: error.message };
    }
  });

  if (valid.length > 0) {
    const { rows } = await db.query<BatchRow>('select * from app_private.commit_usage_batch($1::jsonb, $2)', [
      JSON.stringify(valid),
      maxCostMicros,
    ]);
    for (const row of rows) {
      results[row.ordinal] =
        row.outcome === 'rejected'
          ? rejection(row.error_code ?? '', row.error_message ?? '')
          : { status: row.outcome, eventId: row.event_id ?? '', costMicros: row.cost_micros ?? 0 };
    }
  }
  return results.map((result) => {
    if (!result) throw new Error('commit_usage_batch left an event without a result');
    return result;
  });
}
