import Link from 'next/link';
import { redirect } from 'next/navigation';
import { requireUser } from '@/app/_lib/require-user';
import { AppError } from '@/lib/http/errors';
import { paymentDocumentUrl, type PaymentDocument } from '@/lib/payments/documents';
import styles from '../dashboard.module.css';

// Opens a payment's document at Stripe after checking it is the user's; otherwise says why not.
export async function DocumentRedirect({ document, id, returnTo }: { document: PaymentDocument; id: string; returnTo: string }) {
  const { user, db } = await requireUser(returnTo);
  let url: string;
  try {
    url = await paymentDocumentUrl(db, user, document, id);
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return (
      <main>
        <h1>{document === 'receipt' ? 'Receipt not available' : 'Invoice not available'}</h1>
        <p className={styles.notice} role="alert">
          {error.message}
        </p>
        <p>
          <Link href="/billing">Back to the dashboard</Link>
        </p>
      </main>
    );
  }
  redirect(url);
}
