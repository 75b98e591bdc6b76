import Link from 'next/link';
import { notFound } from 'next/navigation';
import { z } from 'zod';
import { dollars } from '@/app/_lib/format';
import { describePaymentError } from '@/app/_lib/payment-errors';
import { requireUser } from '@/app/_lib/require-user';
import { isAppError } from '@/lib/http/errors';
import { getPaymentOutcome } from '@/lib/payments/payment-intents';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Payment' };

// Stripe's return_url: after a redirect (3-D Secure) Stripe sends the user here with
// ?payment_intent=pi_…; the outcome is read from Stripe on the server, never from the URL.
const querySchema = z.object({ payment_intent: z.string().regex(/^pi_[A-Za-z0-9_]+$/) });

export default async function PaymentSuccessPage({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const params = await searchParams;
  const query = querySchema.safeParse(params);
  const { user, db } = await requireUser(query.success ? `/payment-success?payment_intent=${query.data.payment_intent}` : '/billing');
  if (!query.success) notFound();
  let outcome;
  try {
    outcome = await getPaymentOutcome(db, user.userId, query.data.payment_intent);
  } catch (error) {
    if (isAppError(error) && error.code === 'not_found') notFound();
    if (isAppError(error) && error.status >= 500) {
      return (
        <main>
          <h1>We could not check your payment yet</h1>
          <p>Payments are unavailable right now. Your dashboard will show the payment once it is recorded.</p>
          <Link href="/billing">Go to your billing dashboard</Link>
        </main>
      );
    }
    throw error;
  }

  if (outcome.status === 'succeeded') {
    return (
      <main>
        <h1>Payment received</h1>
        <p data-testid="payment-outcome">
          Thank you: {dollars(outcome.amountCents)} was paid. It shows on your dashboard within a few seconds.
        </p>
        <Link href="/billing">Go to your billing dashboard</Link>
      </main>
    );
  }
  if (outcome.status === 'processing') {
    return (
      <main>
        <h1>Payment processing</h1>
        <p data-testid="payment-outcome">
          Your bank is still processing the payment of {dollars(outcome.amountCents)}. We will update your dashboard when it completes.
        </p>
        <Link href="/billing">Go to your billing dashboard</Link>
      </main>
    );
  }
  return (
    <main>
      <h1>The payment did not go through</h1>
      <p data-testid="payment-outcome">
        {outcome.failureCode
          ? describePaymentError({ code: outcome.failureCode })
          : 'The payment was not completed, so nothing was charged.'}
      </p>
      {/* A top-up is paid again on the checkout page; a subscription's first payment from the plans page. */}
      <Link href={outcome.topUp ? `/billing/checkout?paymentIntent=${outcome.intentId}` : '/billing/plans'}>Try again</Link>
    </main>
  );
}
