// Stripe's test cards the app relies on, by number and by test PaymentMethod id.

export type CardBehaviour =
  | 'succeed'
  | 'decline' // card_declined / generic_decline
  | 'insufficient_funds' // card_declined / insufficient_funds
  | 'authenticate' // 3-D Secure on-session; off-session charges go through
  | 'attach_then_fail'; // attaches to a customer, every charge fails

export interface TestCard {
  number: string;
  brand: 'visa' | 'mastercard' | 'amex';
  behaviour: CardBehaviour;
  /** Stripe's test PaymentMethod id for this card, if any. */
  token?: string;
}

export const TEST_CARDS: TestCard[] = [
  { number: '4242424242424242', brand: 'visa', behaviour: 'succeed', token: 'pm_card_visa' },
  { number: '5555555555554444', brand: 'mastercard', behaviour: 'succeed', token: 'pm_card_mastercard' },
  { number: '4000000000000002', brand: 'visa', behaviour: 'decline', token: 'pm_card_visa_chargeDeclined' },
  {
    number: '4000000000009995',
    brand: 'visa',
    behaviour: 'insufficient_funds',
    token: 'pm_card_visa_chargeDeclinedInsufficientFunds',
  },
  { number: '4000002500003155', brand: 'visa', behaviour: 'authenticate', token: 'pm_card_authenticationRequired' },
  { number: '4000000000000341', brand: 'visa', behaviour: 'attach_then_fail', token: 'pm_card_chargeCustomerFail' },
  // Succeed, then disputed (resources/disputes.ts).
  { number: '4000000000000259', brand: 'visa', behaviour: 'succeed', token: 'pm_card_createDispute' },
  { number: '4000000000002685', brand: 'visa', behaviour: 'succeed', token: 'pm_card_createDisputeProductNotReceived' },
  { number: '4000000000001976', brand: 'visa', behaviour: 'succeed', token: 'pm_card_createDisputeInquiry' },
];

export function cardByToken(token: string): TestCard | undefined {
  return TEST_CARDS.find((c) => c.token === token);
}

export function cardByNumber(number: string): TestCard | undefined {
  return TEST_CARDS.find((c) => c.number === number);
}

/** Behaviour of a stored card, keyed by its fingerprint (the number's identity). */
export function behaviourOf(fingerprint: string | null | undefined): CardBehaviour {
  return TEST_CARDS.find((c) => fingerprintOf(c.number) === fingerprint)?.behaviour ?? 'succeed';
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
    default:
      return null;
  }
}
