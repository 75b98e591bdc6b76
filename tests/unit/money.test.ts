import { describe, expect, it } from 'vitest';
import { dollarAmountToMicros, dollarsToUnits, microsToCentsCeil, microsToCentsFloor } from '@/lib/billing/money';
import { taskCostMicros } from '@/lib/billing/cost';
import { PLANS } from '@/lib/billing/plans';

describe('dollar amounts', () => {
  const estimatedCost = dollarAmountToMicros({ maxDecimals: 6, min: 0, max: 10_000, name: 'estimatedCost' });
  const amount = dollarAmountToMicros({ maxDecimals: 2, min: 0.5, max: 10_000, name: 'amount' });

  it.each([
    [15.5, 15_500_000],
    [0.000001, 1],
    [25, 25_000_000],
    [0.1, 100_000],
    [9_999.999999, 9_999_999_999],
  ])('converts %d dollars to %i micro-dollars exactly', (dollars, micros) => {
    expect(estimatedCost.parse(dollars)).toBe(micros);
  });

  it('converts two-decimal amounts exactly, including values binary floats cannot hold', () => {
    expect(amount.parse(15.5)).toBe(15_500_000);
    expect(amount.parse(0.57)).toBe(570_000); // 0.57 * 100 = 56.99999999999999 in floats
    expect(amount.parse(1.13)).toBe(1_130_000);
  });

  it.each([0.1 + 0.2, 1.005, 0.0000001, Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects %d (more precision than allowed, or not finite)',
    (value) => {
      expect(amount.safeParse(value).success).toBe(false);
    },
  );

  it('reports the number of decimal places it found', () => {
    expect(dollarsToUnits(12.345, 2)).toBeNull();
    expect(dollarsToUnits(12.34, 2)).toBe(1234);
  });

  it('rounds remaining money down and needed money up', () => {
    expect(microsToCentsFloor(10_999)).toBe(1);
    expect(microsToCentsCeil(10_001)).toBe(2);
    expect(microsToCentsCeil(10_000)).toBe(1);
  });
});

describe('task cost', () => {
  it('has no rounding leakage on tokens: 10,000 one-token Pro tasks are exactly $5.00', () => {
    let total = 0;
    for (let i = 0; i < 10_000; i++) total += taskCostMicros(PLANS.pro, 1, 0);
    expect(total).toBe(5_000_000);
  });

  it('rounds execution time half up to the micro-dollar', () => {
    expect(taskCostMicros(PLANS.starter, 0, 1)).toBe(2); // 1.67
    expect(taskCostMicros(PLANS.pro, 0, 1)).toBe(1); // 0.83
    expect(taskCostMicros(PLANS.enterprise, 0, 1)).toBe(0); // 0.33
    expect(taskCostMicros(PLANS.pro, 0, 60_000)).toBe(50_000);
  });
});
