import { randomUUID } from 'node:crypto';
import { createClient, type WebSocketLikeConstructor } from '@supabase/supabase-js';
import ws from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAdminAnalytics } from '@/lib/analytics/admin';
import {
  getAdminAnalyticsAsAdmin,
  listWebhookEventsForAdmin,
  replayWebhookEventAsAdmin,
  WEBHOOK_REPLAYED_ACTION,
} from '@/lib/analytics/admin-access';
import { authenticateUser, type Actor } from '@/lib/auth/actor';
import { isAdmin, requireAdmin, type UserActor } from '@/lib/auth/admin';
import type { JwtClaims } from '@/lib/auth/claims';
import { useDatabase, type Database } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { replayFailed, replaySucceeded } from '@/app/admin/billing/replay-outcome';
import { ANON_KEY, SERVICE_ROLE_KEY, startTestAuth, type TestAuth } from '@/tests/helpers/auth';
import { backends } from '@/tests/helpers/databases';
import { asTaskRunner, createUser } from '@/tests/helpers/users';

// The operators' side: who is an admin (app_metadata.role, which only the service role can set),
// what admins read through RLS and what everyone else does not, the admin figures through RLS
// equal to the system's, and the replay button's function (admin-checked, audited, credits once).
// On PostgreSQL 15 and PGlite; the auth part against the real local auth server.

let auth: TestAuth;
beforeAll(async () => {
  auth = await startTestAuth();
  process.env.NEXT_PUBLIC_SUPABASE_URL = auth.url;
});
afterAll(async () => auth.close());

const withAppRole = (user: UserActor, role: string): UserActor => ({
  ...user,
  claims: { ...user.claims, app_metadata: { provider: 'email', providers: ['email'], role } },
});

/** What a caller without the right gets from every admin function: a plain 404. */
const NOT_FOUND = { name: 'AppError', code: 'not_found', message: 'Not found' };

const OWNED_TABLES = ['payment_attempts', 'invoices', 'subscriptions', 'usage_events'] as const;
const ADMIN_ONLY_TABLES = ['webhook_events', 'audit_log'] as const;

/** A Stripe payment_intent.succeeded event for a top-up, as it is stored in the inbox. */
function topUpEvent(userId: string, amountCents: number) {
  const intent = {
    id: `pi_${randomUUID().slice(0, 8)}`,
    object: 'payment_intent',
    amount: amountCents,
    amount_received: amountCents,
    currency: 'usd',
    customer: null,
    metadata: { purpose: 'usage_topup', userId },
  };
  return {
    id: `evt_${randomUUID().replaceAll('-', '').slice(0, 16)}`,
    object: 'event',
    type: 'payment_intent.succeeded',
    created: Math.floor(Date.now() / 1000),
    data: { object: intent },
  };
}

async function storeFailedEvent(db: Database, event: ReturnType<typeof topUpEvent>, receivedAt: string, lastError: string) {
  await db.query(
    `insert into webhook_events (id, type, stripe_created, payload, status, attempts, last_error, received_at)
     values ($1, $2, now(), $3, 'failed', 3, $4, $5)`,
    [event.id, event.type, JSON.stringify(event), lastError, receivedAt],
  );
}

