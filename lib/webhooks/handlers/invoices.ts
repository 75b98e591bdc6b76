import type { Queryable } from '@/lib/db';
import { writeAudit } from '@/lib/billing/audit';
import type { Stripe } from '@/lib/stripe/client';
import { billedPeriod, customerIdOf, dateOf as toDate, subscriptionIdOfInvoice as subscriptionIdOf } from '@/lib/stripe/mapping';
import { recordSubscription, type CurrentSubscription } from '@/lib/webhooks/handlers/subscriptions';
import { formatDollars, notify } from '@/lib/webhooks/notifications';
import type { HandlerResult } from '@/lib/webhooks/types';

// Invoices: mirrored for the payment history; a paid renewal starts the next usage period; a
// failed one notifies the user (the subscription's past_due status comes from Stripe's own
// subscription, re-read by the dispatcher and passed in as `subscription`). Only USD invoices
// are accounted for: another currency is recorded, flagged for operators and audited, and never
// starts a period (our prices and allowances are dollars).

type SubscriptionSnapshot = CurrentSubscription;

const isUsd = (invoice: Stripe.Invoice) => invoice.currency.toLowerCase() === 'usd';

async function userOfInvoice(tx: Queryable, invoice: Stripe.Invoice): Promise<string | null> {
  const customerId = customerIdOf(invoice) ?? '';
  const { rows } = await tx.query<{ id: string }>('select id from public.users where stripe_customer_id = $1', [customerId]);
  return rows[0]?.id ?? null;
}

/** Upserts the invoice; a status never moves back (paid stays paid whatever arrives late). */
async function upsertInvoice(tx: Queryable, userId: string, invoice: Stripe.Invoice, failureMessage: string | null) {
  const period = billedPeriod(invoice);
  await tx.query(
    `insert into public.invoices as i (id, user_id, subscription_id, status, billing_reason, amount_due_cents,
       amount_paid_cents, currency, period_start, period_end, attempt_count, failure_message, stripe_created, paid_at, flag)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     on conflict (id) do update set
       status = case when app_private.invoice_status_rank(excluded.status) >= app_private.invoice_status_rank(i.status)
                     then excluded.status else i.status end,
       amount_paid_cents = greatest(i.amount_paid_cents, excluded.amount_paid_cents),
       attempt_count = greatest(i.attempt_count, excluded.attempt_count),
       failure_message = case when i.status = 'paid' or excluded.status = 'paid' then null
                              else coalesce(excluded.failure_message, i.failure_message) end,
       paid_at = coalesce(i.paid_at, excluded.paid_at)`,
    [
      invoice.id,
      userId,
      subscriptionIdOf(invoice),
      invoice.status ?? 'draft',
      invoice.billing_reason,
      invoice.amount_due,
      invoice.amount_paid,
      invoice.currency,
      toDate(period?.start),
      toDate(period?.end),
      invoice.attempt_count,
      failureMessage,
      toDate(invoice.created),
      toDate(invoice.status_transitions?.paid_at),
      isUsd(invoice) ? null : `currency:${invoice.currency.toLowerCase()}`,
    ],
  );
}

/** invoice.finalized and other updates: keep the mirror current. */
export async function onInvoiceUpdated(
  tx: Queryable,
  invoice: Stripe.Invoice,
  subscription: SubscriptionSnapshot | null,
): Promise<HandlerResult> {
  if (subscription) await recordSubscription(tx, subscription, 'stripe-webhook');
  const userId = await userOfInvoice(tx, invoice);
  if (!userId) return { outcome: 'ignored', userId: null };
  await upsertInvoice(tx, userId, invoice, null);
  return { outcome: 'processed', userId };
}

/**
 * invoice.paid / invoice.payment_succeeded: a paid first or renewal invoice starts its usage
 * period. When the card that paid a renewal which had failed was made the default (before this
 * transaction, lib/payments/recovery.ts adoptCardThatPaid), that is audited.
 */
export async function onInvoicePaid(
  tx: Queryable,
  invoice: Stripe.Invoice,
  subscription: SubscriptionSnapshot | null,
  adoptedCard: { paymentMethodId: string; previousId: string | null } | null = null,
): Promise<HandlerResult> {
  const result = await onInvoiceUpdated(tx, invoice, subscription);
  const subscriptionId = subscriptionIdOf(invoice);
  if (result.userId && subscriptionId && adoptedCard) {
    await writeAudit(tx, {
      userId: result.userId,
      actor: 'stripe-webhook',
      action: 'payment_method.default_changed',
      entityType: 'subscription',
      entityId: subscriptionId,
      details: {
        paymentMethod: adoptedCard.paymentMethodId,
        previous: adoptedCard.previousId,
        invoice: invoice.id,
        reason: 'paid-renewal',
      },
    });
  }
  const period = billedPeriod(invoice);
  const startsPeriod = invoice.billing_reason === 'subscription_cycle' || invoice.billing_reason === 'subscription_create';
  if (result.userId && !isUsd(invoice)) {
    // Never credited as a period: recorded (flag) above, and audited once for operators.
    const { rowCount } = await tx.query("select 1 from public.audit_log where action = 'invoice.flagged' and entity_id = $1", [invoice.id]);
    if (!rowCount) {
      console.warn('invoice in another currency not accounted for', { invoice: invoice.id, currency: invoice.currency });
      await writeAudit(tx, {
        userId: result.userId,
        actor: 'stripe-webhook',
        action: 'invoice.flagged',
        entityType: 'invoice',
        entityId: invoice.id,
        details: { reason: 'currency', currency: invoice.currency, amountPaid: invoice.amount_paid, subscription: subscriptionId },
      });
    }
    return result;
  }
  if (result.userId && subscriptionId && period && startsPeriod) {
    await tx.query('select app_private.start_paid_period($1, $2, $3, $4, $5)', [
      subscriptionId,
      toDate(period.start),
      toDate(period.end),
      'stripe-webhook',
      invoice.id,
    ]);
  }
  return result;
}

/** invoice.payment_failed: record it and tell the user how to fix it. */
export async function onInvoicePaymentFailed(
  tx: Queryable,
  invoice: Stripe.Invoice,
  subscription: SubscriptionSnapshot | null,
): Promise<HandlerResult> {
  if (subscription) await recordSubscription(tx, subscription, 'stripe-webhook');
  const userId = await userOfInvoice(tx, invoice);
  if (!userId) return { outcome: 'ignored', userId: null };
  const message = 'The card on file was declined.';
  await upsertInvoice(tx, userId, invoice, message);
  if (invoice.billing_reason === 'subscription_create') return { outcome: 'processed', userId };
  await notify(tx, {
    userId,
    kind: 'invoice_payment_failed',
    title: `We could not collect ${formatDollars(invoice.amount_due)} for your subscription`,
    body: `${message} Your plan stays active for now; please update your card so the next attempt succeeds.`,
    data: { invoiceId: invoice.id, amountCents: invoice.amount_due, attempt: invoice.attempt_count, retryUrl: '/billing' },
    dedupeKey: `invoice_failed:${invoice.id}:${invoice.attempt_count}`,
  });
  return { outcome: 'processed', userId };
}
