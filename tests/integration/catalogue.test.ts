import { randomInt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskCostMicros } from '@/lib/billing/cost';
import { PLANS } from '@/lib/billing/plans';
import type { Database } from '@/lib/db';
import { migrate } from '@/lib/db/migrate';
import { backends } from '@/tests/helpers/databases';

describe.each(backends())('catalogue and migrations on $name', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await backend.open();
  }, 60_000);
  afterAll(async () => db.close());

  it('seeds the same plans as lib/billing/plans.ts', async () => {
    const { rows } = await db.query(
      'select id, name, allowance_micros, token_rate_micros, minute_rate_micros from plans order by sort_order',
    );
    expect(rows).toEqual(
      Object.values(PLANS).map((plan) => ({
        id: plan.id,
        name: plan.name,
        allowance_micros: plan.allowanceMicros,
        token_rate_micros: plan.tokenRateMicros,
        minute_rate_micros: plan.minuteRateMicros,
      })),
    );
  });

  it('computes task cost in SQL exactly as in TypeScript', async () => {
    const samples = Array.from({ length: 200 }, () => [randomInt(0, 1_000_000), randomInt(0, 86_400_000)] as const);
    for (const plan of Object.values(PLANS)) {
      const { rows } = await db.query<{ cost: number }>(
        `select app_private.task_cost_micros(t.tokens, t.ms, $3, $4) as cost
         from unnest($1::bigint[], $2::bigint[]) with ordinality as t(tokens, ms, n) order by n`,
        [samples.map(([tokens]) => tokens), samples.map(([, ms]) => ms), plan.tokenRateMicros, plan.minuteRateMicros],
      );
      expect(rows.map((row) => row.cost)).toEqual(samples.map(([tokens, ms]) => taskCostMicros(plan, tokens, ms)));
    }
  });

  it('applies each migration once: running the migrator again changes nothing', async () => {
    expect(await migrate(db)).toEqual([]);
    const { rows } = await db.query<{ version: string }>('select version from supabase_migrations.schema_migrations order by version');
    const files = readdirSync('supabase/migrations').filter((name) => name.endsWith('.sql'));
    expect(files.length).toBeGreaterThan(2);
    expect(rows.map((row) => row.version)).toEqual(files.map((name) => name.split('_')[0]).sort());
  });

  it('refuses a database migrated with migrations that were squashed away, saying how to recover', async () => {
    await db.query("insert into supabase_migrations.schema_migrations (version, name) values ('20261125000000', 'foundation')");
    try {
      await expect(migrate(db)).rejects.toThrow(/no longer exist \(20261125000000\).*PGLITE_DATA_DIR/);
    } finally {
      await db.query("delete from supabase_migrations.schema_migrations where version = '20261125000000'");
    }
  });

  it('defines each SQL function once in the baseline (later migrations redefine one and say why)', () => {
    const names = readdirSync('supabase/migrations')
      .filter((name) => name.endsWith('.sql') && name < '20261201100000')
      .flatMap((name) => [...readFileSync(`supabase/migrations/${name}`, 'utf8').matchAll(/create (?:or replace )?function\s+([\w.]+)/gi)])
      .map((match) => match[1]!.toLowerCase());
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((name, index) => names.indexOf(name) !== index)).toEqual([]);
  });

  it('keeps the ledgers append-only, even for the system', async () => {
    await db.query("insert into users (id, email) values ('00000000-0000-4000-8000-000000000001', 'l@example.test')");
    await db.query("select * from app_private.commit_usage('00000000-0000-4000-8000-000000000001', null, 'a', 1, 0, 'k')");
    await expect(db.query('update usage_events set cost_micros = 0')).rejects.toMatchObject({ code: '42501' });
    await expect(db.query('delete from usage_events')).rejects.toMatchObject({ code: '42501' });
  });
});
