import { describe, expect, it } from 'vitest';
import { dollars, rate } from '@/app/_lib/format';
import { safeLocalPath } from '@/app/_lib/safe-path';

describe('page formatting', () => {
  it.each([
    [1000, '$0.001'],
    [500, '$0.0005'],
    [200, '$0.0002'],
    [100_000, '$0.10'],
    [50_000, '$0.05'],
    [20_000, '$0.02'],
    [1_500_000, '$1.50'],
  ])('shows a rate of %i micro-dollars as %s', (micros, text) => {
    expect(rate(micros)).toBe(text);
  });

  it('shows cents as dollars', () => {
    expect([dollars(0), dollars(1550), dollars(5_000_000)]).toEqual(['$0.00', '$15.50', '$50,000.00']);
  });
});

describe('safe local paths', () => {
  // Query values arrive decoded (`?next=/%5Cevil` reads as `/\evil`), so these are the decoded forms.
  it.each(['/', '/billing', '/billing/checkout?paymentIntent=pi_1&reason=usage-limit', '/admin/billing', '/%5Cstays-encoded'])(
    'accepts %s',
    (path) => {
      expect(safeLocalPath(path)).toBe(path);
    },
  );
  it.each(['//evil.example', '/\\evil.example', '/\t/evil.example', '/ evil', 'https://evil.example', 'evil', '', null])(
    'refuses %j',
    (path) => {
      expect(safeLocalPath(path, '/fallback')).toBe('/fallback');
    },
  );
});
