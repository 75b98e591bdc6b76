'use client';

import { useActionState } from 'react';
import { useFormStatus } from 'react-dom';
import type { AdminWebhookEvent } from '@/lib/analytics/admin-access';
import { replayWebhookEventAction } from './actions';
import styles from './admin.module.css';
import { IDLE } from './replay-outcome';

const STATUS_WORDS: Record<AdminWebhookEvent['status'], string> = { failed: 'Failed', received: 'Pending' };

const when = (iso: string) =>
  new Date(iso).toLocaleString('en-US', {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZone: 'UTC',
  }) + ' UTC';

function ReplayButton({ eventId, disabled }: { eventId: string; disabled: boolean }) {
  const { pending } = useFormStatus();
  return (
    <button type="submit" className={styles.replay} disabled={disabled || pending}>
      {pending ? 'Replaying…' : 'Replay'}
      <span className={styles.visuallyHidden}> event {eventId}</span>
    </button>
  );
}

// The failed and pending webhook events with a Replay button each. One action state for the
// whole table, so the outcome stays on screen after the replayed row leaves the list.
export function WebhookEvents({ events }: { events: AdminWebhookEvent[] }) {
  const [state, formAction, pending] = useActionState(replayWebhookEventAction, IDLE);
  return (
    <>
      <div role="status" aria-live="polite" data-testid="replay-outcome">
        {state.status === 'idle' ? null : (
          <p className={state.status === 'error' ? styles.outcomeError : styles.outcomeSuccess}>
            <strong>{state.status === 'error' ? 'Not replayed: ' : 'Done: '}</strong>
            {state.message}
          </p>
        )}
      </div>
      {events.length === 0 ? (
        <p data-testid="no-webhook-events">No failed or pending webhook events.</p>
      ) : (
        <div className={styles.scroll}>
          <table className={styles.table} data-testid="webhook-events">
            <caption>Failed and pending webhook events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Event and type</th>
                <th scope="col">Status</th>
                <th scope="col" className={styles.number}>
                  Attempts
                </th>
                <th scope="col">Last error</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr key={event.id} data-testid="webhook-event-row" data-event-id={event.id}>
                  <td className={styles.nowrap}>{when(event.receivedAt)}</td>
                  <th scope="row">
                    <span className={styles.code}>{event.id}</span>
                    <span className={styles.eventType}>{event.type}</span>
                  </th>
                  <td>
                    <span className={event.status === 'failed' ? styles.badgeFailed : styles.badgePending}>
                      {STATUS_WORDS[event.status]}
                    </span>
                  </td>
                  <td className={styles.number}>{event.attempts}</td>
                  <td className={styles.errorText}>{event.lastError ?? '—'}</td>
                  <td>
                    <form action={formAction} className={styles.inlineForm}>
                      <input type="hidden" name="eventId" value={event.id} />
                      <ReplayButton eventId={event.id} disabled={pending} />
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
