// Typed helpers for the local Stripe's control endpoints (/_local/*), usable
// from tests or scripts in another process than the server.
import type Stripe from 'stripe';
import type { FaultSpec } from './http/faults.js';
import type { TriggerOptions, TriggerResult } from './triggers.js';
import type { Chaos, Delivery } from './webhooks/dispatcher.js';
import type { ClockAdvance } from './billing/wall-clock.js';

export type { FaultSpec, Chaos, Delivery, TriggerOptions, TriggerResult, ClockAdvance };

async function call<T>(baseUrl: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as T & { error?: { message?: string } };
  if (!res.ok) throw new Error(`local Stripe ${method} ${path}: ${res.status} ${json.error?.message ?? ''}`);
  return json;
}

/** The next `count` matching /v1 calls answer 500, 429 or never answer. */
export async function injectFault(baseUrl: string, spec: FaultSpec): Promise<void> {
  await call(baseUrl, 'POST', '/_local/faults', spec);
}

export async function clearFaults(baseUrl: string): Promise<void> {
  await call(baseUrl, 'DELETE', '/_local/faults');
}

export async function setWebhookChaos(baseUrl: string, chaos: Partial<Chaos>): Promise<Chaos> {
  return call<Chaos>(baseUrl, 'POST', '/_local/webhooks/chaos', chaos);
}

/** Resolves when every queued webhook delivery (and retry) has finished. */
export async function webhooksIdle(baseUrl: string): Promise<void> {
  await call(baseUrl, 'GET', '/_local/webhooks/idle');
}

/** Deliveries logged after sequence number `after`, waiting up to `waitMs` for the first. */
export async function deliveries(baseUrl: string, after = 0, waitMs = 0): Promise<Delivery[]> {
  const r = await call<{ deliveries: Delivery[] }>(baseUrl, 'GET', `/_local/deliveries?after=${after}&wait=${waitMs}`);
  return r.deliveries;
}

export async function trigger(baseUrl: string, event: string, opts: TriggerOptions = {}): Promise<TriggerResult> {
  return call<TriggerResult>(baseUrl, 'POST', '/_local/trigger', { event, ...opts });
}

export async function resendEvent(baseUrl: string, eventId: string): Promise<void> {
  await call(baseUrl, 'POST', `/_local/events/${encodeURIComponent(eventId)}/resend`);
}

/** Answers the 3-D Secure challenge of an intent in `requires_action`, as the stand-in's dialog does. */
export async function completeAuthentication(
  baseUrl: string,
  clientSecret: string,
  outcome: 'succeed' | 'fail' = 'succeed',
): Promise<Stripe.PaymentIntent> {
  const id = clientSecret.split('_secret_')[0] ?? '';
  return call<Stripe.PaymentIntent>(baseUrl, 'POST', `/_local/3ds/${id}/complete`, { client_secret: clientSecret, outcome });
}

/** The clock of customers without a test clock: its offset from the real clock and its time. */
export async function clock(baseUrl: string): Promise<{ offset: number; now: number }> {
  return call(baseUrl, 'GET', '/_local/clock');
}

/** Moves that clock forward; resolves once the resulting webhooks had their first delivery attempt. */
export async function advanceClock(baseUrl: string, seconds: number): Promise<ClockAdvance> {
  return call<ClockAdvance>(baseUrl, 'POST', '/_local/clock/advance', { seconds });
}

/** The customer's bank disputes a succeeded charge (`charge.dispute.created`, then `funds_withdrawn` unless an inquiry). */
export async function disputeCharge(
  baseUrl: string,
  chargeId: string,
  opts: { amount?: number; reason?: string; inquiry?: boolean } = {},
): Promise<Stripe.Dispute> {
  return call<Stripe.Dispute>(baseUrl, 'POST', `/_local/charges/${encodeURIComponent(chargeId)}/dispute`, opts);
}
