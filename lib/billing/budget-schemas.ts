import { z } from 'zod';
import { dollarAmountToMicros, MICROS_PER_CENT } from '@/lib/billing/money';

// Request and answer schemas of the user's monthly budget (PUT / GET / DELETE
// /api/payments/budget), shared by the route, the billing pages and the tests. The budget is a
// dollar amount with at most two decimals, converted exactly to integer cents; unknown fields are
// rejected. Answers are parsed through `budgetStateSchema` on the way out.

export const MIN_BUDGET_DOLLARS = 1;
export const MAX_BUDGET_DOLLARS = 1_000_000;

export const setBudgetBodySchema = z.strictObject({
  // Two decimals are whole micro-dollar multiples of a cent, so the division is exact.
  monthlyBudget: dollarAmountToMicros({
    maxDecimals: 2,
    min: MIN_BUDGET_DOLLARS,
    max: MAX_BUDGET_DOLLARS,
    name: 'monthlyBudget',
  }).transform((micros) => micros / MICROS_PER_CENT),
});

export type SetBudgetBody = z.output<typeof setBudgetBodySchema>;

const int = z.number().int();

export const budgetStateSchema = z.object({
  /** Null when the user has no budget. */
  monthlyBudgetCents: int.nullable(),
  /** Usage cost committed in the period in force, rounded up to the cent. */
  usageCents: int,
  /** Usage as a percentage of the budget, one decimal; null without a budget. */
  percentUsed: z.number().nullable(),
  /** `warning` from 80% of the budget, `exceeded` from 100%; `ok` without a budget. */
  alertState: z.enum(['ok', 'warning', 'exceeded']),
  periodStart: z.string(),
  periodEnd: z.string(),
});

export type BudgetState = z.output<typeof budgetStateSchema>;
