// Time-driven billing: renewals at period end, cancel_at, expiry of unpaid
// first invoices, and retries of failed renewals. Runs for a test clock when
// it advances, and for wall-clock customers on a timer.
import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { attemptInvoicePayment } from './invoice-payments.js';
import { currentPeriod } from './proration.js';
import { advanceSchedule } from './schedules.js';
import { cancelSubscription, expireSubscription, renewSubscription } from './subscriptions.js';
import { sendTrialWillEnd, trialWillEndAt } from './trials.js';

const INCOMPLETE_EXPIRY = 23 * 3600;

interface Due {
  at: number;
  run: () => void;
}

function subscriptionDue(engine: Engine, sub: Stripe.Subscription): Due | null {
  if (sub.status === 'incomplete') {
    return { at: sub.created + INCOMPLETE_EXPIRY, run: () => expireSubscription(engine, sub) };
  }
  if (sub.status !== 'active' && sub.status !== 'past_due' && sub.status !== 'trialing') return null;
  const end = currentPeriod(sub).end;
  const notice = trialWillEndAt(engine, sub);
  if (notice !== null && notice < end) return { at: notice, run: () => sendTrialWillEnd(engine, sub) };
  if (sub.cancel_at !== null && sub.cancel_at <= end) {
    return { at: sub.cancel_at, run: () => cancelSubscription(engine, sub, 'cancellation_requested') };
  }
  return {
    at: end,
    // A subscription schedule's next phase (e.g. a downgrade at period end) applies first.
    run: () =>
      advanceSchedule(engine, sub, end) === 'cancel'
        ? cancelSubscription(engine, sub, 'cancellation_requested')
        : renewSubscription(engine, sub),
  };
}

function invoiceDue(engine: Engine, invoice: Stripe.Invoice): Due | null {
  const at = invoice.next_payment_attempt;
  if (invoice.status !== 'open' || at === null) return null;
  return {
    at,
    run: () => {
      invoice.next_payment_attempt = null;
      attemptInvoicePayment(engine, invoice, { offSession: true });
    },
  };
}

function customerOf(x: { customer: string | { id: string } | null }): string | null {
  return typeof x.customer === 'string' ? x.customer : (x.customer?.id ?? null);
}

function nextDue(engine: Engine, inScope: (customer: string) => boolean, until: number): Due | null {
  let best: Due | null = null;
  const consider = (d: Due | null): void => {
    if (d && d.at <= until && (best === null || d.at < best.at)) best = d;
  };
  for (const sub of Object.values(engine.state.subscriptions)) {
    const c = customerOf(sub);
    if (c && inScope(c)) consider(subscriptionDue(engine, sub));
  }
  for (const invoice of Object.values(engine.state.invoices)) {
    const c = customerOf(invoice);
    if (c && inScope(c)) consider(invoiceDue(engine, invoice));
  }
  return best;
}

/**
 * Runs every billing action due up to `until`, earliest first. `setTime`
 * moves a test clock to each action's time so objects carry that time.
 */
export function runDue(engine: Engine, inScope: (customer: string) => boolean, until: number, setTime?: (t: number) => void): number {
  let count = 0;
  // A bound against a bug looping forever; years of monthly renewals fit well under it.
  for (; count < 10_000; count++) {
    const due = nextDue(engine, inScope, until);
    if (!due) break;
    setTime?.(due.at);
    due.run();
  }
  return count;
}
