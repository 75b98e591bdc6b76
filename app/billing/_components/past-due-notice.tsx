import Link from 'next/link';
import { day, dollars } from '@/app/_lib/format';
import type { PastDue } from '@/lib/payments/recovery';
import styles from '../dashboard.module.css';

// A failed renewal, said plainly, with the one thing to do about it.
export function PastDueNotice({ pastDue }: { pastDue: PastDue }) {
  return (
    <section className={styles.notice} aria-labelledby="past-due-heading" data-testid="past-due">
      <h2 id="past-due-heading" style={{ fontSize: '1.1rem', margin: 0 }}>
        Your payment failed: your {pastDue.planName} plan is past due
      </h2>
      <p>
        We could not charge <strong>{dollars(pastDue.amountDueCents)}</strong> for your renewal.{' '}
        {pastDue.nextRetryAt ? <>We will try again automatically on {day(pastDue.nextRetryAt)}. </> : null}
        Until it is paid, your tasks can use what is left of your last paid period; paying starts your new allowance at once.
      </p>
      <p>
        <Link className={styles.button} href="/billing/recover">
          Update card and pay
        </Link>
      </p>
    </section>
  );
}
