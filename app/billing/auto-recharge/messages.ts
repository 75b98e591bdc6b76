// Auto-recharge outcomes and errors in words, from fixed codes (never from text carried in the
// address). Shared by the dashboard card, the confirmation page and its client form.

export const AUTO_RECHARGE_ERRORS = {
  invalid:
    'Check the amounts: a recharge is from $0.50 to $10,000, the threshold from $0 to $100,000, and the monthly limit at least one recharge, each with at most two decimals.',
  'no-card': 'Add a card and make it your default first: auto-recharge charges it.',
  stale:
    'Auto-recharge was turned off while this page was open (the reason is above), so nothing was changed. Check your card, then turn it on again.',
  unavailable: 'The payment provider is not answering right now, so nothing was changed. Please try again in a moment.',
  'not-possible': 'That could not be done. Please reload the page and try again.',
  'already-settled': 'This recharge was already paid, cancelled or is being processed, so nothing was changed.',
  'authentication-failed': 'Your bank could not confirm it was you, so nothing was charged. Try again, or cancel the recharge.',
  declined: 'Your card was declined, so nothing was charged. Try again, or cancel the recharge and update your card.',
} as const;

export type AutoRechargeErrorCode = keyof typeof AUTO_RECHARGE_ERRORS;

export const isAutoRechargeError = (code: string | undefined): code is AutoRechargeErrorCode =>
  code !== undefined && Object.hasOwn(AUTO_RECHARGE_ERRORS, code);
