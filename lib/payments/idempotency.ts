// Idempotency keys of the Stripe objects we create. A key names one logical request, so that
// concurrent requests, the SDK's retries and a user's retry after a timeout all reach the same
// object. Stripe also remembers a failed (5xx) answer for a key, for 24 hours: the key therefore
// also carries the hour, so such a failure blocks the same request for at most the rest of that
// hour instead of a day. (Two requests straddling the hour could make two objects: for top-ups
// and subscriptions the reuse checks catch the second; for a customer the first id stored wins.)
const hour = (now = Date.now()) => Math.floor(now / 3_600_000);

export const customerKey = (userId: string) => `customer:${userId}:${hour()}`;

/** `sequence`: how many attempts the user had made before this one. */
export const topUpKey = (userId: string, sequence: number, amountCents: number) => `topup:${userId}:${sequence}:${amountCents}:${hour()}`;

/**
 * No plan in it on purpose: two requests at once for different plans share the key, so Stripe
 * refuses the second (409) instead of creating two subscriptions the user might both pay.
 */
export const subscriptionKey = (userId: string, sequence: number) => `subscription:${userId}:${sequence}:${hour()}`;
