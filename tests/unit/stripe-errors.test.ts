import { describe, expect, it } from 'vitest';
import { isStripeError, stripeErrors } from '@/lib/stripe/client';
import { toAppError } from '@/lib/stripe/errors';

// In a production build the Stripe client lives on globalThis and may be another bundle's copy of
// the SDK than the caller's: its errors are then not `instanceof` the caller's classes. Errors are
// recognised by the `type` the SDK sets on each, so a decline stays a 422 and never becomes a 500.

/** What an error thrown by another bundle's copy of the SDK looks like from here. */
const foreignCardError = () =>
  Object.assign(new Error('Your card was declined.'), {
    type: 'StripeCardError',
    rawType: 'card_error',
    code: 'card_declined',
    decline_code: 'generic_decline',
  });

describe('Stripe errors across bundles', () => {
  it('recognises a card error of another SDK copy by its type', () => {
    const error = foreignCardError();
    expect(error instanceof stripeErrors.StripeCardError).toBe(false);
    expect(isStripeError(error, 'StripeCardError')).toBe(true);
    expect(isStripeError(error, 'StripeError')).toBe(true);
    expect(isStripeError(error, 'StripeInvalidRequestError')).toBe(false);
    expect(toAppError(error)).toMatchObject({ code: 'unprocessable', message: expect.stringContaining('declined') });
  });

  it('recognises the SDK’s own errors too, and nothing else', () => {
    const own = new stripeErrors.StripeConnectionError({ message: 'down' });
    expect(isStripeError(own, 'StripeConnectionError')).toBe(true);
    expect(toAppError(own)).toMatchObject({ code: 'service_unavailable' });
    for (const other of [new Error('x'), { type: 'StripeCardError' }, null, 'StripeCardError', { type: 7, rawType: 'x' }])
      expect(isStripeError(other, 'StripeError')).toBe(false);
  });
});
