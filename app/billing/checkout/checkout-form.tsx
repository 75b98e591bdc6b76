'use client';

import { Elements, PaymentElement, useElements, useStripe } from '@stripe/react-stripe-js';
import { loadStripe, type Stripe, type StripeError } from '@stripe/stripe-js';
import { useRouter } from 'next/navigation';
import { useRef, useState } from 'react';

// Pays one PaymentIntent (a top-up, a usage shortfall, or a subscription's first invoice) with
// the real <PaymentElement>. Guards against double charges twice over: the button is disabled
// while a confirmation is in flight, and the server hands out one intent per payment (the same
// client secret is confirmed at most once by Stripe). After success it waits for our webhook to
// record the payment, then opens the dashboard, which shows the new state.

export interface CheckoutTarget {
  kind: 'top-up' | 'subscription';
  intentId: string;
  clientSecret: string;
  amountCents: number;
  /** For subscriptions: the plan the dashboard should show once the payment is recorded. */
  planId?: string;
}

const stripes = new Map<string, Promise<Stripe | null>>();
const stripeFor = (publishableKey: string) => {
  if (!stripes.has(publishableKey)) stripes.set(publishableKey, loadStripe(publishableKey));
  return stripes.get(publishableKey)!;
};

const dollars = (cents: number) => (cents / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' });

/** Stripe's error, in words a person can act on. */
export function describePaymentError(error: Pick<StripeError, 'type' | 'code' | 'decline_code' | 'message'>): string {
  if (error.decline_code === 'insufficient_funds') return 'Your card has insufficient funds. Try another card, or a smaller amount.';
  if (error.code === 'payment_intent_authentication_failure') {
    return 'Your bank could not confirm it was you, so nothing was charged. Try again, or use another card.';
  }
  if (error.code === 'expired_card') return 'Your card has expired. Please use another card.';
  if (error.code === 'incorrect_cvc') return 'The security code (CVC) is not right. Please check it and try again.';
  if (error.code === 'card_declined') return 'Your card was declined, so nothing was charged. Try another card or contact your bank.';
  if (error.type === 'validation_error') return error.message ?? 'Please check the card details.';
  return 'The payment could not be completed, so nothing was charged. Please try again.';
}

type Phase = 'loading' | 'ready' | 'processing' | 'recording' | 'done' | 'failed';

async function waitForRecord(target: CheckoutTarget): Promise<boolean> {
  for (let attempt = 0; attempt < 40; attempt++) {
    if (target.kind === 'top-up') {
      const response = await fetch('/api/payments/history?limit=20', { cache: 'no-store' });
      const body = (await response.json()) as { data?: { entries: Array<{ id: string; status: string }> } };
      if (body.data?.entries.some((entry) => entry.id === target.intentId && entry.status === 'succeeded')) return true;
    } else {
      const response = await fetch('/api/payments/billing', { cache: 'no-store' });
      const body = (await response.json()) as { data?: { planId: string; subscription: { status: string } | null } };
      if (body.data?.planId === target.planId && body.data?.subscription?.status === "active") return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return false;
}

function PayForm({ target }: { target: CheckoutTarget }) {
  const stripe = useStripe();
  const elements = useElements();
  const router = useRouter();
  const [phase, setPhase] = useState<Phase>('loading');
  const [message, setMessage] = useState<string | null>(null);
  const inFlight = useRef(false);

  async function pay(event: React.FormEvent) {
    event.preventDefault();
    if (!stripe || !elements || inFlight.current) return;
    inFlight.current = true;
    setPhase('processing');
    setMessage(null);
    try {
      const submitted = await elements.submit();
      if (submitted.error) {
        setMessage(describePaymentError(submitted.error));
        setPhase('failed');
        return;
      }
      const result = await stripe.confirmPayment({
        elements,
        clientSecret: target.clientSecret,
        confirmParams: { return_url: `${window.location.origin}/payment-success` },
        redirect: 'if_required',
      });
      if (result.error) {
        setMessage(describePaymentError(result.error));
        setPhase('failed');
        return;
      }
      setPhase('recording');
      const recorded = await waitForRecord(target);
      setPhase('done');
      router.push(recorded ? '/billing?paid=1' : '/billing?paid=pending');
      router.refresh();
    } finally {
      inFlight.current = false;
    }
  }

  const busy = phase === 'processing' || phase === 'recording' || phase === 'done';
  return (
    <form onSubmit={pay} aria-describedby="checkout-status" style={{ maxWidth: '28rem' }}>
      {phase === 'loading' ? <p>Loading the secure card form…</p> : null}
      <PaymentElement onReady={() => setPhase((current) => (current === 'loading' ? 'ready' : current))} />
      <button type="submit" disabled={!stripe || phase === 'loading' || busy}>
        {phase === 'processing' ? 'Processing…' : phase === 'failed' ? `Try again: pay ${dollars(target.amountCents)}` : `Pay ${dollars(target.amountCents)}`}
      </button>
      <div id="checkout-status" role="status" aria-live="polite">
        {phase === 'failed' && message ? <p className="error">{message}</p> : null}
        {phase === 'recording' ? <p>Payment received. Updating your account…</p> : null}
        {phase === 'done' ? <p>Payment complete. Opening your dashboard…</p> : null}
      </div>
    </form>
  );
}

export function CheckoutForm({ publishableKey, target }: { publishableKey: string; target: CheckoutTarget }) {
  return (
    <Elements stripe={stripeFor(publishableKey)} options={{ clientSecret: target.clientSecret, appearance: { theme: 'stripe' } }}>
      <PayForm target={target} />
    </Elements>
  );
}
