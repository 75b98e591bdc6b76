import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres, type Database } from '@/lib/db/database';
import { createPostgresClone } from '@/tests/helpers/databases';

// The operators' commands run as a person would run them: `npm run webhooks -- list | replay`
// against a database holding a failed event.

const run = promisify(execFile);
let clone: Awaited<ReturnType<typeof createPostgresClone>>;
let db: Database;

beforeAll(async () => {
  clone = await createPostgresClone();
  db = connectPostgres(clone.url, 2, clone.pooler);
}, 60_000);
afterAll(async () => {
  await db?.close();
  await clone?.drop();
});

const webhooks = (...args: string[]) =>
  run('node_modules/.bin/tsx', ['scripts/webhooks.ts', ...args], {
    env: { ...process.env, DATABASE_URL: clone.url, DATABASE_POOLER: clone.pooler },
    timeout: 60_000,
  });

describe('npm run webhooks', () => {
  it('lists a failed event and replays it from its recorded payload, crediting once', async () => {
    const userId = randomUUID();
    await db.query("insert into users (id, email) values ($1, 'ops@example.test')", [userId]);
    const intent = {
      id: `pi_${randomUUID().slice(0, 8)}`,
      object: 'payment_intent',
      amount: 700,
      amount_received: 700,
      currency: 'usd',
      customer: null,
      metadata: { purpose: 'usage_topup', userId },
    };
    const event = {
      id: `evt_${randomUUID().slice(0, 8)}`,
      object: 'event',
      type: 'payment_intent.succeeded',
      created: Math.floor(Date.now() / 1000),
      data: { object: intent },
    };
    await db.query(
      "insert into webhook_events (id, type, stripe_created, payload, status, attempts, last_error) values ($1, $2, now(), $3, 'failed', 4, 'Error: database was restarting')",
      [event.id, event.type, JSON.stringify(event)],
    );

    const listed = await webhooks('list');
    expect(listed.stdout).toContain(`${event.id}  payment_intent.succeeded  failed  attempts=4  Error: database was restarting`);

    const replayed = await webhooks('replay', event.id);
    expect(JSON.parse(replayed.stdout.trim().split('\n').at(-1)!)).toEqual({ received: true, eventId: event.id, outcome: 'processed' });
    const again = await webhooks('replay', event.id);
    expect(JSON.parse(again.stdout.trim().split('\n').at(-1)!)).toMatchObject({ outcome: 'duplicate' });
    expect((await db.query('select amount_micros from credit_grants where user_id = $1', [userId])).rows).toEqual([
      { amount_micros: 7_000_000 },
    ]);
    expect((await webhooks('list')).stdout).toContain('No failed or unfinished webhook events.');
  }, 120_000);
});
