import Link from 'next/link';
import { notFound } from 'next/navigation';
import { z } from 'zod';
import { dollars } from '@/app/_lib/format';
import { publicConfig } from '@/app/_lib/public-config';
import { requireUser } from '@/app/_lib/require-user';
import { PLANS } from '@/lib/billing/plans';
import { isAppError } from '@/lib/http/errors';
import { getTopUpForCheckout } from '@/lib/payments/payment-intents';
import { getSubscriptionForCheckout } from '@/lib/payments/subscriptions';
import { startTopUpAction } from './actions';
import { CheckoutForm } from './checkout-form';
import { TopUpStart } from './top-up-start';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Checkout' };

const checkoutQuerySchema = z.object({
  paymentIntent: z
    .string()
    .regex(/^pi_[A-Za-z0-9_]+$/)
    .optional(),
  subscription: z
    .string()
    .regex(/^sub_[A-Za-z0-9_]+$/)
    .optional(),
  reason: z.enum(['usage-limit']).optional(),
  amount: z
    .string()
    .regex(/^\d{1,5}(\.\d{1,2})?$/)
    .optional(),
});

function Unavailable({ children }: { children: React.ReactNode }) {
  return (
    <main>
      <h1>Checkout</h1>
      {children}
      <p>
        <Link href="/billing">Back to billing</Link>
      </p>
    </main>
  );
}

/**
 * Reads what the page shows: an unknown id, or someone else's, is a 404; Stripe or the database
 * failing is a page saying so. Rendering stays outside the try (React renders JSX later).
 */
async function load<T>(read: () => Promise<T>): Promise<T | 'unavailable'> {
  try {
    return await read();
  } catch (error) {
    if (isAppError(error) && error.code === 'not_found') notFound();
    if (isAppError(error) && error.status >= 500) return 'unavailable';
    throw error;
  }
}

function PaymentsUnavailable() {
  return (
    <Unavailable>
      <p className="error">Payments are unavailable right now. Please try again in a minute.</p>
    </Unavailable>
  );
}

// Checkout: pay a usage shortfall (a task is blocked), a top-up of any amount, or a new
// subscription's first invoice. Which one comes from the query; each is checked to be the user's.
export default async function CheckoutPage({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const query = checkoutQuerySchema.safeParse(await searchParams);
  // Back here after signing in, with the same (validated) query.
  const returnTo = `/billing/checkout${query.success ? `?${new URLSearchParams(Object.entries(query.data).filter((entry): entry is [string, string] => entry[1] !== undefined))}` : ''}`;
  const { user, db } = await requireUser(returnTo.replace(/\?$/, ''));
  if (!query.success) notFound();
  const publishableKey = publicConfig().stripePublishableKey;

  const { subscription: subscriptionId, paymentIntent: paymentIntentId } = query.data;
  if (subscriptionId) {
    const checkout = await load(() => getSubscriptionForCheckout(db, user.userId, subscriptionId));
    if (checkout === 'unavailable') return <PaymentsUnavailable />;
    if (!checkout.clientSecret) {
      return (
        <Unavailable>
          {checkout.status === 'superseded' ? (
            <p>You chose another plan since, so this subscription can no longer be paid. Nothing was charged for it.</p>
          ) : (
            <p>This subscription needs no payment now (it is {checkout.status.replace('_', ' ')}).</p>
          )}
        </Unavailable>
      );
    }
    return (
      <main>
        <h1>Subscribe to {PLANS[checkout.planId].name}</h1>
        <p>
          {dollars(checkout.amountCents)} today, then every month. Your {PLANS[checkout.planId].name} allowance starts as soon as the
          payment goes through.
        </p>
        <CheckoutForm
          publishableKey={publishableKey}
          target={{
            kind: 'subscription',
            intentId: checkout.clientSecret.split('_secret_')[0]!,
            clientSecret: checkout.clientSecret,
            amountCents: checkout.amountCents,
            planId: checkout.planId,
          }}
        />
      </main>
    );
  }

  if (paymentIntentId) {
    const intent = await load(() => getTopUpForCheckout(db, user.userId, paymentIntentId));
    if (intent === 'unavailable') return <PaymentsUnavailable />;
    if (intent.state !== 'payable') {
      const words = {
        paid: 'This payment has already been made.',
        processing: 'This payment is being processed.',
        canceled: 'This payment was canceled.',
      }[intent.state];
      return (
        <Unavailable>
          <p>{words}</p>
        </Unavailable>
      );
    }
    const blocked = query.data.reason === 'usage-limit';
    return (
      <main>
        <h1>{blocked ? 'Your task needs more allowance' : 'Complete your payment'}</h1>
        {blocked ? (
          <p>
            A task is waiting because your remaining allowance is short. Pay {dollars(intent.amountCents)} to add it as credit and let the
            task run, or <Link href="/billing/plans">upgrade your plan</Link> for a larger monthly allowance.
          </p>
        ) : (
          <p>{dollars(intent.amountCents)} of usage credit, added to this period&apos;s allowance.</p>
        )}
        <CheckoutForm
          publishableKey={publishableKey}
          target={{ kind: 'top-up', intentId: intent.intentId, clientSecret: intent.clientSecret, amountCents: intent.amountCents }}
        />
      </main>
    );
  }

  return (
    <main>
      <h1>Add credit</h1>
      <p>Credit is added to this period&apos;s allowance as soon as the payment goes through.</p>
      <TopUpStart publishableKey={publishableKey} start={startTopUpAction} initialAmount={query.data.amount ?? '10.00'} />
    </main>
  );
}
