import type { Delivery } from './dispatcher.js';

/** One `stripe listen`-style log line. */
export function formatDelivery(d: Delivery): string {
  const time = new Date(d.at).toISOString().replace('T', ' ').slice(0, 19);
  const outcome = d.status !== null ? `[${d.status}]` : `[ERR ${d.error ?? 'failed'}]`;
  const retry =
    d.retryInMs !== undefined
      ? ` (attempt ${d.attempt}, retry in ${Math.round(d.retryInMs / 1000)}s)`
      : d.attempt > 1
        ? ` (attempt ${d.attempt})`
        : '';
  return `${time}  --> ${d.type} [${d.eventId}]  <-- ${outcome} POST ${d.url} ${d.durationMs}ms${retry}`;
}