/** Rows of each user in November 2026 (revenue, payments, subscriptions, usage), one event each. */
async function seedUser(db: Database, userId: string, amountCents: number, plan: 'starter' | 'pro') {
  await db.query(
    `insert into payment_attempts (user_id, amount_cents, kind, status, created_at, succeeded_at)
     values ($1, $2, 'usage_topup', 'succeeded', '2026-11-03T10:00:00Z', '2026-11-03T10:00:05Z'),
            ($1, $2, 'usage_topup', 'failed', '2026-11-04T10:00:00Z', null)`,
    [userId, amountCents],
  );
  const subscription = `sub_${randomUUID().slice(0, 8)}`;
  await db.query(
    `insert into subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end, created_at)
     values ($1, $2, $3, 'active', '2026-11-05', '2026-12-05', '2026-11-05T09:00:00Z')`,
    [subscription, userId, plan],
  );
  await db.query(
    `insert into invoices (id, user_id, subscription_id, status, amount_due_cents, amount_paid_cents, stripe_created, paid_at)
     values ($1, $2, $3, 'paid', 5000, 5000, '2026-11-05T09:00:00Z', '2026-11-05T09:00:05Z')`,
    [`in_${randomUUID().slice(0, 8)}`, userId, subscription],
  );
  await db.query(
    `insert into usage_events (user_id, period_start, agent, tokens, execution_ms, plan_id, token_rate_micros,
       minute_rate_micros, cost_micros, idempotency_key, created_at)
     select $1, '2026-11-05', 'planner', 1000, 60000, p.id, p.token_rate_micros, p.minute_rate_micros,
       app_private.task_cost_micros(1000, 60000, p.token_rate_micros, p.minute_rate_micros), $3, '2026-11-06T10:00:00Z'
     from plans p where p.id = $2`,
    [userId, plan, `seed-${userId}`],
  );
  await db.query(
    `insert into audit_log (user_id, actor, action, entity_type, entity_id) values ($1, 'seed', 'credit.granted', 'payment_intent', 'pi_seed')`,
    [userId],
  );
}

