// The payment-method pages' outcomes and errors in words, from fixed codes (never from text
// carried in the address). Shared by the server page and the client form.

export const CARD_ERRORS = {
  'not-yours': 'That card is not one of yours, so nothing was changed.',
  'only-card':
    'This card pays your subscription and is your only card, so it cannot be removed. Add another card first, or cancel the subscription.',
  'rate-limited': 'Too many attempts in a short time. Please wait a few minutes and try again.',
  unavailable: 'The payment provider is not answering right now, so nothing was changed. Please try again in a moment.',
  'not-saved': 'The card was not saved. Please try again, or use another card.',
  'not-possible': 'That could not be done. Please reload the page and try again.',
  declined: 'Your card was declined, so the card was not saved. Try another card or contact your bank.',
  'authentication-failed': 'Your bank could not confirm it was you, so the card was not saved. Try again, or use another card.',
  'form-unavailable': 'The card form could not be loaded. Please reload the page, or try again in a minute.',
} as const;

export type CardErrorCode = keyof typeof CARD_ERRORS;

export const CARD_DONE = {
  added: 'Your card was saved.',
  'added-default': 'Your card was saved. It now pays your subscription and your later payments.',
  default: 'That card now pays your subscription and your later payments.',
  removed: 'The card was removed.',
} as const;

export type CardDoneCode = keyof typeof CARD_DONE;

export const isCardError = (code: string | undefined): code is CardErrorCode => code !== undefined && Object.hasOwn(CARD_ERRORS, code);
export const isCardDone = (code: string | undefined): code is CardDoneCode => code !== undefined && Object.hasOwn(CARD_DONE, code);

/** What a Stripe.js error from confirmSetup means for the user. */
export function setupErrorCode(error: { type?: string; code?: string | null; decline_code?: string | null }): CardErrorCode {
  if (error.code === 'setup_intent_authentication_failure') return 'authentication-failed';
  if (error.type === 'card_error') return 'declined';
  return 'not-saved';
}
