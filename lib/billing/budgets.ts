import { asActor, type Actor } from '@/lib/auth/actor';
import { budgetStateSchema, type BudgetState, type SetBudgetBody } from '@/lib/billing/budget-schemas';
import { bigMicrosToCentsCeil, MICROS_PER_CENT, toBig } from '@/lib/billing/money';
import type { Database } from '@/lib/db';

// The user's monthly budget: a limit on this usage period's usage cost, with in-app alerts when
// committed usage first reaches 80% and 100% of it (once per period each). Budgets belong to the
// user, so a signed-in user's writes go through their own RLS transaction; the alerts are
// written by the system (app_private.evaluate_budget_alerts here, commit_usage on every task).

// The budget and the usage it is judged against, as the SQL functions return them (usage as
// text: a period's usage can pass 2^53 micro-dollars).
interface BudgetRow {
  monthly_budget_cents: number | null;
  used_micros: string;
  period_start: Date;
  period_end: Date;
}

/** `warning` from 80% of the budget (used x 5 >= budget x 4, exact in integers), `exceeded` from 100%. */
function alertState(budgetCents: number | null, usedMicros: bigint): BudgetState['alertState'] {
  if (budgetCents === null) return 'ok';
  const budgetMicros = BigInt(budgetCents * MICROS_PER_CENT);
  if (usedMicros >= budgetMicros) return 'exceeded';
  return usedMicros * 5n >= budgetMicros * 4n ? 'warning' : 'ok';
}

function budgetState(row: BudgetRow): BudgetState {
  const budgetCents = row.monthly_budget_cents;
  const used = toBig(row.used_micros);
  return budgetStateSchema.parse({
    monthlyBudgetCents: budgetCents,
    usageCents: Number(bigMicrosToCentsCeil(used)),
    percentUsed: budgetCents === null ? null : Math.round((Number(used) / (budgetCents * MICROS_PER_CENT)) * 1000) / 10,
    alertState: alertState(budgetCents, used),
    periodStart: row.period_start.toISOString(),
    periodEnd: row.period_end.toISOString(),
  });
}

function onlyRow(rows: BudgetRow[], source: string): BudgetRow {
  const row = rows[0];
  if (!row) throw new Error(`${source} returned no row`);
  return row;
}

/** The actor's budget against the usage of the period in force (read-only). */
export async function getBudget(db: Database, actor: Actor): Promise<BudgetState> {
  const { rows } = await asActor(db, actor, (tx) =>
    tx.query<BudgetRow>(
      `select b.monthly_budget_cents, s.used_micros::text, s.period_start, s.period_end
       from app_private.usage_snapshot($1) s left join public.budgets b on b.user_id = $1`,
      [actor.userId],
    ),
  );
  return budgetState(onlyRow(rows, 'usage_snapshot'));
}

/** Sets (or changes) the budget; alerts at once when usage has already reached 80% or 100% of it. */
export async function setBudget(db: Database, actor: Actor, body: SetBudgetBody): Promise<BudgetState> {
  await asActor(db, actor, (tx) =>
    tx.query(
      `insert into public.budgets (user_id, monthly_budget_cents) values ($1, $2)
       on conflict (user_id) do update set monthly_budget_cents = excluded.monthly_budget_cents`,
      [actor.userId, body.monthlyBudget],
    ),
  );
  const { rows } = await db.query<BudgetRow>(
    'select monthly_budget_cents, used_micros::text, period_start, period_end from app_private.evaluate_budget_alerts($1)',
    [actor.userId],
  );
  return budgetState(onlyRow(rows, 'evaluate_budget_alerts'));
}

/** Removes the budget (and with it further alerts); alerts already sent stay. */
export async function clearBudget(db: Database, actor: Actor): Promise<BudgetState> {
  await asActor(db, actor, (tx) => tx.query('delete from public.budgets where user_id = $1', [actor.userId]));
  return getBudget(db, actor);
}
