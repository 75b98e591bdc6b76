import { z } from 'zod';

// Exact conversions between the public dollar amounts of the specification (`"amount": 15.50`)
// and the integers the system computes with. No floating-point arithmetic touches money: a
// number is accepted only if it is exactly what its `maxDecimals`-digit decimal form says.

export const MICROS_PER_DOLLAR = 1_000_000;
export const MICROS_PER_CENT = 10_000;

/** Integer units of 10^-maxDecimals dollars, or null if `value` has more precision than that. */
export function dollarsToUnits(value: number, maxDecimals: number): number | null {
  if (!Number.isFinite(value)) return null;
  const fixed = value.toFixed(maxDecimals);
  if (Number(fixed) !== value) return null;
  const units = Number(fixed.replace('.', ''));
  return Number.isSafeInteger(units) ? units : null;
}

interface DollarAmountOptions {
  maxDecimals: 2 | 6;
  /** Smallest accepted amount in dollars (inclusive). */
  min: number;
  /** Largest accepted amount in dollars (inclusive). */
  max: number;
  name: string;
}

/** A dollar amount from JSON, validated and converted to integer micro-dollars. */
export function dollarAmountToMicros({ maxDecimals, min, max, name }: DollarAmountOptions) {
  const unitsToMicros = MICROS_PER_DOLLAR / 10 ** maxDecimals;
  return z
    .number({ error: `${name} must be a number of dollars` })
    .refine((value) => value >= min && value <= max, {
      error: `${name} must be between ${min} and ${max} dollars`,
      abort: true,
    })
    .refine((value) => dollarsToUnits(value, maxDecimals) !== null, {
      error: `${name} must have at most ${maxDecimals} decimal places`,
    })
    .transform((value) => (dollarsToUnits(value, maxDecimals) ?? 0) * unitsToMicros);
}

/** Whole cents a user still has: rounded down, so we never show money they cannot spend. */
export const microsToCentsFloor = (micros: number) => Math.floor(micros / MICROS_PER_CENT);
/** Whole cents needed to cover an amount: rounded up, so a payment always covers it. */
export const microsToCentsCeil = (micros: number) => Math.ceil(micros / MICROS_PER_CENT);

/** A dollar amount from JSON with at most two decimals, validated and converted to integer cents. */
export function dollarAmountToCents(options: Omit<DollarAmountOptions, 'maxDecimals'>) {
  return dollarAmountToMicros({ ...options, maxDecimals: 2 }).transform((micros) => micros / MICROS_PER_CENT);
}

/** Integer cents as the specification's dollar number (1550 -> 15.5). */
export const centsToDollars = (cents: number) => cents / 100;

// ---- money sums beyond 2^53 ------------------------------------------------------------------
// A sum of micro-dollars (a month of usage, an operator's total) can pass 2^53, where a JavaScript
// number stops being exact (issue 15). Such values are read from SQL as text, computed with as
// bigint, and sent as an ExactInt: a JSON number while it is a safe integer, else its exact
// decimal string. Cents derived from one bigint column are always below 2^63 / 10^4 < 2^53.

export type ExactInt = number | string;

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MICROS_PER_CENT_BIG = BigInt(MICROS_PER_CENT);

/** A bigint as a JSON-safe exact integer. */
export function exactInt(value: bigint): ExactInt {
  return value <= SAFE && value >= -SAFE ? Number(value) : value.toString();
}

/** An integer from SQL (text, number or bigint) as a bigint. */
export const toBig = (value: string | number | bigint | null | undefined): bigint =>
  value === null || value === undefined ? 0n : BigInt(value);

/** Whole cents, rounded down (floor, also for negative amounts). */
export function bigMicrosToCentsFloor(micros: bigint): bigint {
  const quotient = micros / MICROS_PER_CENT_BIG;
  return micros % MICROS_PER_CENT_BIG !== 0n && micros < 0n ? quotient - 1n : quotient;
}

/** Whole cents, rounded up (ceiling, also for negative amounts). */
export function bigMicrosToCentsCeil(micros: bigint): bigint {
  const quotient = micros / MICROS_PER_CENT_BIG;
  return micros % MICROS_PER_CENT_BIG !== 0n && micros > 0n ? quotient + 1n : quotient;
}
