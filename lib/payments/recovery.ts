import { asActor, type Actor } from '@/lib/auth/actor';
import type { Database } from '@/lib/db';
import { PLANS, type PlanId } from '@/lib/billing/plans';
import { AppError } from '@/lib/http/errors';
import type { PaymentMethodAnswer } from '@/lib/payments/payment-method-schemas';
import { listPaymentMethods, makeDefault, ownCard, readBilling, retrieveOrNull, withCardLock } from '@/lib/payments/payment-methods';
import { isStripeError, stripe, type Stripe } from '@/lib/stripe/client';
import { stripeCall, toAppError } from '@/lib/stripe/errors';
import { customerIdOf, idOf, paymentIntentIdsOfInvoice } from '@/lib/stripe/mapping';

// Recovery from a failed renewal. When Stripe cannot charge a renewal, the subscription turns
// past_due and the invoice stays open while Stripe retries on its schedule. The dashboard says so
// (amount, next retry) and offers one action: pick a saved card or add one, and pay the open
// invoice at once. Paying sends `invoice.paid`, whose webhook makes the card that paid the
// default (adoptCardThatPaid), so the next renewals use it and not the card that failed, then
// starts the new usage period and makes the subscription active again, as after any paid renewal.
//
// Allowance while past due (the grace): the usage period moves only when its invoice is paid, so
// until then the user's tasks keep drawing on what is left of the last paid period's allowance,
// and on their credits. Nothing new is granted on an unpaid invoice, and nothing is taken away.
// After Stripe's last retry the subscription is canceled: the user is back on Starter's free
// allowance from then on; their credits and their usage history stay.

export interface PastDue {
  subscriptionId: string;
  planId: PlanId;
  planName: string;
  invoiceId: string;
  amountDueCents: number;
  attemptCount: number;
  /** When Stripe tries again by itself; null when it will not (or cannot be asked now). */
  nextRetryAt: string | null;
}

interface PastDueRow {
  subscription_id: string;
  plan_id: PlanId;
  invoice_id: string;
  amount_due_cents: number;
  attempt_count: number;
}

/** The user's past-due subscription and its open invoice, or null when nothing is owed. */
export async function getPastDue(db: Database, actor: Actor): Promise<PastDue | null> {
  const row = await asActor(db, actor, async (tx) => {
    const found = await tx.query<PastDueRow>(
      `select s.id as subscription_id, s.plan_id, i.id as invoice_id, i.amount_due_cents - i.amount_paid_cents as amount_due_cents, i.attempt_count
       from public.subscriptions s
       join public.invoices i on i.subscription_id = s.id and i.user_id = s.user_id and i.status = 'open'
       where s.user_id = $1 and s.status in ('past_due', 'unpaid')
       order by i.stripe_created desc limit 1`,
      [actor.userId],
    );
    return found.rows[0] ?? null;
  });
  if (!row) return null;
  // The retry date lives at Stripe; the notice still shows without it.
  const invoice = await retrieveOrNull(() => stripe().invoices.retrieve(row.invoice_id)).catch(() => null);
  return {
    subscriptionId: row.subscription_id,
    planId: row.plan_id,
    planName: PLANS[row.plan_id].name,
    invoiceId: row.invoice_id,
    amountDueCents: row.amount_due_cents,
    attemptCount: row.attempt_count,
    nextRetryAt: invoice?.next_payment_attempt ? new Date(invoice.next_payment_attempt * 1000).toISOString() : null,
  };
}

const minute = () => Math.floor(Date.now() / 60_000);

/**
 * Pays the open invoice of the user's past-due subscription with one of their saved cards. A
 * double click pays once: the same card within the same minute reaches Stripe with the same
 * idempotency key, and Stripe refuses to pay a paid invoice. The card becomes the default through
 * the `invoice.paid` webhook (adoptCardThatPaid), so it does even when this call's answer is lost.
 */
