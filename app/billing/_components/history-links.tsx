import Link from 'next/link';
import type { HistoryEntry } from '@/lib/payments/billing';

// The documents behind a payment-history row: an invoice's hosted page and PDF, a top-up's
// receipt, and the tasks the payment was for. Our own routes check the row is the user's
// (RLS) and then send them to Stripe's current URL, so no Stripe link is stored or goes stale.
export function HistoryLinks({ entry }: { entry: HistoryEntry }) {
  const id = encodeURIComponent(entry.id);
  if (entry.kind === 'invoice') {
    const finalized = entry.status !== 'draft';
    return (
      <span style={{ display: 'flex', gap: '.6rem', flexWrap: 'wrap', fontSize: '.9rem' }}>
        {finalized ? (
          <>
            <a href={`/billing/invoices/${id}`} aria-label={`Invoice of ${entry.createdAt.slice(0, 10)}`}>
              Invoice
            </a>
            <a href={`/billing/invoices/${id}/pdf`} aria-label={`Invoice PDF of ${entry.createdAt.slice(0, 10)}`}>
              PDF
            </a>
          </>
        ) : null}
        <Link href={`/billing/tasks?payment=${id}`} aria-label={`Tasks behind the invoice of ${entry.createdAt.slice(0, 10)}`}>
          Tasks
        </Link>
      </span>
    );
  }
  // A payment still waiting (a task's shortfall, a top-up left half-way): the way to pay it is here,
  // so the user does not have to find the notification or start a second top-up.
  if (entry.status === 'pending' && entry.id.startsWith('pi_')) {
    return (
      <span style={{ display: 'flex', gap: '.6rem', flexWrap: 'wrap', fontSize: '.9rem' }}>
        <Link href={`/billing/checkout?paymentIntent=${id}`} aria-label={`Pay the ${entry.createdAt.slice(0, 10)} payment now`}>
          Pay now
        </Link>
      </span>
    );
  }
  if (entry.status !== 'succeeded' || !entry.id.startsWith('pi_')) return null;
  return (
    <span style={{ display: 'flex', gap: '.6rem', flexWrap: 'wrap', fontSize: '.9rem' }}>
      <a href={`/billing/receipts/${id}`} aria-label={`Receipt of the top-up of ${entry.createdAt.slice(0, 10)}`}>
        Receipt
      </a>
      <Link href={`/billing/tasks?payment=${id}`} aria-label={`Tasks behind the top-up of ${entry.createdAt.slice(0, 10)}`}>
        Tasks
      </Link>
    </span>
  );
}
