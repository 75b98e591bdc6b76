import type { Database } from '@/lib/db';
import { AppError } from '@/lib/http/errors';

// Card-testing protection: how many Stripe objects a user may create per window. Counted in the
// database (one atomic upsert), so the limit holds across processes.
export const RATE_LIMITS = {
  payment_intent: { windowSeconds: 600, limit: 10 },
  subscription: { windowSeconds: 600, limit: 5 },
  setup_intent: { windowSeconds: 600, limit: 10 },
} as const;

export type RateLimitedAction = keyof typeof RATE_LIMITS;

export async function enforceRateLimit(db: Database, userId: string, action: RateLimitedAction): Promise<void> {
  const { windowSeconds, limit } = RATE_LIMITS[action];
  const { rows } = await db.query<{ allowed: boolean; retry_after_seconds: number }>(
    'select allowed, retry_after_seconds from app_private.hit_rate_limit($1, $2, $3, $4)',
    [userId, action, windowSeconds, limit],
  );
  const row = rows[0];
  if (row && !row.allowed) {
    throw new AppError('rate_limited', `Too many attempts. Please wait ${row.retry_after_seconds} seconds and try again.`, {
      details: { retryAfterSeconds: row.retry_after_seconds },
    });
  }
}
