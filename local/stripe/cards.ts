// Stripe's test cards the app relies on, by number and by test PaymentMethod id.

export type CardBehaviour =
  | 'succeed'
  | 'decline' // card_declined / generic_decline
  | 'insufficient_funds' // card_declined / insufficient_funds
  | 'lost_card' // card_declined / lost_card
  | 'stolen_card' // card_declined / stolen_card
  | 'velocity_exceeded' // card_declined / card_velocity_exceeded
  | 'fraudulent' // card_declined / fraudulent (Radar blocks it)
  | 'expired_card' // expired_card
  | 'incorrect_cvc' // incorrect_cvc
  | 'processing_error' // processing_error
  | 'authenticate' // 3-D Secure on-session; off-session charges go through
  | 'authenticate_always' // 3-D Secure on every charge: off-session it fails with authentication_required
  | 'attach_then_fail'; // attaches to a customer, every charge fails

/** How a card that succeeds is later disputed (Stripe's dispute test cards; disputes themselves live elsewhere). */
export type DisputeRule =
  | { reason: 'fraudulent' | 'product_not_received'; inquiry?: false }
  | { reason: 'general'; inquiry: true }
  | { reason: 'fraudulent'; inquiry?: false; multiple: true }
  | { reason: 'noncompliant'; inquiry?: false }
  | { reason: 'fraudulent'; inquiry?: false; earlyFraudWarning: true };

export interface TestCard {
  number: string;
  brand: 'visa' | 'mastercard' | 'amex' | 'discover' | 'diners' | 'jcb' | 'unionpay';
  funding?: 'credit' | 'debit' | 'prepaid';
  behaviour: CardBehaviour;
  /** Stripe's test PaymentMethod id for this card, if any. */
  token?: string;
  /** Further ids Stripe accepts for the same card (`pm_card_...` spellings, `tok_...` tokens). */
  aliases?: string[];
  /** A successful payment with this card is then disputed this way. */
  dispute?: DisputeRule;
}

/**
 * Stripe's documented test cards (docs: Testing > cards by brand, declined
 * payments, fraud prevention, disputes, 3-D Secure). Each has its
 * `pm_card_...` id and `tok_...` token; any other valid number succeeds.
 */
