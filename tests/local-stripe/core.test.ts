import { describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { encodeForm, parseForm } from '../../local/stripe/core/form.js';
import { addIntervals } from '../../local/stripe/core/time.js';
import { signatureHeader } from '../../local/stripe/webhooks/sign.js';
import { applyBalance } from '../../local/stripe/billing/invoices.js';

describe('form decoding (Stripe bracket notation)', () => {
  const cases: Array<[string, string, unknown]> = [
    ['flat values', 'amount=2000&currency=usd', { amount: '2000', currency: 'usd' }],
    ['nested hash', 'metadata[userId]=u1&metadata[plan]=pro', { metadata: { userId: 'u1', plan: 'pro' } }],
    [
      'indexed array of objects',
      'items[0][price]=p1&items[1][price]=p2&items[1][quantity]=2',
      { items: [{ price: 'p1' }, { price: 'p2', quantity: '2' }] },
    ],
    ['empty-bracket array', 'expand[]=customer&expand[]=latest_charge', { expand: ['customer', 'latest_charge'] }],
    [
      'encoded brackets and plus',
      'expand%5B0%5D=latest_invoice.confirmation_secret&description=a+b%26c',
      { expand: ['latest_invoice.confirmation_secret'], description: 'a b&c' },
    ],
    ['empty value unsets', 'default_payment_method=', { default_payment_method: '' }],
    [
      'deep nesting',
      'subscription_details[items][0][id]=si_1&subscription_details[proration_behavior]=none',
      { subscription_details: { items: [{ id: 'si_1' }], proration_behavior: 'none' } },
    ],
  ];
  it.each(cases)('%s', (_name, body, expected) => {
    expect(parseForm(body)).toEqual(expected);
  });

  it('round-trips what it encodes', () => {
    const data = { a: '1', m: { k: 'v' }, list: [{ x: 'y' }], e: ['p', 'q'] };
    expect(parseForm(encodeForm(data))).toEqual(data);
  });
});

describe('billing periods', () => {
  const t = (iso: string) => Date.parse(iso) / 1000;
  it.each([
    ['2025-01-31T10:00:00Z', 1, '2025-02-28T10:00:00Z'],
    ['2025-01-31T10:00:00Z', 2, '2025-03-31T10:00:00Z'],
    ['2024-01-31T00:00:00Z', 1, '2024-02-29T00:00:00Z'],
    ['2025-11-15T08:30:00Z', 2, '2026-01-15T08:30:00Z'],
  ])('month %s + %i', (start, n, expected) => {
    expect(addIntervals(t(start), 'month', 1, n)).toBe(t(expected));
  });
});

describe('customer balance on invoices (negative = credit)', () => {
  it.each([
    [0, 1000, 1000, 0],
    [-300, 1000, 700, 0],
    [-3000, 1000, 0, -2000],
    [0, -500, 0, -500],
    [200, 1000, 1200, 0],
  ])('balance %i, total %i -> due %i, ending %i', (balance, total, due, ending) => {
    expect(applyBalance(balance, total)).toEqual({ amountDue: due, endingBalance: ending });
  });
});

describe('webhook signature', () => {
  const stripe = new Stripe('sk_test_x');
  const secret = 'whsec_abc123';
  const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'payment_intent.succeeded', data: { object: {} } });

  it('is accepted by stripe.webhooks.constructEvent', () => {
    const header = signatureHeader(payload, secret, Math.floor(Date.now() / 1000));
    expect(stripe.webhooks.constructEvent(payload, header, secret).id).toBe('evt_1');
  });

  it('matches the SDK test header generator', () => {
    const timestamp = 1_700_000_000;
    const ours = signatureHeader(payload, secret, timestamp);
    const theirs = stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
    expect(ours).toBe(theirs);
  });

  it('is rejected when stale (older than 300 s)', () => {
    const header = signatureHeader(payload, secret, Math.floor(Date.now() / 1000) - 301);
    expect(() => stripe.webhooks.constructEvent(payload, header, secret)).toThrow(/timestamp/i);
  });
});