describe.each(backends())('admin access on $name', (backend) => {
  let db: Database;
  let alice: UserActor;
  let bob: UserActor;
  let admin: UserActor;
  // Alice's failed top-up webhook (the database was down); the button will replay it.
  let aliceEvent: ReturnType<typeof topUpEvent>;

  beforeAll(async () => {
    db = await backend.open();
    alice = await createUser(db);
    bob = await createUser(db);
    admin = withAppRole(await createUser(db), 'admin');
    await seedUser(db, alice.userId, 1_500, 'starter');
    await seedUser(db, bob.userId, 2_500, 'pro');

    aliceEvent = topUpEvent(alice.userId, 700);
    await storeFailedEvent(db, aliceEvent, '2026-11-20T10:00:00Z', 'Error: database was restarting');
    const bobEvent = topUpEvent(bob.userId, 900);
    await storeFailedEvent(db, bobEvent, '2026-11-21T10:00:00Z', 'Error: connection reset');
    await db.query(
      `insert into webhook_events (id, type, stripe_created, payload, status, attempts, received_at, user_id) values
         ('evt_pending_one', 'invoice.paid', now(), '{}', 'received', 1, '2026-11-22T10:00:00Z', null),
         ('evt_done_one', 'invoice.paid', now(), '{}', 'processed', 1, '2026-11-23T10:00:00Z', $1),
         ('evt_ignored_one', 'customer.created', now(), '{}', 'ignored', 1, '2026-11-24T10:00:00Z', null)`,
      [bob.userId],
    );
  }, 60_000);
  afterAll(async () => db?.close());

  const countAs = (claims: JwtClaims, table: string) =>
    db.userTransaction(claims, async (tx) => (await tx.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n);
  const countAll = async (table: string) => (await db.query<{ n: number }>(`select count(*)::int as n from ${table}`)).rows[0]!.n;

  describe('row level security', () => {
    it("lets an admin read every user's rows of the admin view's tables", async () => {
      for (const table of [...OWNED_TABLES, ...ADMIN_ONLY_TABLES]) {
        const all = await countAll(table);
        expect(all, table).toBeGreaterThan(0);
        expect(await countAs(admin.claims, table), table).toBe(all);
      }
      const attempts = await db.userTransaction(admin.claims, async (tx) =>
        (await tx.query<{ user_id: string }>('select distinct user_id::text as user_id from payment_attempts order by 1')).rows.map(
          (row) => row.user_id,
        ),
      );
      expect(attempts).toEqual([alice.userId, bob.userId].sort());
    });

    it('lets a normal user read only their own rows, and no webhook events or audit log', async () => {
      for (const table of OWNED_TABLES) {
        const own = await db.query<{ n: number }>(`select count(*)::int as n from ${table} where user_id = $1`, [alice.userId]);
        const seen = await db.userTransaction(
          alice.claims,
          async (tx) => (await tx.query<{ user_id: string }>(`select user_id::text from ${table}`)).rows,
        );
        expect(seen.length, table).toBe(own.rows[0]!.n);
        expect(seen.length, table).toBeGreaterThan(0);
        expect(new Set(seen.map((row) => row.user_id)), table).toEqual(new Set([alice.userId]));
      }
      for (const table of ADMIN_ONLY_TABLES) expect(await countAs(alice.claims, table), table).toBe(0);
      // Even naming an event or a row of Bob's finds nothing.
      const direct = await db.userTransaction(alice.claims, async (tx) => ({
        event: (await tx.query('select * from webhook_events where id = $1', [aliceEvent.id])).rowCount,
        bobs: (await tx.query('select * from payment_attempts where user_id = $1', [bob.userId])).rowCount,
      }));
      expect(direct).toEqual({ event: 0, bobs: 0 });
    });

    it('does not take a role the user can set themself (user_metadata) or another app role for admin', async () => {
      const selfDeclared: UserActor = { ...alice, claims: { ...alice.claims, user_metadata: { role: 'admin' } } };
      const otherRole = withAppRole(alice, 'support');
      const topLevel: UserActor = { ...alice, claims: { ...alice.claims, admin: true, app_role: 'admin' } };
      for (const actor of [selfDeclared, otherRole, topLevel]) {
        expect(isAdmin(actor)).toBe(false);
        expect(await countAs(actor.claims, 'webhook_events')).toBe(0);
        expect(await countAs(actor.claims, 'payment_attempts')).toBe(2);
      }
    });

    it('answers app_private.is_admin() from the claims of the transaction only', async () => {
      const isAdminAs = (claims: JwtClaims) =>
        db.userTransaction(
          claims,
          async (tx) => (await tx.query<{ admin: boolean }>('select app_private.is_admin() as admin')).rows[0]!.admin,
        );
      expect(await isAdminAs(admin.claims)).toBe(true);
      expect(await isAdminAs(alice.claims)).toBe(false);
      // No claims at all (a system connection): false, not null.
      expect((await db.query<{ admin: boolean }>('select app_private.is_admin() as admin')).rows[0]!.admin).toBe(false);
    });

    it('lets an admin read but never write', async () => {
      const writes = [
        ["update payment_attempts set status = 'succeeded' where status = 'failed'", []],
        ['insert into payment_attempts (user_id, amount_cents, status) values ($1, 100, $2)', [alice.userId, 'succeeded']],
        ["update webhook_events set status = 'processed' where status = 'failed'", []],
        ["insert into webhook_events (id, type, stripe_created, payload) values ('evt_forged', 'x', now(), '{}')", []],
        ['delete from webhook_events', []],
        ["insert into audit_log (user_id, actor, action, entity_type, entity_id) values (null, 'x', 'x', 'x', 'x')", []],
        ["update invoices set status = 'void'", []],
        ["update subscriptions set plan_id = 'enterprise'", []],
        ["select * from app_private.grant_credit($1, 100000000, 'manual', 'admin-self', 'admin')", [alice.userId]],
      ] as const;
      const before = await Promise.all(['payment_attempts', 'webhook_events', 'audit_log', 'credit_grants'].map(countAll));
      for (const [sql, values] of writes) {
        const outcome = await db
          .userTransaction(admin.claims, async (tx) => (await tx.query(sql, [...values])).rowCount)
          .catch((error: { code?: string }) => `refused (${error.code})`);
        expect(outcome, sql).toBe('refused (42501)');
      }
      expect(await Promise.all(['payment_attempts', 'webhook_events', 'audit_log', 'credit_grants'].map(countAll))).toEqual(before);
    });
  });

  describe('the admin figures', () => {
    it('refuses anyone but an admin with a 404 not_found', async () => {
      for (const actor of [alice, withAppRole(alice, 'support'), asTaskRunner(alice.userId), null] as Array<Actor | null>) {
        await expect(getAdminAnalyticsAsAdmin(db, actor, { month: '2026-11' })).rejects.toMatchObject(NOT_FOUND);
        await expect(listWebhookEventsForAdmin(db, actor)).rejects.toMatchObject(NOT_FOUND);
      }
      expect(() => requireAdmin(alice)).toThrow('Not found');
      expect(() => requireAdmin(admin)).not.toThrow();
    });

    it('equal the system figures when read through RLS as an admin', async () => {
      for (const month of ['2026-11', '2026-10', new Date().toISOString().slice(0, 7)]) {
        const system = await getAdminAnalytics(db, { month });
        expect(await getAdminAnalyticsAsAdmin(db, admin, { month }), month).toEqual(system);
      }
      const november = await getAdminAnalyticsAsAdmin(db, admin, { month: '2026-11' });
      // Both users' rows: top-ups 1,500 + 2,500 and two invoices of 5,000.
      expect(november.revenue.monthCents).toBe(14_000);
      expect(november.payments).toEqual({ succeeded: 2, failed: 2, successRate: 0.5 });
      expect(november.subscriptions).toEqual({ created: 2, converted: 2, conversionRate: 1 });
      expect(november.usageByPlan.map((row) => [row.planId, row.users, row.tasks])).toEqual([
        ['starter', 1, 1],
        ['pro', 1, 1],
        ['enterprise', 0, 0],
      ]);
      expect(november.webhooks).toEqual({ failed: 2, pending: 1 });
    });

    it('show a normal user who runs the same queries under RLS only their own rows (the second lock)', async () => {
      const own = await db.userTransaction(alice.claims, (tx) => getAdminAnalytics(tx, { month: '2026-11' }));
      expect(own.revenue.monthCents).toBe(6_500);
      expect(own.payments).toEqual({ succeeded: 1, failed: 1, successRate: 0.5 });
      expect(own.subscriptions.created).toBe(1);
      expect(own.webhooks).toEqual({ failed: 0, pending: 0 });
    });

    it('list failed and pending webhook events, newest first, to an admin', async () => {
      const events = await listWebhookEventsForAdmin(db, admin);
      expect(events.map((event) => [event.id, event.status])).toEqual([
        ['evt_pending_one', 'received'],
        [expect.stringMatching(/^evt_/), 'failed'],
        [aliceEvent.id, 'failed'],
      ]);
      expect(events[2]).toEqual({
        id: aliceEvent.id,
        type: 'payment_intent.succeeded',
        status: 'failed',
        attempts: 3,
        lastError: 'Error: database was restarting',
        userId: null,
        receivedAt: '2026-11-20T10:00:00.000Z',
        stripeCreatedAt: expect.any(String),
      });
      expect((await listWebhookEventsForAdmin(db, admin, 1)).map((event) => event.id)).toEqual(['evt_pending_one']);
    });
  });

  describe('replaying a webhook event', () => {
    const stateOf = async (eventId: string, userId: string) => ({
      event: (await db.query('select status, attempts from webhook_events where id = $1', [eventId])).rows[0],
      credits: (await db.query('select amount_micros from credit_grants where user_id = $1', [userId])).rows,
      audit: (
        await db.query(
          'select user_id::text as user_id, actor, action, entity_type, entity_id, details from audit_log where action = $1 and entity_id = $2 order by id',
          [WEBHOOK_REPLAYED_ACTION, eventId],
        )
      ).rows,
    });

    it('refuses a non-admin with not_found and changes nothing', async () => {
      const before = await stateOf(aliceEvent.id, alice.userId);
      for (const actor of [alice, bob, asTaskRunner(alice.userId), null] as Array<Actor | null>) {
        await expect(replayWebhookEventAsAdmin(db, actor, aliceEvent.id)).rejects.toMatchObject(NOT_FOUND);
      }
      expect(await stateOf(aliceEvent.id, alice.userId)).toEqual(before);
      expect(before).toEqual({ event: { status: 'failed', attempts: 3 }, credits: [], audit: [] });
    });

    it('rejects an id that is not an event id, and an unknown event', async () => {
      for (const id of ['', 'pi_123', "evt_1' or '1'='1", `evt_${'x'.repeat(300)}`]) {
        await expect(replayWebhookEventAsAdmin(db, admin, id)).rejects.toMatchObject({
          code: 'validation_failed',
          message: 'eventId must be a Stripe event id (evt_...)',
        });
      }
      await expect(replayWebhookEventAsAdmin(db, admin, 'evt_unknown')).rejects.toMatchObject({
        code: 'not_found',
        message: 'Webhook event not found',
      });
    });

    it('replays a failed payment_intent.succeeded for an admin: credits once, audited with the admin as actor', async () => {
      expect(await replayWebhookEventAsAdmin(db, admin, aliceEvent.id)).toEqual({
        received: true,
        eventId: aliceEvent.id,
        outcome: 'processed',
      });
      // A second click (or a stale page) finds it done and credits nothing more.
      expect(await replayWebhookEventAsAdmin(db, admin, aliceEvent.id)).toEqual({
        received: true,
        eventId: aliceEvent.id,
        outcome: 'duplicate',
      });

      const after = await stateOf(aliceEvent.id, alice.userId);
      expect(after.event).toEqual({ status: 'processed', attempts: 4 });
      expect(after.credits).toEqual([{ amount_micros: 7_000_000 }]);
      const entry = {
        user_id: alice.userId,
        actor: `admin:${admin.userId}`,
        action: 'webhook.replayed',
        entity_type: 'webhook_event',
        entity_id: aliceEvent.id,
      };
      expect(after.audit).toEqual([
        { ...entry, details: { eventType: 'payment_intent.succeeded', previousStatus: 'failed', outcome: 'processed' } },
        { ...entry, details: { eventType: 'payment_intent.succeeded', previousStatus: 'processed', outcome: 'duplicate' } },
      ]);
      // The admin reads the audit trail through RLS; the user whose money it is does not.
      expect(await countAs(admin.claims, `audit_log where entity_id = '${aliceEvent.id}'`)).toBe(2);
      expect(await countAs(alice.claims, `audit_log where entity_id = '${aliceEvent.id}'`)).toBe(0);
      expect((await listWebhookEventsForAdmin(db, admin)).map((event) => event.id)).not.toContain(aliceEvent.id);
    });

    it('audits a replay that fails again, leaves the event failed with the new error, and rethrows', async () => {
      const broken = topUpEvent(bob.userId, -5); // a negative amount fails the payment_attempts check
      await storeFailedEvent(db, broken, '2026-11-25T10:00:00Z', 'Error: first failure');
      await expect(replayWebhookEventAsAdmin(db, admin, broken.id)).rejects.toMatchObject({ code: '23514' });
      const after = await stateOf(broken.id, bob.userId);
      expect(after.event).toEqual({ status: 'failed', attempts: 4 });
      expect(after.credits).toEqual([]);
      expect(after.audit).toEqual([
        {
          user_id: null,
          actor: `admin:${admin.userId}`,
          action: 'webhook.replayed',
          entity_type: 'webhook_event',
          entity_id: broken.id,
          details: { eventType: 'payment_intent.succeeded', previousStatus: 'failed', outcome: 'failed' },
        },
      ]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Who can make someone an admin: only the service role, against the real local auth server.

function isWebSocketConstructor(value: unknown): value is WebSocketLikeConstructor {
  return typeof value === 'function' && 'OPEN' in value;
}
if (!isWebSocketConstructor(ws)) throw new Error('ws does not export a WebSocket class');
const transport = ws;
const clientOptions = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false }, realtime: { transport } };
const PASSWORD = 'correct-horse-1';

describe('becoming an admin (local auth server)', () => {
  // Authentication looks the token's session up in the app database's auth.sessions, where the
  // local auth server writes it: this block needs a database of its own.
  let db: Database;
  beforeAll(async () => {
    db = await backends()[0]!.open();
    useDatabase(db);
  }, 60_000);
  afterAll(async () => db.close());

  const actorOf = (accessToken: string) => authenticateUser({ authorization: `Bearer ${accessToken}`, cookie: null });

  it('ignores app_metadata a user sends for themself; only the service role grants admin', async () => {
    const email = `${randomUUID()}@example.test`;
    const client = createClient(auth.url, ANON_KEY, clientOptions);
    // Sign-up `data` is user_metadata, whatever it says.
    const signedUp = await client.auth.signUp({ email, password: PASSWORD, options: { data: { role: 'admin' } } });
    const session = signedUp.data.session!;
    const userId = signedUp.data.user!.id;
    expect(isAdmin(await actorOf(session.access_token))).toBe(false);

    // PUT /auth/v1/user with app_metadata, as a user could send it by hand.
    const response = await fetch(`${auth.url}/auth/v1/user`, {
      method: 'PUT',
      headers: { apikey: ANON_KEY, authorization: `Bearer ${session.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ app_metadata: { role: 'admin' }, data: { role: 'admin' } }),
    });
    expect(response.status).toBe(200);
    const updated = (await response.json()) as { app_metadata: Record<string, unknown>; user_metadata: Record<string, unknown> };
    expect(updated.app_metadata).toEqual({ provider: 'email', providers: ['email'] });
    expect(updated.user_metadata).toMatchObject({ role: 'admin' });

    // The admin API with the user's own token instead of the service-role key: refused.
    const selfPromotion = await fetch(`${auth.url}/auth/v1/admin/users/${userId}`, {
      method: 'PUT',
      headers: { apikey: ANON_KEY, authorization: `Bearer ${session.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ app_metadata: { role: 'admin' } }),
    });
    expect(selfPromotion.status).toBe(403);

    // A fresh token after all that: still not an admin.
    const refreshed = await client.auth.refreshSession({ refresh_token: session.refresh_token });
    const stillUser = await actorOf(refreshed.data.session!.access_token);
    expect(stillUser.claims.app_metadata).toEqual({ provider: 'email', providers: ['email'] });
    expect(stillUser.claims.user_metadata).toMatchObject({ role: 'admin' });
    expect(isAdmin(stillUser)).toBe(false);

    // The service role (auth.admin.updateUserById) makes them one, from their next token on.
    const service = createClient(auth.url, SERVICE_ROLE_KEY, clientOptions);
    const granted = await service.auth.admin.updateUserById(userId, { app_metadata: { role: 'admin' } });
    expect(granted.error).toBeNull();
    expect(isAdmin(await actorOf(refreshed.data.session!.access_token))).toBe(false);
    const signedIn = await createClient(auth.url, ANON_KEY, clientOptions).auth.signInWithPassword({ email, password: PASSWORD });
    const promoted = await actorOf(signedIn.data.session!.access_token);
    expect(promoted.claims.app_metadata).toMatchObject({ role: 'admin' });
    expect(isAdmin(promoted)).toBe(true);
  });
});

describe('the replay button tells the operator what happened, in words', () => {
  it('says what each outcome and error means, never the raw error', () => {
    expect(replaySucceeded({ received: true, eventId: 'evt_1', outcome: 'processed' })).toEqual({
      status: 'success',
      eventId: 'evt_1',
      message: 'Event evt_1 was replayed and processed.',
    });
    expect(replaySucceeded({ received: true, eventId: 'evt_1', outcome: 'duplicate' }).message).toBe(
      'Event evt_1 had already been processed; nothing was done again.',
    );
    expect(replaySucceeded({ received: true, eventId: 'evt_1', outcome: 'ignored' }).message).toBe(
      'Event evt_1 was replayed; it needed no action and is now marked ignored.',
    );
    expect(replayFailed('evt_1', new AppError('not_found', 'Webhook event not found'))).toEqual({
      status: 'error',
      eventId: 'evt_1',
      message: 'Event evt_1 was not found. Reload the page to see the current list.',
    });
    expect(replayFailed('evt_1', new Error('relation "payment_attempts" violates check constraint')).message).toBe(
      'Replaying event evt_1 failed. Its last error in the table below says why; fix the cause, then replay it.',
    );
  });
});
