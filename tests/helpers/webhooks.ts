import type { Stripe } from '@/lib/stripe/client';
import { signatureHeader } from '@/local/stripe/webhooks/sign';
import { TEST_WEBHOOK_SECRET } from '@/tests/helpers/stripe';
import { POST as postWebhook } from '@/app/api/payments/webhook/route';

export interface DeliveryOptions {
  /** Sign with another secret (a forgery). */
  secret?: string;
  /** The signature's time in seconds; now by default. */
  timestamp?: number;
  /** Change the body after signing it. */
  tamper?: boolean;
}

/**
 * Hands an event (or any raw payload) to the app's webhook route in-process, as Stripe sends it:
 * the raw body signed with the integration tests' secret in a `stripe-signature` header.
 */
export async function deliverWebhook(event: Stripe.Event | string, options: DeliveryOptions = {}) {
  const payload = typeof event === 'string' ? event : JSON.stringify(event);
  const signature = signatureHeader(payload, options.secret ?? TEST_WEBHOOK_SECRET, options.timestamp ?? Math.floor(Date.now() / 1000));
  const body = options.tamper ? payload.replace('"amount_received":', '"amount_received":9') : payload;
  const response = await postWebhook(
    new Request('http://app.test/api/payments/webhook', { method: 'POST', headers: { 'stripe-signature': signature }, body }),
  );
  return {
    status: response.status,
    body: (await response.json()) as { received?: true; outcome?: string; error?: { code: string; message: string } },
  };
}
