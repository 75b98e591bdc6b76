// How money and dates read on the pages: US dollars, UTC calendar dates.
export const dollars = (cents: number) => (cents / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' });

export const day = (iso: string) => new Date(iso).toLocaleDateString('en-US', { dateStyle: 'medium', timeZone: 'UTC' });

export const monthName = (yyyyMm: string) =>
  new Date(`${yyyyMm}-01T00:00:00Z`).toLocaleDateString('en-US', { month: 'short', year: 'numeric', timeZone: 'UTC' });

/** A usage rate in micro-dollars as dollars, at least to the cent: 500 -> "$0.0005", 100000 -> "$0.10". */
export function rate(micros: number): string {
  const [whole, fraction = ''] = (micros / 1_000_000).toFixed(6).split('.');
  return `$${whole}.${fraction.replace(/0+$/, '').padEnd(2, '0')}`;
}

export const count = (value: number) => value.toLocaleString('en-US');

/** A 0..1 ratio as a percentage with one decimal, or null when there was nothing to divide. */
export const percent = (ratio: number | null) => (ratio === null ? null : `${(ratio * 100).toFixed(1)}%`);

export const minutes = (executionMs: number) =>
  (executionMs / 60_000).toLocaleString('en-US', { maximumFractionDigits: 1 });
