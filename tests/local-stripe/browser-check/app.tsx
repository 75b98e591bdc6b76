import { createRoot } from 'react-dom/client';
import { useState } from 'react';
import { loadStripe } from '@stripe/stripe-js';
import { Elements, PaymentElement, useElements, useStripe } from '@stripe/react-stripe-js';

const params = new URLSearchParams(location.search);
const clientSecret = params.get('cs') ?? '';
const stripePromise = loadStripe('pk_test_local');

function Checkout() {
  const stripe = useStripe();
  const elements = useElements();
  const [status, setStatus] = useState('idle');
  const [ready, setReady] = useState(false);
  const [complete, setComplete] = useState(false);
  async function pay() {
    if (!stripe || !elements) return;
    const submitted = await elements.submit();
    if (submitted.error) return setStatus(`submit-error:${submitted.error.code}`);
    const result = await stripe.confirmPayment({ elements, clientSecret, confirmParams: { return_url: location.href }, redirect: 'if_required' });
    if (result.error) return setStatus(`error:${result.error.code}:${result.error.decline_code ?? ''}`);
    setStatus(`done:${result.paymentIntent.status}`);
  }
  return (
    <div>
      <PaymentElement onReady={() => setReady(true)} onChange={(e) => setComplete(e.complete)} />
      <button onClick={pay}>Pay</button>
      <p data-testid="ready">{String(ready)}</p>
      <p data-testid="complete">{String(complete)}</p>
      <p data-testid="status">{status}</p>
    </div>
  );
}

createRoot(document.getElementById('root')!).render(
  <Elements stripe={stripePromise} options={params.get('mode') === 'deferred' ? { mode: 'payment', amount: 2000, currency: 'usd' } : { clientSecret }}>
    <Checkout />
  </Elements>,
);