export const TEST_CARDS: TestCard[] = [
  // By brand: all succeed.
  { number: '4242424242424242', brand: 'visa', behaviour: 'succeed', token: 'pm_card_visa', aliases: ['tok_visa'] },
  {
    number: '4000056655665556',
    brand: 'visa',
    funding: 'debit',
    behaviour: 'succeed',
    token: 'pm_card_visa_debit',
    aliases: ['tok_visa_debit'],
  },
  { number: '5555555555554444', brand: 'mastercard', behaviour: 'succeed', token: 'pm_card_mastercard', aliases: ['tok_mastercard'] },
  {
    number: '5200828282828210',
    brand: 'mastercard',
    funding: 'debit',
    behaviour: 'succeed',
    token: 'pm_card_mastercard_debit',
    aliases: ['tok_mastercard_debit'],
  },
  {
    number: '5105105105105100',
    brand: 'mastercard',
    funding: 'prepaid',
    behaviour: 'succeed',
    token: 'pm_card_mastercard_prepaid',
    aliases: ['tok_mastercard_prepaid'],
  },
  { number: '378282246310005', brand: 'amex', behaviour: 'succeed', token: 'pm_card_amex', aliases: ['tok_amex'] },
  { number: '6011111111111117', brand: 'discover', behaviour: 'succeed', token: 'pm_card_discover', aliases: ['tok_discover'] },
  { number: '3056930009020004', brand: 'diners', behaviour: 'succeed', token: 'pm_card_diners', aliases: ['tok_diners'] },
  { number: '3566002020360505', brand: 'jcb', behaviour: 'succeed', token: 'pm_card_jcb', aliases: ['tok_jcb'] },
  { number: '6200000000000005', brand: 'unionpay', behaviour: 'succeed', token: 'pm_card_unionpay', aliases: ['tok_unionpay'] },
  // Declined payments.
  {
    number: '4000000000000002',
    brand: 'visa',
    behaviour: 'decline',
    token: 'pm_card_visa_chargeDeclined',
    aliases: ['pm_card_chargeDeclined', 'tok_chargeDeclined', 'tok_visa_chargeDeclined'],
  },
  {
    number: '4000000000009995',
    brand: 'visa',
    behaviour: 'insufficient_funds',
    token: 'pm_card_visa_chargeDeclinedInsufficientFunds',
    aliases: ['pm_card_chargeDeclinedInsufficientFunds', 'tok_chargeDeclinedInsufficientFunds', 'tok_visa_chargeDeclinedInsufficientFunds'],
  },
  {
    number: '4000000000009987',
    brand: 'visa',
    behaviour: 'lost_card',
    token: 'pm_card_visa_chargeDeclinedLostCard',
    aliases: ['pm_card_chargeDeclinedLostCard', 'tok_chargeDeclinedLostCard', 'tok_visa_chargeDeclinedLostCard'],
  },
  {
    number: '4000000000009979',
    brand: 'visa',
    behaviour: 'stolen_card',
    token: 'pm_card_visa_chargeDeclinedStolenCard',
    aliases: ['pm_card_chargeDeclinedStolenCard', 'tok_chargeDeclinedStolenCard', 'tok_visa_chargeDeclinedStolenCard'],
  },
  {
    number: '4000000000006975',
    brand: 'visa',
    behaviour: 'velocity_exceeded',
    token: 'pm_card_visa_chargeDeclinedVelocityLimitExceeded',
    aliases: ['tok_visa_chargeDeclinedVelocityLimitExceeded'],
  },
  {
    number: '4000000000000069',
    brand: 'visa',
    behaviour: 'expired_card',
    token: 'pm_card_chargeDeclinedExpiredCard',
    aliases: ['tok_chargeDeclinedExpiredCard'],
  },
  {
    number: '4000000000000127',
    brand: 'visa',
    behaviour: 'incorrect_cvc',
    token: 'pm_card_chargeDeclinedIncorrectCvc',
    aliases: ['tok_chargeDeclinedIncorrectCvc'],
  },
  {
    number: '4000000000000119',
    brand: 'visa',
    behaviour: 'processing_error',
    token: 'pm_card_chargeDeclinedProcessingError',
    aliases: ['tok_chargeDeclinedProcessingError'],
  },
  {
    number: '4000000000000341',
    brand: 'visa',
    behaviour: 'attach_then_fail',
    token: 'pm_card_chargeCustomerFail',
    aliases: ['tok_chargeCustomerFail'],
  },
  // Fraud prevention (Radar).
  {
    number: '4100000000000019',
    brand: 'visa',
    behaviour: 'fraudulent',
    token: 'pm_card_radarBlock',
    aliases: ['pm_card_chargeDeclinedFraudulent', 'tok_radarBlock', 'tok_chargeDeclinedFraudulent'],
  },
  {
    number: '4000000000004954',
    brand: 'visa',
    behaviour: 'fraudulent',
    token: 'pm_card_riskLevelHighest',
    aliases: ['tok_riskLevelHighest'],
  },
  {
    number: '4000000000009235',
    brand: 'visa',
    behaviour: 'succeed',
    token: 'pm_card_riskLevelElevated',
    aliases: ['tok_riskLevelElevated'],
  },
  // Disputes: the payment succeeds, then the cardholder disputes it.
  {
    number: '4000000000000259',
    brand: 'visa',
    behaviour: 'succeed',
    token: 'pm_card_createDispute',
    aliases: ['tok_createDispute'],
    dispute: { reason: 'fraudulent' },
  },
  {
    number: '4000000000002685',
    brand: 'visa',
    behaviour: 'succeed',
    token: 'pm_card_createDisputeProductNotReceived',
    aliases: ['tok_createDisputeProductNotReceived'],
    dispute: { reason: 'product_not_received' },
  },
  {
    number: '4000000000001976',
    brand: 'visa',
    behaviour: 'succeed',
    token: 'pm_card_createDisputeInquiry',
    aliases: ['tok_createDisputeInquiry'],
    dispute: { reason: 'general', inquiry: true },
  },
  {
    number: '4000000404000079',
    brand: 'visa',
    behaviour: 'succeed',
    token: 'pm_card_createMultipleDisputes',
    aliases: ['tok_createMultipleDisputes'],
    dispute: { reason: 'fraudulent', multiple: true },
  },
  {
    number: '4000008400001629',
    brand: 'visa',
    behaviour: 'succeed',
    token: 'pm_card_createComplianceDispute',
    aliases: ['tok_createComplianceDispute'],
    dispute: { reason: 'noncompliant' },
  },
  {
    number: '4000000000005423',
    brand: 'visa',
    behaviour: 'succeed',
    token: 'pm_card_createIssuerFraudRecord',
    aliases: ['tok_createIssuerFraudRecord'],
    dispute: { reason: 'fraudulent', earlyFraudWarning: true },
  },
  // 3-D Secure: 3155 asks on-session only (a saved card charges off-session).
  {
    number: '4000002500003155',
    brand: 'visa',
    behaviour: 'authenticate',
    token: 'pm_card_authenticationRequiredOnSetup',
    aliases: ['tok_authenticationRequiredOnSetup'],
  },
  // 3184 asks on every charge, saved or not: off-session it is refused with authentication_required,
  // and the customer has to come back and confirm on-session.
  {
    number: '4000002760003184',
    brand: 'visa',
    behaviour: 'authenticate_always',
    token: 'pm_card_authenticationRequired',
    aliases: ['tok_authenticationRequired'],
  },
];

