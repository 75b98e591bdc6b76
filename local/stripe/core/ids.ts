import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomToken(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

/** Stripe-looking ids: `cus_` + 24 characters, with a `1` like live ids. */
export function newId(prefix: string): string {
  return `${prefix}_1${randomToken(23)}`;
}

export function clientSecretFor(id: string): string {
  return `${id}_secret_${randomToken(25)}`;
}

export function webhookSecret(): string {
  return `whsec_${randomToken(32)}`;
}