export async function payPastDueInvoice(
  db: Database,
  actor: Actor,
  input: { invoiceId: string; paymentMethodId: string },
): Promise<{ invoiceId: string; status: string }> {
  const pastDue = await getPastDue(db, actor);
  if (!pastDue || pastDue.invoiceId !== input.invoiceId) {
    throw new AppError('not_found', 'You have no unpaid invoice with that id. It may have been paid already.');
  }
  const billing = await asActor(db, actor, (tx) => readBilling(tx, actor.userId));
  if (!billing.customerId) throw new AppError('not_found', 'That card is not one of yours.');
  await ownCard(billing.customerId, input.paymentMethodId);
  try {
    const invoice = await stripe().invoices.pay(
      input.invoiceId,
      // Off-session: the cards here were saved for later payments (a SetupIntent with usage
      // off_session, or a first payment that saved the card), so the bank's authentication
      // already done then covers this charge; asking again would fail a card such as 3155.
      { payment_method: input.paymentMethodId, off_session: true },
      { idempotencyKey: `invoice-pay:${input.invoiceId}:${input.paymentMethodId}:${minute()}` },
    );
    return { invoiceId: invoice.id, status: invoice.status ?? 'open' };
  } catch (error) {
    if (isStripeError(error, 'StripeCardError')) {
      throw new AppError(
        'unprocessable',
        error.decline_code === 'insufficient_funds'
          ? 'Your card has insufficient funds, so the invoice was not paid. Try another card.'
          : 'Your card was declined, so the invoice was not paid. Try another card or contact your bank.',
        { cause: error, details: { declineCode: error.decline_code ?? error.code ?? null } },
      );
    }
    if (isStripeError(error, 'StripeError') && error.code === 'invoice_payment_intent_requires_action') {
      throw new AppError(
        'unprocessable',
        'Your bank asks you to confirm this payment. Add the card again to confirm it with your bank, or use another card.',
        {
          cause: error,
          details: { declineCode: 'authentication_required' },
        },
      );
    }
    if (isStripeError(error, 'StripeInvalidRequestError') && error.code === 'invoice_already_paid') {
      // A double click, or Stripe's own retry got there first.
      return { invoiceId: input.invoiceId, status: 'paid' };
    }
    throw toAppError(error);
  }
}

/** The PaymentIntents of an invoice's payments (all of them, paid or not), oldest first. */
async function intentsOfInvoice(invoiceId: string): Promise<string[]> {
  const invoice = await stripeCall(() => stripe().invoices.retrieve(invoiceId, { expand: ['payments'] }));
  return (invoice.payments?.data ?? []).map((payment) => idOf(payment.payment.payment_intent)).filter((id): id is string => id !== null);
}

/** The cards declined for an invoice so far (its automatic attempts and the user's), by id. */
export async function cardsThatFailed(invoiceId: string): Promise<Set<string>> {
  const failed = new Set<string>();
  for (const intentId of await intentsOfInvoice(invoiceId)) {
    const charges = await stripeCall(() => stripe().charges.list({ payment_intent: intentId, limit: 100 }));
    for (const charge of charges.data) {
      const card = idOf(charge.payment_method);
      if (charge.status === 'failed' && card) failed.add(card);
    }
  }
  return failed;
}

export type RecoveryCard = PaymentMethodAnswer & { failed: boolean; expired: boolean };

/** A card is usable to pay the renewal when it has not expired and was not declined for it. */
const usable = (card: RecoveryCard) => !card.failed && !card.expired;

/**
 * The saved cards offered on "Update card and pay", each marked when it was declined for this
 * renewal or has expired, and the one to preselect: the default card when it is usable, else the
 * most recently added usable card, else none (the user picks or adds one).
 */
