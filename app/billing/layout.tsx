import Link from 'next/link';
import type { ReactNode } from 'react';
import { SignOutForm } from '@/app/_components/sign-out-form';
import styles from './billing.module.css';

// The billing area's frame: where you are, and the way to the other billing pages.
export default function BillingLayout({ children }: { children: ReactNode }) {
  return (
    <div className={styles.frame}>
      <header className={styles.header}>
        <nav aria-label="Billing" className={styles.nav}>
          <Link href="/billing">Dashboard</Link>
          <Link href="/billing/plans">Plans</Link>
          <Link href="/billing/checkout">Add credit</Link>
          <Link href="/billing/payment-methods">Payment methods</Link>
        </nav>
        <SignOutForm />
      </header>
      {children}
    </div>
  );
}
