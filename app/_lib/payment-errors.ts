// What went wrong with a payment, in words a person can act on, from Stripe's error fields.
// Shared by the checkout form (in the browser) and the payment-success page (on the server).

export interface PaymentErrorFields {
  type?: string;
  code?: string | null;
  decline_code?: string | null;
  message?: string | null;
}

const CARD_TROUBLE: Record<string, string> = {
  insufficient_funds: 'Your card has insufficient funds, so nothing was charged. Try another card, or a smaller amount.',
  payment_intent_authentication_failure: 'Your bank could not confirm it was you, so nothing was charged. Try again, or use another card.',
  expired_card: 'Your card has expired, so nothing was charged. Please use another card.',
  incorrect_cvc: 'The security code (CVC) is not right, so nothing was charged. Please check it and try again.',
  card_declined: 'Your card was declined, so nothing was charged. Try another card or contact your bank.',
  generic_decline: 'Your card was declined, so nothing was charged. Try another card or contact your bank.',
};

export function describePaymentError(error: PaymentErrorFields): string {
  const known = CARD_TROUBLE[error.decline_code ?? ''] ?? CARD_TROUBLE[error.code ?? ''];
  if (known) return known;
  if (error.type === 'validation_error') return error.message ?? 'Please check the card details.';
  // Anything else (a lost connection, an intent already paid elsewhere): the outcome is not known here.
  return 'The payment could not be completed here. Please check your billing dashboard before trying again.';
}
