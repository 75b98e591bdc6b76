import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database, Queryable } from '@/lib/db';
import { backends } from '@/tests/helpers/databases';
import { subscribe } from '@/tests/helpers/subscriptions';
import { createUser } from '@/tests/helpers/users';

// The RLS matrix: signed in as user A (role authenticated, claims set, as the app and PostgREST
// do), by direct SQL, A can read, insert, update and delete none of user B's rows in any table.

type Users = { a: Awaited<ReturnType<typeof createUser>>; b: Awaited<ReturnType<typeof createUser>> };

// How to find B's rows in each table, and a row A might try to insert for B.
const TABLES: Record<string, { owner: string; insertForB: (b: string) => [string, unknown[]] }> = {
  users: { owner: 'id', insertForB: () => ['insert into users (id, email) values ($1, $2)', [randomUUID(), 'x@example.test']] },
  subscriptions: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end) values ('sub_forged', $1, 'enterprise', 'active', now(), now() + interval '1 month')",
      [b],
    ],
  },
  user_usage: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into user_usage (user_id, period_start, period_end, plan_id, allowance_micros) values ($1, now() - interval '1 year', now(), 'starter', 1)",
      [b],
    ],
  },
  usage_reservations: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into usage_reservations (user_id, period_start, amount_micros, idempotency_key, expires_at, plan_id, token_rate_micros, minute_rate_micros) values ($1, now(), 1, 'forged', now() + interval '1 hour', 'starter', 0, 0)",
      [b],
    ],
  },
  usage_events: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into usage_events (user_id, period_start, agent, tokens, execution_ms, plan_id, token_rate_micros, minute_rate_micros, cost_micros, idempotency_key) values ($1, now(), 'a', 1, 0, 'starter', 1, 1, 1, 'forged')",
      [b],
    ],
  },
  credit_grants: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into credit_grants (user_id, amount_micros, source, source_id, purchased_at, expires_at, left_micros) values ($1, 100000000, 'manual', 'forged', now(), now() + interval '1 year', 100000000)",
      [b],
    ],
  },
  credit_accounts: {
    owner: 'user_id',
    insertForB: (b) => [
      'insert into credit_accounts (user_id, owed_micros) values ($1, 0) on conflict (user_id) do update set owed_micros = 0',
      [b],
    ],
  },
  credit_movements: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into credit_movements (user_id, kind, owed_micros, reference) values ($1, 'owed_paid', -1000000, 'forged')",
      [b],
    ],
  },
  charge_refunds: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into charge_refunds (user_id, charge_id, kind, amount_cents, currency, total_cents) values ($1, 'ch_forged', 'subscription', 1, 'usd', 1)",
      [b],
    ],
  },
  disputes: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into disputes (id, user_id, charge_id, kind, amount_cents, currency, status, opened_at) values ('du_forged', $1, 'ch_forged', 'subscription', 1, 'usd', 'won', now())",
      [b],
    ],
  },
  payment_attempts: {
    owner: 'user_id',
    insertForB: (b) => ["insert into payment_attempts (user_id, amount_cents, status) values ($1, 100, 'succeeded')", [b]],
  },
  webhook_events: {
    owner: "payload->>'user'",
    insertForB: () => ["insert into webhook_events (id, type, stripe_created, payload) values ('evt_forged', 'x', now(), '{}')", []],
  },
  budgets: { owner: 'user_id', insertForB: (b) => ['insert into budgets (user_id, monthly_budget_cents) values ($1, 100)', [b]] },
  notifications: {
    owner: 'user_id',
    insertForB: (b) => ["insert into notifications (user_id, kind, title, body, dedupe_key) values ($1, 'x', 'x', 'x', 'forged')", [b]],
  },
  invoices: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into invoices (id, user_id, status, amount_due_cents, amount_paid_cents, stripe_created) values ('in_forged', $1, 'paid', 100, 100, now())",
      [b],
    ],
  },
  rate_limits: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into rate_limits (user_id, action, window_start, hits) values ($1, 'payment_intent', now() + interval '1 day', 1000)",
      [b],
    ],
  },
  subscription_requests: {
    owner: 'user_id',
    insertForB: (b) => [
      "insert into subscription_requests (user_id, token, plan_id, expires_at) values ($1, gen_random_uuid(), 'pro', now() + interval '1 day')",
      [b],
    ],
  },
  address_rate_limits: {
    owner: 'address',
    insertForB: (b) => [
      "insert into address_rate_limits (address, action, window_start, hits) values ($1, 'sign_up', now() + interval '1 day', 1000)",
      [b],
    ],
  },
  task_runner_keys: {
    owner: 'created_by',
    insertForB: (b) => [
      "insert into task_runner_keys (name, key_prefix, key_sha256, created_by) values ('forged', 'trk_', encode(sha256(convert_to($1, 'utf8')), 'hex'), $1)",
      [b],
    ],
  },
  auto_recharge_settings: {
    owner: 'user_id',
    insertForB: (b) => [
      'insert into auto_recharge_settings (user_id, enabled, threshold_cents, amount_cents, monthly_cap_cents) values ($1, true, 100000, 1000000, 10000000)',
      [b],
    ],
  },
  auto_recharges: {
    owner: 'user_id',
    insertForB: (b) => ["insert into auto_recharges (user_id, amount_cents, cap_month) values ($1, 1000000, '2026-12-01')", [b]],
  },
  audit_log: {
    owner: 'user_id',
    insertForB: (b) => ["insert into audit_log (user_id, actor, action, entity_type, entity_id) values ($1, 'x', 'x', 'x', 'x')", [b]],
  },
};

