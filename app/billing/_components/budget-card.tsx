import type { UserAnalytics } from '@/lib/analytics/schemas';
import { dollars } from '@/app/_lib/format';
import styles from '../dashboard.module.css';

const STATE_TEXT = { ok: 'Within budget', warning: 'Over 80% of your budget', exceeded: 'Budget reached' } as const;
const STATE_TONE = { ok: styles.ok, warning: styles.warn, exceeded: styles.bad } as const;

// The user's monthly budget against this period's usage, with its alert state in words.
export function BudgetCard({ budget }: { budget: UserAnalytics['budget'] }) {
  return (
    <section className={styles.card} aria-labelledby="budget-heading">
      <h2 id="budget-heading">Budget</h2>
      {budget ? (
        <>
          <p className={styles.big}>
            {dollars(budget.spentCents)} <span className={styles.muted} style={{ fontSize: '1rem', fontWeight: 400 }}>of {dollars(budget.monthlyBudgetCents)}</span>
          </p>
          <p>
            <span className={`${styles.badge} ${STATE_TONE[budget.status]}`} data-testid="budget-state">
              {STATE_TEXT[budget.status]}
            </span>{' '}
            {Math.round(budget.percentUsed)}% used
          </p>
        </>
      ) : (
        <p className={styles.muted}>No budget set. Set one to be alerted at 80% and 100% of it.</p>
      )}
    </section>
  );
}
