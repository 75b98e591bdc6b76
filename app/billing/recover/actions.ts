'use server';

import { revalidatePath } from 'next/cache';
import { redirect } from 'next/navigation';
import { currentUser } from '@/app/_lib/session';
import { getDatabase } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { payPastDueBodySchema } from '@/lib/payments/payment-method-schemas';
import { payPastDueInvoice, waitForRecovery, getPastDue } from '@/lib/payments/recovery';
import type { RecoverErrorCode } from './messages';

// "Update card and pay": pay the past-due invoice with a saved card (a form) or with the card
// just added (from the browser), then wait for the webhook to make the plan active again.

const PAGE = '/billing/recover';

async function signedIn() {
  const user = await currentUser();
  if (!user) redirect(`/sign-in?next=${encodeURIComponent(PAGE)}`);
  return user;
}

function codeOf(error: unknown): RecoverErrorCode {
  if (!(error instanceof AppError)) throw error;
  if (error.code === 'unprocessable') {
    const declineCode = (error.details as { declineCode?: string | null } | undefined)?.declineCode;
    if (declineCode === 'authentication_required') return 'needs-authentication';
    return declineCode === 'insufficient_funds' ? 'insufficient-funds' : 'declined';
  }
  if (error.code === 'not_found') return error.message.startsWith('That card') ? 'not-yours' : 'nothing-owed';
  if (error.status >= 500) return 'unavailable';
  return 'not-possible';
}

/** Pays, waits for the webhook, and answers where to go: the dashboard, recovered (or pending). */
async function pay(input: {
  invoiceId: unknown;
  paymentMethodId: unknown;
}): Promise<{ ok: true; href: string } | { ok: false; error: RecoverErrorCode }> {
  const user = await signedIn();
  const parsed = payPastDueBodySchema.safeParse(input);
  if (!parsed.success) return { ok: false, error: input.paymentMethodId ? 'not-yours' : 'choose-card' };
  const db = await getDatabase();
  try {
    const pastDue = await getPastDue(db, user);
    const result = await payPastDueInvoice(db, user, parsed.data);
    const recovered = result.status === 'paid' && pastDue ? await waitForRecovery(db, user, pastDue.subscriptionId) : false;
    revalidatePath('/billing');
    return { ok: true, href: recovered ? '/billing?recovered=1' : '/billing?paid=pending' };
  } catch (error) {
    return { ok: false, error: codeOf(error) };
  }
}

export async function payWithSavedCardAction(form: FormData): Promise<void> {
  const result = await pay({ invoiceId: form.get('invoiceId'), paymentMethodId: form.get('paymentMethodId') });
  redirect(result.ok ? result.href : `${PAGE}?error=${result.error}`);
}

export async function payWithNewCardAction(input: { invoiceId: string; paymentMethodId: string }) {
  return pay(input);
}
