// The clock of every customer without a test clock: the wall clock plus an
// offset that `/_local/clock/advance` moves forward (persisted with the state),
// so `npm run dev` can see a month of renewals, retries and expiries in seconds.
import type { Engine } from '../engine.js';
import { addIntervals, wallClock } from '../core/time.js';
import type { Delivery, WebhookDispatcher } from '../webhooks/dispatcher.js';
import { runDue } from './cycle.js';

export interface ClockAdvance {
  /** Seconds the wall-clock customers' time now runs ahead of the real clock. */
  offset: number;
  /** Their current time (unix seconds). */
  now: number;
  /** Billing actions run (renewals, retries, expiries, cancellations...). */
  ran: number;
  /** Events emitted by those actions, oldest first. */
  events: Array<{ id: string; type: string }>;
  /** First delivery attempts of those events: how many endpoints answered 2xx, how many did not. */
  deliveries: { ok: number; failed: number };
}

const isWallClockCustomer = (engine: Engine) => (customer: string) => !engine.state.customers[customer]?.test_clock;

/** Runs what is due by the (shifted) wall clock now: the periodic sweep. */
export function runWallClockBilling(engine: Engine): number {
  return runDue(engine, isWallClockCustomer(engine), engine.wallNow());
}

/**
 * Moves the wall-clock customers' time forward by `seconds`, running every
 * action due on the way at its own time (objects carry that time), like a
 * test clock advance for everyone without one.
 */
export function advanceWallClock(engine: Engine, seconds: number): { ran: number; eventIds: string[] } {
  const before = new Set(Object.keys(engine.state.events));
  const target = engine.wallNow() + seconds;
  const ran = runDue(engine, isWallClockCustomer(engine), target, (t) => {
    // Never backwards: something overdue before the advance runs at the current time.
    engine.state.clockOffset = Math.max(engine.state.clockOffset, t - wallClock());
  });
  engine.state.clockOffset += target - engine.wallNow();
  engine.store.touch();
  const eventIds = Object.keys(engine.state.events).filter((id) => !before.has(id));
  return { ran, eventIds };
}

/**
 * Resolves when every listed event has had its first delivery attempt at each
 * endpoint it was sent to (or after `timeoutMs`), with the attempts' outcomes.
 */
export function firstAttempts(
  engine: Engine,
  dispatcher: WebhookDispatcher,
  eventIds: string[],
  timeoutMs: number,
): Promise<{ ok: number; failed: number }> {
  const expected = new Map<string, number>();
  for (const id of eventIds) {
    const n = engine.state.events[id]?.pending_webhooks ?? 0;
    if (n > 0) expected.set(id, n);
  }
  const seen: Delivery[] = dispatcher.log.filter((d) => d.attempt === 1 && expected.has(d.eventId));
  const complete = () => [...expected].every(([id, n]) => seen.filter((d) => d.eventId === id).length >= n);
  const tally = () => ({ ok: seen.filter((d) => d.ok).length, failed: seen.filter((d) => !d.ok).length });
  if (complete()) return Promise.resolve(tally());
  return new Promise((resolve) => {
    const finish = () => {
      stop();
      clearTimeout(timer);
      resolve(tally());
    };
    const stop = dispatcher.onDelivery((d) => {
      if (d.attempt === 1 && expected.has(d.eventId)) seen.push(d);
      if (complete()) finish();
    });
    const timer = setTimeout(finish, timeoutMs);
  });
}

/** Advance, then wait for the resulting webhooks' first delivery attempts. */
export async function advanceAndDeliver(
  engine: Engine,
  dispatcher: WebhookDispatcher,
  seconds: number,
  timeoutMs = 60_000,
): Promise<ClockAdvance> {
  const { ran, eventIds } = engine.transaction(() => advanceWallClock(engine, seconds));
  const deliveries = await firstAttempts(engine, dispatcher, eventIds, timeoutMs);
  return {
    offset: engine.state.clockOffset,
    now: engine.wallNow(),
    ran,
    events: eventIds.map((id) => ({ id, type: engine.state.events[id]?.type ?? '' })),
    deliveries,
  };
}

/**
 * `1month`, `7days`, `2h`, `90s`, `1w`, `1y` -> seconds from `now`. Months and
 * years are calendar ones counted from `now` (Jan 31 + 1 month = Feb 28), so
 * `1month` reaches a monthly renewal anchored today.
 */
export function durationSeconds(text: string, now: number): number | null {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const fixed: Array<[RegExp, number]> = [
    [/^(|s|secs?|seconds?)$/, 1],
    [/^(m|mins?|minutes?)$/, 60],
    [/^(h|hrs?|hours?)$/, 3600],
    [/^(d|days?)$/, 86_400],
    [/^(w|weeks?)$/, 7 * 86_400],
  ];
  for (const [re, mult] of fixed) if (re.test(unit)) return n * mult;
  if (/^(mo|months?)$/.test(unit)) return addIntervals(now, 'month', 1, n) - now;
  if (/^(y|years?)$/.test(unit)) return addIntervals(now, 'year', 1, n) - now;
  return null;
}
