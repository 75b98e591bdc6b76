import { z } from 'zod';
import type { Database } from '@/lib/db';
import { cleanJson } from '@/lib/http/clean-text';
import { AppError, isAppError } from '@/lib/http/errors';
import { isSignatureError, verifyWebhookEvent, type Stripe } from '@/lib/stripe/client';
import { dispatch, needsPrefetch, prefetch, type Prefetched } from '@/lib/webhooks/dispatcher';

// The webhook inbox. Every event type takes the same path: the event is recorded by id and its
// handler (lib/webhooks/dispatcher.ts) runs in ONE database transaction together with its inbox
// row: either the event's whole effect and "processed" commit, or
// nothing does and the failure is recorded (status failed, attempts, last error) for Stripe's
// retry, `npm run webhooks -- replay`, or the admin's replay button. A processed event's id
// makes every later delivery of it a no-op answered 200.

export type WebhookOutcome = 'processed' | 'ignored' | 'duplicate';

export interface WebhookAnswer {
  received: true;
  eventId: string;
  outcome: WebhookOutcome;
}

/** How far a signature's timestamp may be from now, either way (Stripe's default tolerance). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

// The envelope every Stripe event has; a signed body without it (not JSON, an array, a stray
// object) is refused before anything is written.
const eventEnvelopeSchema = z.looseObject({
  id: z.string().regex(/^evt_[A-Za-z0-9_]{1,250}$/),
  type: z.string().min(1).max(200),
  created: z.int().nonnegative(),
  data: z.looseObject({ object: z.looseObject({}) }),
});

/** Verifies the signature on the raw body; a failure is a 400 and nothing is written. */
export function verifyEvent(rawBody: string, signature: string | null, secret: string): Stripe.Event {
  if (!signature) throw new AppError('invalid_signature', 'Missing Stripe-Signature header');
  // The SDK refuses old timestamps only; one from the future is refused the same way here.
  const timestamp = Number(/(?:^|,)\s*t=(\d{1,12})(?:,|$)/.exec(signature)?.[1] ?? NaN);
  if (Number.isFinite(timestamp) && timestamp - Date.now() / 1000 > WEBHOOK_TOLERANCE_SECONDS) {
    throw new AppError('invalid_signature', 'Webhook signature verification failed');
  }
  let event: Stripe.Event;
  try {
    event = verifyWebhookEvent(rawBody, signature, secret);
  } catch (error) {
    if (isSignatureError(error)) throw new AppError('invalid_signature', 'Webhook signature verification failed');
    // Signed, but the body does not parse as JSON.
    if (error instanceof SyntaxError) throw new AppError('invalid_json', 'Webhook body is not a Stripe event');
    throw error;
  }
  if (!eventEnvelopeSchema.safeParse(event).success || !cleanJson.safeParse(event).success)
    throw new AppError('validation_failed', 'Webhook body is not a Stripe event');
  return event;
}

async function alreadyDone(db: Database, eventId: string): Promise<boolean> {
  const { rows } = await db.query<{ status: string }>('select status from public.webhook_events where id = $1', [eventId]);
  return rows[0]?.status === 'processed' || rows[0]?.status === 'ignored';
}

// Events carry client secrets (PaymentIntents, invoices' confirmation secrets); those are never
// stored. The handlers do not need them, so a replay from the stored payload works the same.
const storedPayload = (event: Stripe.Event) =>
  JSON.stringify(event, (key, value: unknown) => (key === 'client_secret' ? undefined : value));

const describe = (error: unknown) =>
  isAppError(error) ? `${error.code}: ${error.message}` : error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/** Handles one verified event exactly once. Throws (after recording the failure) when it fails. */
export async function processEvent(db: Database, event: Stripe.Event): Promise<WebhookAnswer> {
  try {
    let fetched: Prefetched = { subscription: null };
    if (needsPrefetch(event)) {
      if (await alreadyDone(db, event.id)) return { received: true, eventId: event.id, outcome: 'duplicate' };
      fetched = await prefetch(db, event);
    }
    const outcome = await db.systemTransaction(async (tx): Promise<WebhookOutcome> => {
      // Claims the event: a concurrent delivery of the same id waits on this row, then sees it done.
      const claimed = await tx.query(
        `insert into public.webhook_events as w (id, type, stripe_created, payload, attempts)
         values ($1, $2, to_timestamp($3), $4, 1)
         on conflict (id) do update set attempts = w.attempts + 1 where w.status not in ('processed', 'ignored')
         returning w.id`,
        [event.id, event.type, event.created, storedPayload(event)],
      );
      if (!claimed.rowCount) return 'duplicate';
      const result = await dispatch(tx, event, fetched);
      await tx.query(`update public.webhook_events set status = $2, user_id = $3, processed_at = now(), last_error = null where id = $1`, [
        event.id,
        result.outcome,
        result.userId,
      ]);
      return result.outcome;
    });
    return { received: true, eventId: event.id, outcome };
  } catch (error) {
    console.error('webhook event failed', { event: event.id, type: event.type, error: describe(error) });
    await db
      .query(
        `insert into public.webhook_events as w (id, type, stripe_created, payload, status, attempts, last_error)
         values ($1, $2, to_timestamp($3), $4, 'failed', 1, $5)
         on conflict (id) do update set status = 'failed', attempts = w.attempts + 1, last_error = excluded.last_error
           where w.status not in ('processed', 'ignored')`,
        [event.id, event.type, event.created, storedPayload(event), describe(error).slice(0, 1000)],
      )
      .catch((recordError: unknown) => console.error('could not record the webhook failure', describe(recordError)));
    throw error;
  }
}

/** POST /api/payments/webhook: verify, then process. */
export async function receiveWebhook(db: Database, rawBody: string, signature: string | null, secret: string): Promise<WebhookAnswer> {
  return processEvent(db, verifyEvent(rawBody, signature, secret));
}

export interface StoredEvent {
  id: string;
  type: string;
  status: string;
  attempts: number;
  lastError: string | null;
  receivedAt: string;
}

/** Events that failed or were never finished, oldest first (operators' view). */
export async function listUnfinishedEvents(db: Database, limit = 100): Promise<StoredEvent[]> {
  const { rows } = await db.query<{
    id: string;
    type: string;
    status: string;
    attempts: number;
    last_error: string | null;
    received_at: Date;
  }>(
    `select id, type, status, attempts, last_error, received_at from public.webhook_events
     where status in ('failed', 'received') order by received_at limit $1`,
    [limit],
  );
  return rows.map((row) => ({
    id: row.id,
    type: row.type,
    status: row.status,
    attempts: row.attempts,
    lastError: row.last_error,
    receivedAt: row.received_at.toISOString(),
  }));
}

/** Runs a stored event again from its recorded payload (it was verified when it arrived). */
export async function replayEvent(db: Database, eventId: string): Promise<WebhookAnswer> {
  const { rows } = await db.query<{ payload: Stripe.Event }>('select payload from public.webhook_events where id = $1', [eventId]);
  const payload = rows[0]?.payload;
  if (!payload) throw new AppError('not_found', 'Webhook event not found');
  return processEvent(db, payload);
}
