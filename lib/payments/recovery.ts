import { asActor, type Actor } from '@/lib/auth/actor';
import type { Database } from '@/lib/db';
import { PLANS, type PlanId } from '@/lib/billing/plans';
import { AppError } from '@/lib/http/errors';
import { makeDefault, ownCard, readBilling, retrieveOrNull } from '@/lib/payments/payment-methods';
import { isStripeError, stripe } from '@/lib/stripe/client';
import { toAppError } from '@/lib/stripe/errors';

// Recovery from a failed renewal. When Stripe cannot charge a renewal, the subscription turns
// past_due and the invoice stays open while Stripe retries on its schedule. The dashboard says so
// (amount, next retry) and offers one action: pick a saved card or add one, and pay the open
// invoice at once. The card becomes the default, so the next renewals use it too. Paying sends
// `invoice.paid`, whose webhook starts the new usage period and makes the subscription active
// again, as after any paid renewal.
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
 * Pays the open invoice of the user's past-due subscription with one of their saved cards, and
 * makes that card the default. A double click pays once: the same card within the same minute
 * reaches Stripe with the same idempotency key, and Stripe refuses to pay a paid invoice.
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
  const customerId = billing.customerId;
  await ownCard(customerId, input.paymentMethodId);
  // The card that paid becomes the default only once it has paid: a declined card never does.
  const adopt = () =>
    makeDefault(
      customerId,
      billing.subscriptions.map((sub) => sub.id),
      input.paymentMethodId,
    );
  try {
    const invoice = await stripe().invoices.pay(
      input.invoiceId,
      // Off-session: the cards here were saved for later payments (a SetupIntent with usage
      // off_session, or a first payment that saved the card), so the bank's authentication
      // already done then covers this charge; asking again would fail a card such as 3155.
      { payment_method: input.paymentMethodId, off_session: true },
      { idempotencyKey: `invoice-pay:${input.invoiceId}:${input.paymentMethodId}:${minute()}` },
    );
    if (invoice.status === 'paid') await adopt();
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
