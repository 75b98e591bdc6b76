'use client';

import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { dollars } from '@/app/_lib/format';
import { AddCardForm } from '../payment-methods/add-card-form';
import { payWithNewCardAction } from './actions';
import { RECOVER_ERRORS, type RecoverErrorCode } from './messages';

// Adds a card (SetupIntent through the PaymentElement, 3-D Secure included) and pays the open
// invoice with it at once.
export function PayWithNewCard({
  publishableKey,
  invoiceId,
  amountCents,
}: {
  publishableKey: string;
  invoiceId: string;
  amountCents: number;
}) {
  const router = useRouter();
  const [error, setError] = useState<RecoverErrorCode | null>(null);
  const [paying, setPaying] = useState(false);
  return (
    <div>
      <AddCardForm
        publishableKey={publishableKey}
        askDefault={false}
        openLabel="Add a new card"
        submitLabel={`Save card and pay ${dollars(amountCents)}`}
        onSaved={async (paymentMethodId) => {
          setPaying(true);
          setError(null);
          const result = await payWithNewCardAction({ invoiceId, paymentMethodId }).catch(() => ({
            ok: false as const,
            error: 'unavailable' as const,
          }));
          if (result.ok) {
            router.push(result.href);
            router.refresh();
            return;
          }
          setPaying(false);
          setError(result.error);
          // The new card is saved: show it among the saved cards.
          router.refresh();
        }}
      />
      <div role="status" aria-live="polite">
        {paying ? <p>Card saved. Paying {dollars(amountCents)}…</p> : null}
      </div>
      {error ? (
        <p className="error" role="alert">
          {RECOVER_ERRORS[error]} Your new card is saved: choose it or another card above to pay.
        </p>
      ) : null}
    </div>
  );
}
