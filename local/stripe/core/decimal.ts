import type Stripe from 'stripe';

/**
 * A decimal field as it travels on the wire: a string ("1000"). The SDK
 * turns it into a `Stripe.Decimal` on the client. The state holds only plain
 * JSON (it is cloned and persisted), so the typed field carries the string.
 */
export function wireDecimal(value: number): Stripe.Decimal {
  return String(value) as unknown as Stripe.Decimal;
}
