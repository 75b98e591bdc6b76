'use client';

import { Elements, PaymentElement, useElements, useStripe } from '@stripe/react-stripe-js';
import { loadStripe, type Stripe } from '@stripe/stripe-js';
import { useRouter } from 'next/navigation';
import { useRef, useState } from 'react';
import { cardAddedAction, startAddCardAction } from './actions';
import { CARD_ERRORS, setupErrorCode, type CardErrorCode } from './messages';

// Saves a card with a SetupIntent through the real <PaymentElement>; 3-D Secure, when the card
// asks for it, runs inside Stripe.js (the stand-in's challenge locally). The SetupIntent is made
// only when the user asks to add a card, and the server checks the result at Stripe before the
// card becomes the default. `onSaved` lets a caller (recovery) go on with the new card.

const stripes = new Map<string, Promise<Stripe | null>>();
const stripeFor = (publishableKey: string) => {
  if (!stripes.has(publishableKey)) stripes.set(publishableKey, loadStripe(publishableKey));
  return stripes.get(publishableKey)!;
};

type Phase = 'loading' | 'ready' | 'saving' | 'failed' | 'unavailable';

function SetupForm(props: {
  clientSecret: string;
  setupIntentId: string;
  askDefault: boolean;
  submitLabel: string;
  onSaved(paymentMethodId: string): Promise<void> | void;
}) {
  const stripe = useStripe();
  const elements = useElements();
  const [phase, setPhase] = useState<Phase>('loading');
  const [error, setError] = useState<CardErrorCode | null>(null);
  const [makeDefault, setMakeDefault] = useState(true);
  const inFlight = useRef(false);

  async function save(event: React.FormEvent) {
    event.preventDefault();
    if (!stripe || !elements || inFlight.current) return;
    inFlight.current = true;
    setPhase('saving');
    setError(null);
    try {
      const submitted = await elements.submit();
      if (submitted.error) {
        setError(setupErrorCode(submitted.error));
        setPhase('failed');
        return;
      }
      const result = await stripe.confirmSetup({
        elements,
        clientSecret: props.clientSecret,
        confirmParams: { return_url: `${window.location.origin}/billing/payment-methods?done=added` },
        redirect: 'if_required',
      });
      if (result.error) {
        setError(setupErrorCode(result.error));
        setPhase('failed');
        return;
      }
      const saved = await cardAddedAction({ setupIntentId: props.setupIntentId, makeDefault: props.askDefault ? makeDefault : true });
      if (!saved.ok) {
        setError(saved.error);
        setPhase('failed');
        return;
      }
      await props.onSaved(saved.paymentMethodId);
    } catch {
      setError('not-saved');
      setPhase('failed');
    } finally {
      inFlight.current = false;
    }
  }

  const busy = phase === 'saving';
  return (
    <form onSubmit={save} aria-describedby="add-card-status" style={{ maxWidth: '28rem' }}>
      {phase === 'loading' ? <p>Loading the secure card form…</p> : null}
      <PaymentElement
        onReady={() => setPhase((current) => (current === 'loading' ? 'ready' : current))}
        onLoadError={() => setPhase('unavailable')}
      />
      {props.askDefault ? (
        <label style={{ display: 'flex', gap: '.5rem', alignItems: 'center', fontWeight: 400 }}>
          <input type="checkbox" checked={makeDefault} onChange={(event) => setMakeDefault(event.target.checked)} />
          Use this card for my subscription and later payments
        </label>
      ) : null}
      <button type="submit" disabled={!stripe || phase === 'loading' || phase === 'unavailable' || busy}>
        {busy ? 'Saving…' : props.submitLabel}
      </button>
      <div id="add-card-status" role="status" aria-live="polite">
        {busy ? <p>Saving your card…</p> : null}
      </div>
      {phase === 'failed' && error ? (
        <p className="error" role="alert">
          {CARD_ERRORS[error]}
        </p>
      ) : null}
      {phase === 'unavailable' ? (
        <p className="error" role="alert">
          {CARD_ERRORS['form-unavailable']}
        </p>
      ) : null}
    </form>
  );
}

export function AddCardForm(props: {
  publishableKey: string;
  /** Offer the "use as default" choice (the first card is always the default). */
  askDefault: boolean;
  openLabel?: string;
  submitLabel?: string;
  /** Where to go once saved; default: this page with the outcome. */
  onSavedHref?: string;
  onSaved?(paymentMethodId: string): Promise<void> | void;
}) {
  const router = useRouter();
  const [intent, setIntent] = useState<{ clientSecret: string; setupIntentId: string } | null>(null);
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<CardErrorCode | null>(null);

  async function open() {
    if (starting) return;
    setStarting(true);
    setError(null);
    try {
      const started = await startAddCardAction();
      if (started.ok) setIntent({ clientSecret: started.clientSecret, setupIntentId: started.setupIntentId });
      else setError(started.error);
    } catch {
      setError('unavailable');
    } finally {
      setStarting(false);
    }
  }

  if (!intent) {
    return (
      <div>
        <button type="button" onClick={open} disabled={starting}>
          {starting ? 'Opening the card form…' : (props.openLabel ?? 'Add a card')}
        </button>
        {error ? (
          <p className="error" role="alert">
            {CARD_ERRORS[error]}
          </p>
        ) : null}
      </div>
    );
  }
  return (
    <Elements stripe={stripeFor(props.publishableKey)} options={{ clientSecret: intent.clientSecret, appearance: { theme: 'stripe' } }}>
      <SetupForm
        clientSecret={intent.clientSecret}
        setupIntentId={intent.setupIntentId}
        askDefault={props.askDefault}
        submitLabel={props.submitLabel ?? 'Save card'}
        onSaved={async (paymentMethodId) => {
          if (props.onSaved) await props.onSaved(paymentMethodId);
          else {
            router.push(props.onSavedHref ?? '/billing/payment-methods?done=added');
            router.refresh();
          }
          // The SetupIntent is used up: close the form (a next card gets a new one).
          setIntent(null);
        }}
      />
    </Elements>
  );
}