async function seedRowsOf(db: Database, userId: string) {
  await subscribe(db, userId, 'pro');
  await db.query("select * from app_private.reserve_usage($1, 1000, 'seed', 900)", [userId]);
  await db.query("select * from app_private.commit_usage($1, null, 'seed', 1, 0, 'seed')", [userId]);
  await db.query("select * from app_private.grant_credit($1, 5000000, 'payment_intent', $2, 'seed')", [userId, `pi_${userId}`]);
  await db.query('insert into payment_attempts (user_id, amount_cents, payment_intent_id) values ($1, 500, $2)', [userId, `pi_${userId}`]);
  // $5.50 beyond the allowance: the $5 grant, then $0.50 owed; a $1 refund of the top-up; a dispute.
  await db.query("select app_private.consume_credits($1, 5500000, 'seed')", [userId]);
  await db.query("select * from app_private.record_charge_refund($1, $2, $3, null, 100, 'usd', 'seed')", [
    `ch_${userId}`,
    `pi_${userId}`,
    userId,
  ]);
  await db.query("select * from app_private.record_dispute($1, $2, $3, $4, null, 100, 'usd', 'open', now(), 'seed')", [
    `du_${userId}`,
    `ch_${userId}`,
    `pi_${userId}`,
    userId,
  ]);
  await db.query("insert into webhook_events (id, type, stripe_created, payload) values ($1, 'payment_intent.succeeded', now(), $2)", [
    `evt_${userId}`,
    JSON.stringify({ user: userId }),
  ]);
  await db.query('insert into budgets (user_id, monthly_budget_cents) values ($1, 2000)', [userId]);
  await db.query("insert into notifications (user_id, kind, title, body, dedupe_key) values ($1, 'budget', 't', 'b', 'k')", [userId]);
  await db.query(
    "insert into invoices (id, user_id, status, amount_due_cents, amount_paid_cents, stripe_created) values ($1, $2, 'paid', 5000, 5000, now())",
    [`in_${userId}`, userId],
  );
  await db.query("select * from app_private.hit_rate_limit($1, 'payment_intent', 600, 10)", [userId]);
  await db.query("insert into subscription_requests (user_id, token, plan_id, expires_at) values ($1, gen_random_uuid(), 'pro', now())", [
    userId,
  ]);
  await db.query("select * from app_private.hit_address_rate_limit($1, 'sign_up', 3600, 10)", [userId]);
  await db.query(
    "insert into task_runner_keys (name, key_prefix, key_sha256, created_by) values ('seed', 'trk_', encode(sha256(convert_to($1, 'utf8')), 'hex'), $1)",
    [userId],
  );
  await db.query(
    'insert into auto_recharge_settings (user_id, enabled, threshold_cents, amount_cents, monthly_cap_cents) values ($1, true, 500, 500, 1000)',
    [userId],
  );
  await db.query("insert into auto_recharges (user_id, amount_cents, cap_month, status) values ($1, 500, '2026-12-01', 'succeeded')", [
    userId,
  ]);
}

/** Runs one statement as the user; a refusal by the database counts as "changed nothing". */
async function attempt(db: Database, users: Users, sql: string, values: unknown[]) {
  try {
    return await db.userTransaction(users.a.claims, async (tx: Queryable) => (await tx.query(sql, values)).rowCount ?? 0);
  } catch (error) {
    return `refused (${(error as { code?: string }).code})`;
  }
}