export async function recoveryCards(
  db: Database,
  actor: Actor,
  pastDue: PastDue,
  now = new Date(),
): Promise<{ cards: RecoveryCard[]; preselectedId: string | null }> {
  const [saved, failed] = await Promise.all([listPaymentMethods(db, actor), cardsThatFailed(pastDue.invoiceId)]);
  const month = now.getUTCFullYear() * 12 + now.getUTCMonth() + 1;
  const cards = saved.map((card) => ({ ...card, failed: failed.has(card.id), expired: card.expYear * 12 + card.expMonth < month }));
  // listPaymentMethods puts the default first, then the newest first.
  const preselected = cards.find((card) => card.isDefault && usable(card)) ?? cards.find((card) => !card.isDefault && usable(card));
  return { cards, preselectedId: preselected?.id ?? null };
}

/**
 * After a renewal that had failed is paid with another saved card, that card pays the renewals
 * that follow: it becomes the default of the subscription and of the customer. Whichever way the
 * invoice was paid ("Update card and pay", a payment whose answer was lost, Stripe's hosted
 * invoice page), `invoice.paid` comes, and its webhook calls this before its transaction (a
 * failure here fails the event, which Stripe then delivers again). Only for the subscription's
 * latest invoice, so a late or replayed event of an older one changes nothing, and only for a card
 * saved on the customer (a one-off card cannot pay later renewals). Returns the card made the
 * default and the one it replaced, or null when nothing changed.
 */
export async function adoptCardThatPaid(
  db: Database,
  invoice: Stripe.Invoice,
  subscription: Stripe.Subscription,
): Promise<{ paymentMethodId: string; previousId: string | null } | null> {
  const recoveredRenewal = invoice.status === 'paid' && invoice.billing_reason === 'subscription_cycle' && invoice.attempt_count > 1;
  if (!recoveredRenewal || idOf(subscription.latest_invoice) !== invoice.id) return null;
  if (!['active', 'trialing', 'past_due'].includes(subscription.status)) return null;
  const customerId = customerIdOf(invoice);
  if (!customerId) return null;
  const paid = await stripeCall(() => stripe().invoices.retrieve(invoice.id, { expand: ['payments'] }));
  const intentId = paymentIntentIdsOfInvoice(paid).at(-1);
  if (!intentId) return null;
  const intent = await stripeCall(() => stripe().paymentIntents.retrieve(intentId));
  const cardId = idOf(intent.payment_method);
  if (!cardId) return null;
  const failed = await cardsThatFailed(invoice.id);
  // Under the card lock, and reading the defaults there: the user's own changes come first.
  return withCardLock(db, customerId, async () => {
    const [card, customer] = await Promise.all([
      retrieveOrNull(() => stripe().paymentMethods.retrieve(cardId)),
      stripeCall(() => stripe().customers.retrieve(customerId, { expand: ['invoice_settings.default_payment_method'] })),
    ]);
    if (!card || idOf(card.customer) !== customerId || ('deleted' in customer && customer.deleted)) return null;
    const current = 'deleted' in customer ? null : customer.invoice_settings?.default_payment_method;
    const customerDefault = idOf(current);
    const subscriptionDefault = idOf(subscription.default_payment_method);
    if (customerDefault === cardId && (subscriptionDefault === null || subscriptionDefault === cardId)) return null;
    // Only a default that is still the card that failed (or none, or one no longer saved) is
    // replaced: a late webhook must not undo a card the user chose after paying.
    const currentStillSaved = typeof current === 'object' && current !== null && idOf(current.customer) === customerId;
    if (customerDefault !== null && currentStillSaved && !failed.has(customerDefault)) return null;
    await makeDefault(customerId, [subscription.id], cardId);
    // With save_default_payment_method the subscription may have taken the card already; the
    // customer's default (which later payments such as recharges use) had not.
    return { paymentMethodId: cardId, previousId: [subscriptionDefault, customerDefault].find((id) => id && id !== cardId) ?? null };
  });
}

/** Waits (briefly) until the webhook has recorded the paid invoice and the subscription is active again. */
export async function waitForRecovery(db: Database, actor: Actor, subscriptionId: string, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await asActor(db, actor, (tx) =>
      tx.query<{ status: string }>('select status from public.subscriptions where id = $1 and user_id = $2', [
        subscriptionId,
        actor.userId,
      ]),
    );
    if (rows[0]?.status === 'active') return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
