// How money and dates read on the pages: US dollars, UTC calendar dates.
export const dollars = (cents: number) => (cents / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' });

export const day = (iso: string) => new Date(iso).toLocaleDateString('en-US', { dateStyle: 'medium', timeZone: 'UTC' });

export const monthName = (yyyyMm: string) =>
  new Date(`${yyyyMm}-01T00:00:00Z`).toLocaleDateString('en-US', { month: 'short', year: 'numeric', timeZone: 'UTC' });

/** A usage rate in micro-dollars as dollars, e.g. 500 per token -> "$0.0005". */
export const rate = (micros: number) => `$${(micros / 1_000_000).toFixed(micros % 1000 === 0 ? 3 : 4).replace(/0+$/, '').replace(/\.$/, '')}`;