describe.each(backends())('row level security on $name', (backend) => {
  let db: Database;
  let users: Users;
  const counts = async () =>
    Object.fromEntries(
      await Promise.all(
        Object.entries(TABLES).map(async ([table, { owner }]) => {
          const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from ${table} where (${owner})::text = $1`, [
            users.b.userId,
          ]);
          return [table, rows[0]?.n ?? 0] as const;
        }),
      ),
    );

  beforeAll(async () => {
    db = await backend.open();
    users = { a: await createUser(db), b: await createUser(db) };
    await seedRowsOf(db, users.a.userId);
    await seedRowsOf(db, users.b.userId);
  }, 60_000);
  afterAll(async () => db.close());

  it('covers every table of the public schema, each with RLS enabled', async () => {
    const { rows } = await db.query<{ relname: string; relrowsecurity: boolean }>(
      "select relname, relrowsecurity from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' order by relname",
    );
    expect(rows.map((row) => row.relname).sort()).toEqual(Object.keys(TABLES).concat('plans').sort());
    expect(rows.filter((row) => !row.relrowsecurity)).toEqual([]);
  });

  it("seeded B's rows in every table (the matrix below is not vacuous)", async () => {
    const before = await counts();
    for (const [table, n] of Object.entries(before)) expect(n, table).toBeGreaterThan(0);
  });

  it.each(Object.keys(TABLES))("lets A read none of B's rows in %s, but A's own where users may read", async (table) => {
    const owner = TABLES[table]!.owner;
    const seen = await db
      .userTransaction(users.a.claims, async (tx) => {
        const theirs = await tx.query(`select * from ${table} where (${owner})::text = $1`, [users.b.userId]);
        const all = await tx.query(`select * from ${table}`);
        return { theirs: theirs.rowCount, all: all.rows };
      })
      .catch((error: { code?: string }) => {
        // Operator-only tables are not even granted to users: the read itself is refused.
        expect(error.code).toBe('42501');
        return { theirs: 0, all: [] };
      });
    expect(seen.theirs).toBe(0);
    for (const row of seen.all) expect(String(row[owner === 'id' ? 'id' : 'user_id'])).toBe(users.a.userId);
    if (!['webhook_events', 'audit_log', 'rate_limits', 'address_rate_limits', 'subscription_requests', 'task_runner_keys'].includes(table))
      expect(seen.all.length).toBeGreaterThan(0);
  });

  it.each(Object.keys(TABLES))("lets A insert, update or delete none of B's rows in %s", async (table) => {
    const { owner, insertForB } = TABLES[table]!;
    const before = await counts();
    const [insertSql, insertValues] = insertForB(users.b.userId);
    const results = {
      insert: await attempt(db, users, insertSql, insertValues),
      update: await attempt(db, users, `update ${table} set created_at = created_at where (${owner})::text = $1`, [users.b.userId]),
      delete: await attempt(db, users, `delete from ${table} where (${owner})::text = $1`, [users.b.userId]),
    };
    expect(results.insert).toMatch(/^refused/);
    // Update and delete either touch zero rows (RLS hides B's) or are refused outright.
    for (const outcome of [results.update, results.delete]) expect(String(outcome)).toMatch(/^(0|refused)/);
    expect(await counts()).toEqual(before);
  });

  it('keeps A from writing money even to their own rows', async () => {
    const own = users.a.userId;
    const forged = [
      ['update user_usage set used_micros = 0 where user_id = $1', [own]],
      ['update credit_grants set left_micros = amount_micros where user_id = $1', [own]],
      ['update credit_accounts set owed_micros = 0 where user_id = $1', [own]],
      ["insert into credit_movements (user_id, kind, owed_micros, reference) values ($1, 'owed_paid', -1500000, 'mine')", [own]],
      ["update disputes set status = 'won' where user_id = $1", [own]],
      [
        "insert into credit_grants (user_id, amount_micros, source, source_id, purchased_at, expires_at, left_micros) values ($1, 1, 'manual', 'mine', now(), now() + interval '1 year', 1)",
        [own],
      ],
      ["update subscriptions set plan_id = 'enterprise' where user_id = $1", [own]],
      ["update payment_attempts set status = 'succeeded' where user_id = $1", [own]],
      ["update invoices set status = 'paid', amount_paid_cents = 0 where user_id = $1", [own]],
      ['delete from rate_limits where user_id = $1', [own]],
      ['delete from subscription_requests where user_id = $1', [own]],
      ["select * from app_private.start_paid_period('sub_x', now(), now() + interval '1 month', 'me', 'in_x')", []],
      ["select * from app_private.grant_credit($1, 100000000, 'manual', 'self', 'me')", [own]],
      ["select app_private.consume_credits($1, -100000000, 'me')", [own]],
      ["select * from app_private.record_charge_refund('ch_x', 'pi_x', $1, null, 1, 'usd', 'me')", [own]],
      ["select * from app_private.settle_top_up('pi_self', $1, null, 100000, 100000, now(), 'me')", [own]],
    ] as const;
    for (const [sql, values] of forged) expect(await attempt(db, users, sql, [...values])).toMatch(/^refused/);
    const money = await db.query(
      `select (select left_micros from credit_grants where user_id = $1) as left_micros,
              (select owed_micros from credit_accounts where user_id = $1) as owed_micros`,
      [own],
    );
    expect(money.rows).toEqual([{ left_micros: 0, owed_micros: 1_500_000 }]);
  });

  it('lets A set their own budget and mark their own notifications read, and nothing of B', async () => {
    expect(await attempt(db, users, 'update budgets set monthly_budget_cents = 5000 where user_id = $1', [users.a.userId])).toBe(1);
    expect(await attempt(db, users, 'update notifications set read_at = now() where user_id = $1', [users.a.userId])).toBe(1);
    expect(await attempt(db, users, "update notifications set title = 'forged' where user_id = $1", [users.a.userId])).toMatch(/^refused/);
    expect(await attempt(db, users, 'update budgets set monthly_budget_cents = 1 where user_id = $1', [users.b.userId])).toBe(0);
    const { rows } = await db.query('select monthly_budget_cents from budgets where user_id = $1', [users.b.userId]);
    expect(rows).toEqual([{ monthly_budget_cents: 2000 }]);
  });
});
