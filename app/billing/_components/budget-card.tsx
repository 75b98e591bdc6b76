import type { BudgetState } from '@/lib/billing/budget-schemas';
import { dollars } from '@/app/_lib/format';
import { clearBudgetAction, setBudgetAction } from '../actions';
import styles from '../dashboard.module.css';

const STATE_TEXT = { ok: 'Within budget', warning: 'Over 80% of your budget', exceeded: 'Budget reached' } as const;
const STATE_TONE = { ok: styles.ok, warning: styles.warn, exceeded: styles.bad } as const;

// The user's monthly budget against this period's usage, its alert state in words, and the form
// to set or remove it (a warning, not a cap: tasks still run up to the allowance).
export function BudgetCard({ budget, problem }: { budget: BudgetState; problem: string | null }) {
  return (
    <section className={styles.card} aria-labelledby="budget-heading" id="budget">
      <h2 id="budget-heading">Budget</h2>
      {budget.monthlyBudgetCents !== null ? (
        <>
          <p className={styles.big}>
            {dollars(budget.usageCents)}{' '}
            <span className={styles.muted} style={{ fontSize: '1rem', fontWeight: 400 }}>
              of {dollars(budget.monthlyBudgetCents)}
            </span>
          </p>
          <p>
            <span className={`${styles.badge} ${STATE_TONE[budget.alertState]}`} data-testid="budget-state">
              {STATE_TEXT[budget.alertState]}
            </span>{' '}
            {budget.percentUsed}% used
          </p>
        </>
      ) : (
        <p className={styles.muted}>No budget set. Set one to be alerted at 80% and 100% of it.</p>
      )}
      <form action={setBudgetAction} className={styles.inline}>
        <label>
          Monthly budget in US dollars
          <input
            name="monthlyBudget"
            type="number"
            inputMode="decimal"
            min="1"
            max="1000000"
            step="0.01"
            required
            aria-invalid={problem !== null}
            aria-describedby={problem ? 'budget-error' : undefined}
            defaultValue={budget.monthlyBudgetCents !== null ? (budget.monthlyBudgetCents / 100).toFixed(2) : ''}
          />
        </label>
        <button type="submit">{budget.monthlyBudgetCents !== null ? 'Update budget' : 'Set budget'}</button>
      </form>
      {budget.monthlyBudgetCents !== null ? (
        <form action={clearBudgetAction} className={styles.inline} style={{ marginTop: '.5rem' }}>
          <button type="submit" className={styles.secondary}>
            Remove budget
          </button>
        </form>
      ) : null}
      {problem ? (
        <p className="error" role="alert" id="budget-error">
          {problem}
        </p>
      ) : null}
    </section>
  );
}
