// Recovery outcomes in words, from fixed codes.
export const RECOVER_ERRORS = {
  declined: 'Your card was declined, so the invoice was not paid. Try another card or contact your bank.',
  'insufficient-funds': 'Your card has insufficient funds, so the invoice was not paid. Try another card.',
  'needs-authentication':
    'Your bank asks you to confirm this payment. Add the card again to confirm it with your bank, or use another card.',
  'not-yours': 'That card is not one of yours, so nothing was paid.',
  'nothing-owed': 'There is no unpaid invoice any more: it may have been paid already. Your dashboard shows where things stand.',
  'choose-card': 'Choose a card to pay with, or add a new one.',
  // Also after a payment whose answer was lost: it may have gone through, so never "nothing was paid".
  unavailable:
    'The payment provider is not answering right now. Nothing is charged twice: your dashboard shows in a moment whether the invoice was paid; if it is still unpaid, try again.',
  'not-possible': 'That could not be done. Please reload the page and try again.',
} as const;

export type RecoverErrorCode = keyof typeof RECOVER_ERRORS;
export const isRecoverError = (code: string | undefined): code is RecoverErrorCode =>
  code !== undefined && Object.hasOwn(RECOVER_ERRORS, code);
