'use client';

import { useActionState } from 'react';
import { CheckoutForm } from './checkout-form';
import type { TopUpState } from './actions';

// Step one of a top-up: choose the amount. The server action creates (or reuses) the intent;
// step two is the card form for it.
export function TopUpStart({
  publishableKey,
  start,
  initialAmount,
}: {
  publishableKey: string;
  start: (state: TopUpState, form: FormData) => Promise<TopUpState>;
  initialAmount: string;
}) {
  const [state, action, pending] = useActionState(start, { status: 'idle' } as TopUpState);
  if (state.status === 'ready') {
    return (
      <CheckoutForm
        publishableKey={publishableKey}
        target={{ kind: 'top-up', intentId: state.intentId, clientSecret: state.clientSecret, amountCents: state.amountCents }}
      />
    );
  }
  return (
    <form action={action}>
      <label htmlFor="amount">Amount in US dollars</label>
      <input
        id="amount"
        name="amount"
        type="number"
        inputMode="decimal"
        min="0.50"
        max="10000"
        step="0.01"
        defaultValue={initialAmount}
        required
        aria-invalid={state.status === 'error'}
        aria-describedby={state.status === 'error' ? 'amount-error' : undefined}
      />
      <button type="submit" disabled={pending}>
        {pending ? 'Preparing…' : 'Continue to payment'}
      </button>
      {state.status === 'error' ? (
        <p className="error" role="alert" id="amount-error">
          {state.message}
        </p>
      ) : null}
    </form>
  );
}
