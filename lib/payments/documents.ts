import { asActor, type Actor } from '@/lib/auth/actor';
import type { Database } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { stripe } from '@/lib/stripe/client';
import { stripeCall } from '@/lib/stripe/errors';

// The documents Stripe keeps for a payment: an invoice's hosted page and PDF, a top-up charge's
// receipt. Ownership is checked first, as the user through RLS, so nobody learns anything about
// an invoice or a payment that is not theirs (not even whether it exists); only then is Stripe
// asked for the document's current URL. Nothing is stored: Stripe's links can change or expire.

export type PaymentDocument = 'invoice_page' | 'invoice_pdf' | 'receipt';

const ID_PATTERN = { invoice: /^in_[A-Za-z0-9_]{1,250}$/, payment: /^pi_[A-Za-z0-9_]{1,250}$/ } as const;

function webUrl(value: string | null | undefined): string | null {
  if (!value) return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : null;
  } catch {
    return null;
  }
}

/** Where the user can read the document, or an AppError in words (404 when it is not theirs). */
export async function paymentDocumentUrl(db: Database, actor: Actor, document: PaymentDocument, id: string): Promise<string> {
  if (document === 'receipt') {
    if (!ID_PATTERN.payment.test(id)) throw new AppError('not_found', 'You have no payment with that id');
    const owned = await asActor(db, actor, (tx) =>
      tx.query<{ status: string }>(`select status from public.payment_attempts where user_id = $1 and payment_intent_id = $2`, [
        actor.userId,
        id,
      ]),
    );
    const payment = owned.rows[0];
    if (!payment) throw new AppError('not_found', 'You have no payment with that id');
    if (payment.status !== 'succeeded')
      throw new AppError('unprocessable', 'This payment did not go through, so there is no receipt for it');
    const intent = await stripeCall(() => stripe().paymentIntents.retrieve(id, { expand: ['latest_charge'] }));
    const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
    const url = webUrl(charge?.receipt_url);
    if (!url) throw new AppError('not_found', 'Stripe has no receipt for this payment yet. Please try again in a minute.');
    return url;
  }
  if (!ID_PATTERN.invoice.test(id)) throw new AppError('not_found', 'You have no invoice with that id');
  const owned = await asActor(db, actor, (tx) =>
    tx.query<{ status: string }>(`select status from public.invoices where user_id = $1 and id = $2`, [actor.userId, id]),
  );
  if (!owned.rows[0]) throw new AppError('not_found', 'You have no invoice with that id');
  const invoice = await stripeCall(() => stripe().invoices.retrieve(id));
  const url = webUrl(document === 'invoice_pdf' ? invoice.invoice_pdf : invoice.hosted_invoice_url);
  if (!url) {
    throw new AppError(
      'not_found',
      invoice.status === 'draft'
        ? 'This invoice is still a draft; it can be opened once it is finalized.'
        : 'Stripe has no document for this invoice.',
    );
  }
  return url;
}
