import Stripe from 'stripe';
import { env } from '@/lib/env';

// The one server-side Stripe client. Nothing else imports `stripe` (a test checks this). The API
// version is pinned to the SDK's own, so an SDK upgrade is the only way the version changes.
// Without STRIPE_SECRET_KEY the same SDK talks to the local Stripe at STRIPE_API_BASE: only the
// endpoint and the key differ, never the code path.

export const STRIPE_API_VERSION = '2026-10-28.endive' as const;
const LOCAL_SECRET_KEY = 'sk_test_local';

export type { Stripe };

function createClient(): Stripe {
  const config = env();
  const options: Stripe.StripeConfig = {
    apiVersion: STRIPE_API_VERSION,
    timeout: config.STRIPE_TIMEOUT_MS,
    maxNetworkRetries: config.STRIPE_MAX_NETWORK_RETRIES,
    appInfo: { name: 'billing', version: '0.1.0' },
  };
  if (config.STRIPE_SECRET_KEY) return new Stripe(config.STRIPE_SECRET_KEY, options);
  const base = new URL(config.STRIPE_API_BASE);
  return new Stripe(LOCAL_SECRET_KEY, {
    ...options,
    host: base.hostname,
    port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
    protocol: base.protocol === 'https:' ? 'https' : 'http',
  });
}

const holder = globalThis as typeof globalThis & { __billingStripe?: { key: string; client: Stripe } };

export function stripe(): Stripe {
  const config = env();
  const key = `${config.STRIPE_SECRET_KEY ?? ''}|${config.STRIPE_API_BASE}`;
  if (holder.__billingStripe?.key !== key) holder.__billingStripe = { key, client: createClient() };
  return holder.__billingStripe.client;
}

/** Verifies a webhook's signature on the raw body; throws Stripe's signature error otherwise. */
export function verifyWebhookEvent(rawBody: string, signature: string, secret: string): Stripe.Event {
  return Stripe.webhooks.constructEvent(rawBody, signature, secret);
}

export function isSignatureError(error: unknown): boolean {
  return isStripeError(error, 'StripeSignatureVerificationError');
}

export const stripeErrors = Stripe.errors;

type StripeErrorName = {
  [K in keyof typeof Stripe.errors]: (typeof Stripe.errors)[K] extends abstract new (...args: never[]) => Stripe.errors.StripeError
    ? K
    : never;
}[keyof typeof Stripe.errors];

/**
 * Whether `error` is one of the SDK's errors of that kind, recognised by the `type` the SDK sets
 * on each (its class's name) rather than by `instanceof`: in a Next.js build the client lives on
 * globalThis and may come from another bundle's copy of the SDK than the caller's, whose classes
 * are then different objects (a declined card would otherwise surface as a 500).
 */
export function isStripeError<K extends StripeErrorName>(error: unknown, kind: K): error is InstanceType<(typeof Stripe.errors)[K]> {
  if (typeof error !== 'object' || error === null || !('type' in error) || typeof error.type !== 'string') return false;
  if (kind === 'StripeError') return error.type.startsWith('Stripe') && 'rawType' in error;
  return error.type === kind;
}
