'use client';

import { Elements, PaymentElement, useElements, useStripe } from '@stripe/react-stripe-js';
import { loadStripe, type Stripe } from '@stripe/stripe-js';
import { useRouter } from 'next/navigation';
import { useRef, useState } from 'react';
import { dollars } from '@/app/_lib/format';
import { describePaymentError } from '@/app/_lib/payment-errors';

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

type Phase = 'loading' | 'ready' | 'processing' | 'recording' | 'done' | 'pending' | 'failed' | 'unavailable';

async function waitForRecord(target: CheckoutTarget): Promise<boolean> {
  for (let attempt = 0; attempt < 40; attempt++) {
    if (target.kind === 'top-up') {
      const response = await fetch('/api/payments/history?limit=20', { cache: 'no-store' });
      const body = (await response.json()) as { data?: { entries: Array<{ id: string; status: string }> } };
      if (body.data?.entries.some((entry) => entry.id === target.intentId && entry.status === 'succeeded')) return true;
    } else {
      const response = await fetch('/api/payments/billing', { cache: 'no-store' });
      const body = (await response.json()) as { data?: { planId: string; subscription: { status: string } | null } };
      if (body.data?.planId === target.planId && body.data?.subscription?.status === 'active') return true;
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
      if (result.paymentIntent.status !== 'succeeded') {
        // e.g. processing: the bank has not answered yet; the dashboard shows it when it does.
        setPhase('pending');
        return;
      }
      setPhase('recording');
      const recorded = await waitForRecord(target).catch(() => false);
      setPhase('done');
      router.push(recorded ? '/billing?paid=1' : '/billing?paid=pending');
      router.refresh();
    } catch {
      setMessage(describePaymentError({}));
      setPhase('failed');
    } finally {
      inFlight.current = false;
    }
  }

  const busy = phase === 'processing' || phase === 'recording' || phase === 'done' || phase === 'pending';
  return (
    <form onSubmit={pay} aria-describedby="checkout-status" style={{ maxWidth: '28rem' }}>
      {phase === 'loading' ? <p>Loading the secure card form…</p> : null}
      <PaymentElement
        onReady={() => setPhase((current) => (current === 'loading' ? 'ready' : current))}
        onLoadError={() => setPhase('unavailable')}
      />
      <button type="submit" disabled={!stripe || phase === 'loading' || phase === 'unavailable' || busy}>
        {phase === 'processing'
          ? 'Processing…'
          : phase === 'failed'
            ? `Try again: pay ${dollars(target.amountCents)}`
            : `Pay ${dollars(target.amountCents)}`}
      </button>
      <div id="checkout-status" role="status" aria-live="polite">
        {phase === 'recording' ? <p>Payment received. Updating your account…</p> : null}
        {phase === 'done' ? <p>Payment complete. Opening your dashboard…</p> : null}
        {phase === 'pending' ? (
          <p>
            Your bank is still processing the payment. Nothing more to do here: your <a href="/billing">dashboard</a> shows it once it
            completes.
          </p>
        ) : null}
      </div>
      {phase === 'failed' && message ? (
        <p className="error" role="alert">
          {message}
        </p>
      ) : null}
      {phase === 'unavailable' ? (
        <p className="error" role="alert">
          The card form could not be loaded. Please reload the page, or try again in a minute.
        </p>
      ) : null}
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