/** The test card a `pm_card_...` id or `tok_...` token names. */
export function cardByToken(token: string): TestCard | undefined {
  return TEST_CARDS.find((c) => c.token === token || (c.aliases?.includes(token) ?? false));
}

/** The test card behind a stored card's fingerprint (undefined for other numbers). */
export function cardByFingerprint(fingerprint: string | null | undefined): TestCard | undefined {
  return TEST_CARDS.find((c) => fingerprintOf(c.number) === fingerprint);
}

export function cardByNumber(number: string): TestCard | undefined {
  return TEST_CARDS.find((c) => c.number === number);
}

/** Behaviour of a stored card, keyed by its fingerprint (the number's identity). */
export function behaviourOf(fingerprint: string | null | undefined): CardBehaviour {
  return cardByFingerprint(fingerprint)?.behaviour ?? 'succeed';
}

/** Stable, non-reversible id of a card number (Stripe's `card.fingerprint`). */
export function fingerprintOf(number: string): string {
  let h = 0x811c9dc5;
  for (const ch of number) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `fp${h.toString(36).padStart(8, '0')}${number.length}`;
}

export function luhnValid(number: string): boolean {
  if (!/^\d{12,19}$/.test(number)) return false;
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let d = Number(number[number.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function brandOf(number: string): TestCard['brand'] | 'unknown' {
  if (number.startsWith('4')) return 'visa';
  if (/^5[1-5]|^2[2-7]/.test(number)) return 'mastercard';
  if (/^3[47]/.test(number)) return 'amex';
  if (/^6(011|5)/.test(number)) return 'discover';
  if (/^3(0[0-5]|[68])/.test(number)) return 'diners';
  if (/^35/.test(number)) return 'jcb';
  if (/^62/.test(number)) return 'unionpay';
  return 'unknown';
}

export interface Decline {
  code: string;
  decline_code: string;
  message: string;
}

export function declineFor(behaviour: CardBehaviour): Decline | null {
  switch (behaviour) {
    case 'decline':
    case 'attach_then_fail':
      return { code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' };
    case 'insufficient_funds':
      return { code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' };
    case 'lost_card':
      return { code: 'card_declined', decline_code: 'lost_card', message: 'Your card was declined.' };
    case 'stolen_card':
      return { code: 'card_declined', decline_code: 'stolen_card', message: 'Your card was declined.' };
    case 'velocity_exceeded':
      return { code: 'card_declined', decline_code: 'card_velocity_exceeded', message: 'Your card was declined.' };
    case 'fraudulent':
      return { code: 'card_declined', decline_code: 'fraudulent', message: 'Your card was declined.' };
    case 'expired_card':
      return { code: 'expired_card', decline_code: 'expired_card', message: 'Your card has expired.' };
    case 'incorrect_cvc':
      return { code: 'incorrect_cvc', decline_code: 'incorrect_cvc', message: "Your card's security code is incorrect." };
    case 'processing_error':
      return {
        code: 'processing_error',
        decline_code: 'processing_error',
        message: 'An error occurred while processing your card. Try again in a little bit.',
      };
    default:
      return null;
  }
}
