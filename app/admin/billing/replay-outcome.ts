import { isAppError } from '@/lib/http/errors';
import type { WebhookAnswer } from '@/lib/webhooks/inbox';

// What the replay button tells the operator, in words. Plain functions (no Next.js, no server
// code) so the action and the client table share them and tests can read them.

export interface ReplayMessage {
  status: 'success' | 'error';
  eventId: string | null;
  message: string;
}

export type ReplayState = { status: 'idle' } | ReplayMessage;

export const IDLE: ReplayState = { status: 'idle' };

export function replaySucceeded(answer: WebhookAnswer): ReplayMessage {
  const { eventId, outcome } = answer;
  const message =
    outcome === 'processed'
      ? `Event ${eventId} was replayed and processed.`
      : outcome === 'ignored'
        ? `Event ${eventId} was replayed; it needed no action and is now marked ignored.`
        : `Event ${eventId} had already been processed; nothing was done again.`;
  return { status: 'success', eventId, message };
}

/** Never the raw error text: the failure itself is recorded on the event (its last error). */
export function replayFailed(eventId: string, error: unknown): ReplayMessage {
  if (isAppError(error) && error.code === 'not_found') {
    return { status: 'error', eventId, message: `Event ${eventId} was not found. Reload the page to see the current list.` };
  }
  if (isAppError(error) && error.code === 'validation_failed') return invalidEventId();
  return {
    status: 'error',
    eventId,
    message: `Replaying event ${eventId} failed. Its last error in the table below says why; fix the cause, then replay it.`,
  };
}

export const invalidEventId = (): ReplayMessage => ({
  status: 'error',
  eventId: null,
  message: 'That is not a webhook event id (Stripe event ids start with evt_).',
});

export const signedOut = (): ReplayMessage => ({
  status: 'error',
  eventId: null,
  message: 'Your session has ended. Sign in again, then replay the event.',
});

/** A signed-in user who is not an admin learns nothing more than a missing page would say. */
export const notAvailable = (): ReplayMessage => ({ status: 'error', eventId: null, message: 'Not found.' });
