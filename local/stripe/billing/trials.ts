// Trials and pauses of subscriptions, as Stripe bills them:
// - `trial_period_days` / `trial_end` (a timestamp or `now`): the subscription
//   starts `trialing` with a $0 first invoice; its period (and billing cycle
//   anchor) ends with the trial. No card is needed during a trial.
// - `customer.subscription.trial_will_end` three days before the trial ends
//   (at once when less is left, and when `trial_end=now` ends it early).
// - At the trial end the first paid period is invoiced and charged; without a
//   card, `trial_settings[end_behavior][missing_payment_method]` decides:
//   `create_invoice` (default: the invoice stays open, the subscription goes
//   past_due), `pause` (status `paused`, `customer.subscription.paused`) or `cancel`.
// - `resume` restarts a paused subscription with a new period from now.
// - `pause_collection[behavior]` keeps the subscription active while its
//   renewal invoices stay drafts (`keep_as_draft`), are marked uncollectible
//   or voided, until `pause_collection[resumes_at]`.
import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { invalidParam, invalidRequest } from '../core/errors.js';
import type { Params } from '../core/params.js';

export const TRIAL_WILL_END_NOTICE = 3 * 86_400;
/** Stripe's limit on trial length. */
const MAX_TRIAL_DAYS = 730;

function customerOf(sub: Stripe.Subscription): string {
  return typeof sub.customer === 'string' ? sub.customer : sub.customer.id;
}

/** The trial end that `trial_end` / `trial_period_days` ask for (undefined: no trial asked). */
export function requestedTrialEnd(p: Params, now: number): number | undefined {
  if (p.has('trial_end') && p.has('trial_period_days')) {
    throw invalidRequest('You cannot set both trial_end and trial_period_days.', { param: 'trial_end' });
  }
  const days = p.int('trial_period_days');
  if (days !== undefined) {
    if (days < 0 || days > MAX_TRIAL_DAYS)
      throw invalidParam('trial_period_days', `trial_period_days must be between 0 and ${MAX_TRIAL_DAYS}.`);
    return days === 0 ? undefined : now + days * 86_400;
  }
  if (!p.has('trial_end')) return undefined;
  if (p.str('trial_end') === 'now') return now;
  const end = p.int('trial_end');
  if (end === undefined) throw invalidParam('trial_end', "trial_end must be a timestamp or 'now'.");
  if (end <= now) throw invalidParam('trial_end', 'Invalid timestamp: must be an integer Unix timestamp in the future.');
  if (end > now + MAX_TRIAL_DAYS * 86_400)
    throw invalidParam('trial_end', `trial_end can be at most ${MAX_TRIAL_DAYS} days in the future.`);
  return end;
}

export type MissingPaymentMethod = 'cancel' | 'create_invoice' | 'pause';

/** `trial_settings[end_behavior][missing_payment_method]`, if given. */
export function trialSettings(p: Params): MissingPaymentMethod | undefined {
  const settings = p.obj('trial_settings');
  if (!settings) return undefined;
  settings.only(['end_behavior']);
  const end = settings.obj('end_behavior');
  end?.only(['missing_payment_method']);
  return end?.oneOf('missing_payment_method', ['cancel', 'create_invoice', 'pause'] as const);
}

/** Puts a subscription (being created) in a trial ending at `end`. */
export function startTrial(sub: Stripe.Subscription, start: number, end: number): void {
  sub.status = 'trialing';
  sub.trial_start = start;
  sub.trial_end = end;
  sub.billing_cycle_anchor = end;
  for (const item of sub.items.data) {
    item.current_period_start = start;
    item.current_period_end = end;
  }
}

/** Has `trial_will_end` gone out for the subscription's current trial end? */
function noticeSent(engine: Engine, sub: Stripe.Subscription): boolean {
  return engine.state.links.trialWillEndSent[sub.id] === sub.trial_end;
}

export function sendTrialWillEnd(engine: Engine, sub: Stripe.Subscription): void {
  if (sub.trial_end === null || noticeSent(engine, sub)) return;
  engine.state.links.trialWillEndSent[sub.id] = sub.trial_end;
  engine.store.touch();
  engine.emit('customer.subscription.trial_will_end', sub);
}

/** When `trial_will_end` is due (three days before the end), or null once sent. */
export function trialWillEndAt(engine: Engine, sub: Stripe.Subscription): number | null {
  if (sub.status !== 'trialing' || sub.trial_end === null || noticeSent(engine, sub)) return null;
  return Math.max(sub.trial_start ?? sub.created, sub.trial_end - TRIAL_WILL_END_NOTICE);
}

/** The card the first paid invoice would be charged to. */
function cardFor(engine: Engine, sub: Stripe.Subscription): string | null {
  if (typeof sub.default_payment_method === 'string') return sub.default_payment_method;
  const pm = engine.state.customers[customerOf(sub)]?.invoice_settings.default_payment_method;
  return typeof pm === 'string' ? pm : null;
}

/**
 * The trial is over: what happens next. 'bill' means invoice and charge the
 * first paid period (the subscription is active from now on).
 */
export function endTrial(engine: Engine, sub: Stripe.Subscription): 'bill' | 'paused' | 'cancel' {
  sendTrialWillEnd(engine, sub);
  const missing = sub.trial_settings?.end_behavior.missing_payment_method ?? 'create_invoice';
  if (cardFor(engine, sub) === null && missing === 'pause') {
    sub.status = 'paused';
    engine.store.touch();
    return 'paused';
  }
  if (cardFor(engine, sub) === null && missing === 'cancel') return 'cancel';
  sub.status = 'active';
  return 'bill';
}

/** `pause_collection[behavior]` / `[resumes_at]`, or an empty value to clear it. */
export function applyPauseCollection(sub: Stripe.Subscription, p: Params, now: number): void {
  if (!p.has('pause_collection')) return;
  if (p.isEmpty('pause_collection')) {
    sub.pause_collection = null;
    return;
  }
  const pc = p.obj('pause_collection');
  if (!pc) return;
  pc.only(['behavior', 'resumes_at']);
  const behavior = pc.oneOf('behavior', ['keep_as_draft', 'mark_uncollectible', 'void'] as const);
  if (behavior === undefined)
    throw invalidRequest('Missing required param: pause_collection[behavior].', {
      code: 'parameter_missing',
      param: 'pause_collection[behavior]',
    });
  const resumes = pc.int('resumes_at');
  if (resumes !== undefined && resumes <= now) throw invalidParam('pause_collection[resumes_at]', 'resumes_at must be in the future.');
  sub.pause_collection = { behavior, resumes_at: resumes ?? null };
}

/** The pause in force for an invoice made at `at` (a pause past its `resumes_at` ends). */
export function collectionPause(sub: Stripe.Subscription, at: number): Stripe.Subscription.PauseCollection.Behavior | null {
  const pc = sub.pause_collection;
  if (!pc) return null;
  if (pc.resumes_at !== null && pc.resumes_at <= at) {
    sub.pause_collection = null;
    return null;
  }
  return pc.behavior;
}
