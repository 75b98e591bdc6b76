import { z } from 'zod';

// A dollar amount typed into a form (server actions): plain decimal digits with at most two
// places, nothing else (no hex `0x10`, no exponent `1e3`, no sign, no `Infinity`, which
// `Number()` would all accept). The number it gives is then checked and converted by the API's
// own money schema (`createPaymentIntentBodySchema`, `setBudgetBodySchema`), so forms and the
// API accept exactly the same amounts.
export const formDollarsSchema = z
  .string({ error: 'Enter an amount' })
  .trim()
  .regex(/^\d{1,9}(?:\.\d{1,2})?$/, { error: 'Enter an amount in dollars, with at most two decimals' })
  .transform(Number);

/** The form field as the number the API schema expects, or undefined when it is not a plain amount. */
export function formDollars(value: FormDataEntryValue | null): number | undefined {
  const parsed = formDollarsSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
