export type Interval = 'day' | 'week' | 'month' | 'year';

export function wallClock(): number {
  return Math.floor(Date.now() / 1000);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/**
 * The time `n` intervals after `anchor`, computed from the anchor each time so
 * month ends do not drift (Jan 31 -> Feb 28 -> Mar 31), as Stripe bills.
 */
export function addIntervals(anchor: number, interval: Interval, count: number, n: number): number {
  const steps = count * n;
  if (interval === 'day') return anchor + steps * 86_400;
  if (interval === 'week') return anchor + steps * 7 * 86_400;
  const d = new Date(anchor * 1000);
  const months = interval === 'year' ? steps * 12 : steps;
  const total = d.getUTCMonth() + months;
  const year = d.getUTCFullYear() + Math.floor(total / 12);
  const month = ((total % 12) + 12) % 12;
  const day = Math.min(d.getUTCDate(), daysInMonth(year, month));
  return Math.floor(Date.UTC(year, month, day, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) / 1000);
}

/** The first period boundary strictly after `after`, counting from `anchor`. */
export function nextBoundary(anchor: number, interval: Interval, count: number, after: number): number {
  for (let n = 1; ; n++) {
    const t = addIntervals(anchor, interval, count, n);
    if (t > after) return t;
  }
}

export function formatDate(t: number): string {
  return new Date(t * 1000).toLocaleDateString('en-US', {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    timeZone: 'UTC',
  });
}
