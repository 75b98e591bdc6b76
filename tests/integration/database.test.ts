import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@/lib/db';
import { backends } from '@/tests/helpers/databases';

// The Database interface answers the same on both engines, including pg's rowCount semantics.
describe.each(backends())('Database on $name', (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await backend.open();
    await db.query('create table row_counts (id int primary key)');
  }, 60_000);
  afterAll(async () => db.close());

  it('counts rows returned by a select, and rows changed by a write', async () => {
    expect((await db.query('insert into row_counts values (1), (2), (3)')).rowCount).toBe(3);
    expect((await db.query('select 1 from row_counts where id = $1', [2])).rowCount).toBe(1);
    expect((await db.query('select 1 from row_counts where id = $1', [9])).rowCount).toBe(0);
    expect((await db.query('update row_counts set id = id + 10 where id > $1', [1])).rowCount).toBe(2);
    expect((await db.query('delete from row_counts where id > $1 returning id', [10])).rowCount).toBe(2);
    expect((await db.query('select * from row_counts')).rowCount).toBe(1);
  });
});
