import { isStripeError } from '@/lib/stripe/client';
import { AppError, isAppError } from '@/lib/http/errors';

// Stripe failures as the answers our callers get. The SDK has already retried connection errors
// and 5xx with the same idempotency key; what arrives here is final for this request, and a
// retry of the whole request is safe because every create carries a deterministic key.
// Returns an AppError for Stripe's failures, and anything else as it came.
export function toAppError(error: unknown): unknown {
  if (isAppError(error)) return error;
  if (isStripeError(error, 'StripeConnectionError') || isStripeError(error, 'StripeRateLimitError')) {
    return new AppError('service_unavailable', 'The payment provider is not answering right now. Please try again in a moment.', {
      cause: error,
    });
  }
  if (isStripeError(error, 'StripeIdempotencyError')) {
    // The same idempotency key with other parameters: a concurrent request for another amount or plan.
    return new AppError('idempotency_conflict', 'Another payment request of yours was just made. Please try again.', { cause: error });
  }
  if (isStripeError(error, 'StripeCardError')) {
    // Our own words, not Stripe's message (which is not ours to show).
    const message =
      error.decline_code === 'insufficient_funds'
        ? 'Your card has insufficient funds, so the change was not made.'
        : 'Your card was declined, so the change was not made. Please update your card and try again.';
    return new AppError('unprocessable', message, { cause: error });
  }
  if (isStripeError(error, 'StripeError')) {
    // API errors, bad requests we made, authentication: our side or theirs, never the user's.
    console.error('stripe call failed', { type: error.type, code: error.code, requestId: error.requestId, status: error.statusCode });
    return new AppError('payment_provider_error', 'The payment provider could not complete the request. Please try again.', {
      cause: error,
    });
  }
  return error;
}

/** Runs one Stripe call, turning its failures into AppErrors. */
export async function stripeCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toAppError(error);
  }
}
