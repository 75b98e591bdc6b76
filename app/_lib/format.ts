// How money and dates read on the pages: US dollars, UTC calendar dates.
export const dollars = (cents: number | string) => {
  if (typeof cents === 'number') return (cents / 100).toLocaleString('en-US', { style: 'currency', currency: 'USD' });
  // An exact sum beyond 2^53 (lib/billing/money.ts ExactInt), formatted without a float.
  const value = BigInt(cents);
  const abs = value < 0n ? -value : value;
  return `${value < 0n ? '-' : ''}$${(abs / 100n).toLocaleString('en-US')}.${(abs % 100n).toString().padStart(2, '0')}`;
};

export const day = (iso: string) => new Date(iso).toLocaleDateString('en-US', { dateStyle: 'medium', timeZone: 'UTC' });

const dayFormat = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeZone: 'UTC' });

/** Two UTC dates as one range, the shared parts said once: "Nov 1 – Dec 1, 2026" (plain spaces). */
export const dayRange = (startIso: string, endIso: string) =>
  dayFormat.formatRange(new Date(startIso), new Date(endIso)).replace(/\u2009/g, ' ');

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

export const minutes = (executionMs: number) => (executionMs / 60_000).toLocaleString('en-US', { maximumFractionDigits: 1 });

/** Micro-dollars as dollars, to the micro-dollar when a cent is too coarse: 1_350_000 -> "$1.35", 5_833 -> "$0.005833". */
export function microDollars(micros: number): string {
  const whole = Math.floor(micros / 1_000_000);
  const fraction = String(micros % 1_000_000)
    .padStart(6, '0')
    .replace(/0+$/, '')
    .padEnd(2, '0');
  return `$${whole.toLocaleString('en-US')}.${fraction}`;
}

/** A moment as a UTC date and time, to the second. */
export const moment = (iso: string) =>
  `${new Date(iso).toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'UTC', hourCycle: 'h23' })} UTC`;

const BRANDS: Record<string, string> = {
  visa: 'Visa',
  mastercard: 'Mastercard',
  amex: 'American Express',
  discover: 'Discover',
  diners: 'Diners Club',
  jcb: 'JCB',
  unionpay: 'UnionPay',
};
/** A card brand as people write it (Stripe's `visa` -> Visa). */
export const brandName = (brand: string) => BRANDS[brand] ?? brand.charAt(0).toUpperCase() + brand.slice(1);
