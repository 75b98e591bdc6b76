'use client';

import { loadStripe, type Stripe } from '@stripe/stripe-js';
import { useRouter } from 'next/navigation';
import { useRef, useState } from 'react';
import { dollars } from '@/app/_lib/format';
import { AUTO_RECHARGE_ERRORS, type AutoRechargeErrorCode } from './messages';

// Confirms a held-back auto-recharge on-session with the card it was charged to: Stripe.js runs
// the bank's challenge (the stand-in's, locally) and pays the same PaymentIntent, so the credit
// lands through the same webhook as any top-up and nothing can be paid twice.

const stripes = new Map<string, Promise<Stripe | null>>();
const stripeFor = (publishableKey: string) => {
  if (!stripes.has(publishableKey)) stripes.set(publishableKey, loadStripe(publishableKey));
  return stripes.get(publishableKey)!;
};

export function ConfirmRecharge(props: {
  publishableKey: string;
  rechargeId: string;
  clientSecret: string;
  paymentMethodId: string | null;
  amountCents: number;
}) {
  const router = useRouter();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<AutoRechargeErrorCode | null>(null);
  const inFlight = useRef(false);

  async function confirm() {
    if (inFlight.current) return;
    inFlight.current = true;
    setBusy(true);
    setError(null);
    try {
      const stripe = await stripeFor(props.publishableKey);
      if (!stripe) throw new Error('Stripe.js did not load');
      const result = await stripe.confirmCardPayment(
        props.clientSecret,
        props.paymentMethodId ? { payment_method: props.paymentMethodId } : undefined,
      );
      if (result.error) {
        setError(
          result.error.code === 'payment_intent_authentication_failure'
            ? 'authentication-failed'
            : result.error.type === 'card_error'
              ? 'declined'
              : 'not-possible',
        );
        return;
      }
      router.replace(`/billing/auto-recharge/${props.rechargeId}?confirmed=1`);
      router.refresh();
    } catch {
      setError('unavailable');
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  }

  return (
    <div>
      <button type="button" onClick={() => void confirm()} disabled={busy} aria-describedby={error ? 'confirm-error' : undefined}>
        {busy ? 'Confirming…' : `Confirm ${dollars(props.amountCents)}`}
      </button>
      {error ? (
        <p className="error" role="alert" id="confirm-error">
          {AUTO_RECHARGE_ERRORS[error]}
        </p>
      ) : null}
    </div>
  );
}
