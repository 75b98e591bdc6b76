'use client';

import { useActionState } from 'react';
import type { TaskRunnerKey } from '@/lib/auth/task-runner-keys';
import styles from './admin.module.css';
import { createRunnerKeyAction, revokeRunnerKeyAction, type RunnerKeyState } from './runner-keys-actions';

const IDLE: RunnerKeyState = { status: 'idle' };
const when = (iso: string | null) =>
  iso
    ? new Date(iso).toLocaleString('en-US', {
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
        timeZone: 'UTC',
      }) + ' UTC'
    : 'Never';

function Outcome({ state }: { state: RunnerKeyState }) {
  if (state.status === 'idle') return null;
  if (state.status === 'error') return <p className={styles.outcomeError}>{state.message}</p>;
  if (state.status === 'revoked')
    return <p className={styles.outcomeSuccess}>Key “{state.name}” is revoked: it stops working within a second.</p>;
  return (
    <div className={styles.outcomeSuccess}>
      <p>Key “{state.name}” created. Copy it now: it is shown only once.</p>
      <code data-testid="new-runner-key">{state.key}</code>
    </div>
  );
}

// The task runner's named API keys: create (shown once), list with last use, revoke.
export function RunnerKeys({ keys }: { keys: TaskRunnerKey[] }) {
  const [created, createAction, creating] = useActionState(createRunnerKeyAction, IDLE);
  const [revoked, revokeAction, revoking] = useActionState(revokeRunnerKeyAction, IDLE);
  return (
    <>
      <div role="status" aria-live="polite" data-testid="runner-key-outcome">
        <Outcome state={created} />
        <Outcome state={revoked} />
      </div>
      <form action={createAction} className={styles.inlineForm}>
        <label htmlFor="runner-key-name">New key name</label>
        <input id="runner-key-name" name="name" required maxLength={100} placeholder="e.g. agents-eu-1" />
        <button type="submit" disabled={creating}>
          {creating ? 'Creating…' : 'Create key'}
        </button>
      </form>
      {keys.length === 0 ? (
        <p>No named keys yet.</p>
      ) : (
        <div className={styles.scroll}>
          <table className={styles.table} data-testid="runner-keys">
            <caption>Task-runner API keys, live first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Key starts with</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id} data-testid="runner-key-row">
                  <th scope="row">{key.name}</th>
                  <td className={styles.code}>{key.keyPrefix}…</td>
                  <td className={styles.nowrap}>{when(key.createdAt)}</td>
                  <td className={styles.nowrap}>{when(key.lastUsedAt)}</td>
                  <td>
                    {key.revokedAt ? (
                      `Revoked ${when(key.revokedAt)}`
                    ) : (
                      <form action={revokeAction} className={styles.inlineForm}>
                        <input type="hidden" name="id" value={key.id} />
                        <button type="submit" disabled={revoking}>
                          Revoke<span className={styles.visuallyHidden}> key {key.name}</span>
                        </button>
                      </form>
                    )}
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
