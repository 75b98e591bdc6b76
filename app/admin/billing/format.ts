// Display formats of the operators' page (US English, amounts in US dollars, dates in UTC).

export const dollars = (cents: number) => (cents / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' });

/** `2026-11` -> `Nov 2026`. */
export const monthName = (month: string) =>
  new Date(`${month}-01T00:00:00Z`).toLocaleDateString('en-US', { month: 'short', year: 'numeric', timeZone: 'UTC' });

export const count = (value: number) => value.toLocaleString('en-US');

/** A 0..1 ratio as a percentage with one decimal, or null when there was nothing to divide. */
export const percent = (ratio: number | null) => (ratio === null ? null : `${(ratio * 100).toFixed(1)}%`);

export const minutes = (executionMs: number) =>
  (executionMs / 60_000).toLocaleString('en-US', { maximumFractionDigits: 1 });
