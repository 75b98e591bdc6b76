import type { Database } from '@/lib/db';
import { AppError } from '@/lib/http/errors';

// Card-testing protection: how many Stripe objects a user may create per window. Counted in the
// database (one atomic upsert), so the limit holds across processes.
export const RATE_LIMITS = {
  payment_intent: { windowSeconds: 600, limit: 10 },
  subscription: { windowSeconds: 600, limit: 5 },
  // Stripe customer updates (POST /api/payments/customers with new details); unchanged ones are free.
  customer_update: { windowSeconds: 600, limit: 20 },
  setup_intent: { windowSeconds: 600, limit: 10 },
} as const;

export type RateLimitedAction = keyof typeof RATE_LIMITS;

export async function enforceRateLimit(db: Database, userId: string, action: RateLimitedAction): Promise<void> {
  const { windowSeconds, limit } = RATE_LIMITS[action];
  await hit(db, 'app_private.hit_rate_limit', [userId, action, windowSeconds, limit], 'Too many attempts.');
}

/** Counts one hit with the given SQL counter; throws 429 with the wait when over its limit. */
async function hit(
  db: Database,
  counter: 'app_private.hit_rate_limit' | 'app_private.hit_address_rate_limit',
  values: unknown[],
  what: string,
): Promise<void> {
  const { rows } = await db.query<{ allowed: boolean; retry_after_seconds: number }>(
    `select allowed, retry_after_seconds from ${counter}($1, $2, $3, $4)`,
    values,
  );
  const row = rows[0];
  if (row && !row.allowed) {
    throw new AppError('rate_limited', `${what} Please wait ${row.retry_after_seconds} seconds and try again.`, {
      details: { retryAfterSeconds: row.retry_after_seconds },
    });
  }
}

// The same, per client address: many fresh accounts from one address share one budget (card
// testing with throwaway accounts, mass sign-ups). Generous enough for an office behind one NAT.
export const ADDRESS_RATE_LIMITS = {
  payment_intent: { windowSeconds: 600, limit: 30 },
  subscription: { windowSeconds: 600, limit: 15 },
  sign_up: { windowSeconds: 3600, limit: 10 },
} as const;

export type AddressRateLimitedAction = keyof typeof ADDRESS_RATE_LIMITS;

export async function enforceAddressRateLimit(db: Database, address: string, action: AddressRateLimitedAction): Promise<void> {
  const { windowSeconds, limit } = ADDRESS_RATE_LIMITS[action];
  await hit(db, 'app_private.hit_address_rate_limit', [address, action, windowSeconds, limit], 'Too many attempts from your network.');
}

/**
 * The client's address: the last X-Forwarded-For entry, i.e. what the proxy nearest to us saw
 * (Next.js sets the header to the socket's address when absent). Behind no proxy at all a
 * client can send its own header; deploy behind one that sets it (see README).
 */
export function clientAddress(headers: Headers): string {
  const forwarded = headers.get('x-forwarded-for');
  const last = forwarded
    ?.split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .pop();
  return last ? last.slice(0, 100) : 'unknown';
}
