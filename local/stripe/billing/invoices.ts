import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { wireDecimal } from '../core/decimal.js';
import { newId } from '../core/ids.js';
import { formatDate } from '../core/time.js';
import { productName } from '../resources/catalog.js';
import { setInvoiceDocuments } from '../documents/documents.js';

/** One line to put on an invoice (a subscription period, or a proration). */
export interface LineInput {
  amount: number;
  description: string;
  period: { start: number; end: number };
  /** null for an invoice item given as a bare `amount` (it has no price). */
  price: Stripe.Price | null;
  /** Defaults to the price's currency. */
  currency?: string;
  quantity: number;
  proration: boolean;
  subscription: string | null;
  subscriptionItem: string | null;
  invoiceItem: string | null;
}

export interface InvoiceInput {
  customer: Stripe.Customer;
  subscription: Stripe.Subscription | null;
  billingReason: Stripe.Invoice.BillingReason;
  lines: LineInput[];
  periodStart: number;
  periodEnd: number;
  /** Preview invoices (create_preview) get an `upcoming_in_` id and are not stored. */
  preview?: boolean;
  prorationDate?: number;
  /** When there are no lines to take it from. */
  currency?: string;
  /** Sets fields on the new invoice before `invoice.created` is emitted. */
  beforeCreated?: (invoice: Stripe.Invoice) => void;
}

function money(amount: number): string {
  return `$${(amount / 100).toFixed(2)}`;
}

/** Description of a full-period subscription line, as Stripe words it. */
export function periodLineDescription(engine: Engine, price: Stripe.Price, quantity: number): string {
  const interval = price.recurring?.interval ?? 'month';
  return `${quantity} × ${productName(engine, price)} (at ${money(price.unit_amount ?? 0)} / ${interval})`;
}

export function prorationDescription(engine: Engine, price: Stripe.Price, quantity: number, credit: boolean, at: number): string {
  const what = quantity === 1 ? productName(engine, price) : `${quantity} × ${productName(engine, price)}`;
  return `${credit ? 'Unused' : 'Remaining'} time on ${what} after ${formatDate(at)}`;
}

function currencyOf(l: LineInput): string {
  return l.currency ?? l.price?.currency ?? 'usd';
}

function pricingOf(price: Stripe.Price | null): Stripe.InvoiceLineItem.Pricing | null {
  if (!price) return null;
  const product = typeof price.product === 'string' ? price.product : price.product.id;
  return { type: 'price_details', price_details: { price: price.id, product }, unit_amount_decimal: price.unit_amount_decimal };
}

function lineItem(_engine: Engine, invoiceId: string, l: LineInput): Stripe.InvoiceLineItem {
  return {
    id: newId('il'),
    object: 'line_item',
    amount: l.amount,
    currency: currencyOf(l),
    description: l.description,
    discount_amounts: [],
    discountable: !l.proration,
    discounts: [],
    invoice: invoiceId,
    livemode: false,
    metadata: {},
    parent: l.subscriptionItem
      ? {
          type: 'subscription_item_details',
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: l.invoiceItem,
            proration: l.proration,
            proration_details: { credited_items: null },
            subscription: l.subscription,
            subscription_item: l.subscriptionItem,
          },
        }
      : l.invoiceItem
        ? {
            type: 'invoice_item_details',
            subscription_item_details: null,
            invoice_item_details: {
              invoice_item: l.invoiceItem,
              proration: l.proration,
              proration_details: { credited_items: null },
              subscription: l.subscription,
            },
          }
        : null,
    period: l.period,
    pretax_credit_amounts: [],
    pricing: pricingOf(l.price),
    quantity: l.quantity,
    quantity_decimal: wireDecimal(l.quantity),
    subscription: l.subscription,
    subtotal: l.amount,
    taxes: [],
  };
}

/**
 * How the customer's balance (negative = credit) applies to an invoice total:
 * credit reduces what is due; a negative total adds to the credit.
 */
export function applyBalance(balance: number, total: number): { amountDue: number; endingBalance: number } {
  if (total < 0) return { amountDue: 0, endingBalance: balance + total };
  if (balance > 0) return { amountDue: total + balance, endingBalance: 0 };
  const credit = Math.min(-balance, total);
  return { amountDue: total - credit, endingBalance: balance + credit };
}

export function buildInvoice(engine: Engine, input: InvoiceInput): Stripe.Invoice {
  const id = input.preview ? `upcoming_in_${newId('x').slice(2)}` : newId('in');
  const { customer, subscription } = input;
  const lines = input.lines.map((l) => lineItem(engine, id, l));
  const total = lines.reduce((sum, l) => sum + l.amount, 0);
  const { amountDue } = applyBalance(customer.balance, total);
  const first = input.lines[0];
  const currency = input.currency ?? (first ? currencyOf(first) : 'usd');
  const invoice: Stripe.Invoice = {
    id,
    object: 'invoice',
    account_country: 'US',
    account_name: 'Local Stripe',
    account_tax_ids: null,
    amount_due: amountDue,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: amountDue,
    amount_shipping: 0,
    application: null,
    attempt_count: 0,
    attempted: false,
    auto_advance: !input.preview,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null,
    billing_reason: input.billingReason,
    collection_method: 'charge_automatically',
    confirmation_secret: null,
    created: engine.now(customer.id),
    currency,
    custom_fields: null,
    customer: customer.id,
    customer_account: null,
    customer_address: customer.address ?? null,
    customer_email: customer.email,
    customer_name: customer.name ?? null,
    customer_phone: customer.phone ?? null,
    customer_shipping: null,
    customer_tax_exempt: 'none',
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: null,
    ending_balance: null,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: 'self' },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
    livemode: false,
    metadata: {},
    next_payment_attempt: null,
    number: null,
    on_behalf_of: null,
    parent: subscription
      ? {
          type: 'subscription_details',
          quote_details: null,
          subscription_details: {
            metadata: subscription.metadata,
            subscription: subscription.id,
            ...(input.prorationDate !== undefined ? { subscription_proration_date: input.prorationDate } : {}),
          },
        }
      : null,
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    payments: { object: 'list', data: [], has_more: false, url: '/v1/invoice_payments' },
    period_end: input.periodEnd,
    period_start: input.periodStart,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: customer.balance,
    statement_descriptor: null,
    status: 'draft',
    status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: customer.test_clock ?? null,
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: null,
  };
  input.beforeCreated?.(invoice);
  if (!input.preview) {
    engine.state.invoices[id] = invoice;
    engine.store.touch();
    engine.emit('invoice.created', invoice);
  }
  return invoice;
}

/** Pending invoice items (prorations) of a subscription, consumed by its next invoice. */
export function pendingItemLines(engine: Engine, subscriptionId: string): Array<LineInput & { item: Stripe.InvoiceItem }> {
  const out: Array<LineInput & { item: Stripe.InvoiceItem }> = [];
  for (const item of Object.values(engine.state.invoiceItems)) {
    const sub = item.parent?.subscription_details;
    if (item.invoice !== null || sub?.subscription !== subscriptionId) continue;
    out.push({
      ...itemLine(engine, item),
      subscription: subscriptionId,
      subscriptionItem: sub.subscription_item ?? null,
    });
  }
  return out;
}

/** An invoice item as a line to put on an invoice. */
export function itemLine(engine: Engine, item: Stripe.InvoiceItem): LineInput & { item: Stripe.InvoiceItem } {
  const priceId = item.pricing?.price_details?.price;
  const price = (typeof priceId === 'string' ? engine.state.prices[priceId] : priceId) ?? null;
  const sub = item.parent?.subscription_details;
  return {
    item,
    amount: item.amount,
    description: item.description ?? '',
    period: item.period,
    price,
    currency: item.currency,
    quantity: item.quantity,
    proration: item.proration,
    subscription: sub?.subscription ?? null,
    subscriptionItem: sub?.subscription_item ?? null,
    invoiceItem: item.id,
  };
}

export function createPendingItem(engine: Engine, customer: Stripe.Customer, line: LineInput): Stripe.InvoiceItem {
  const item: Stripe.InvoiceItem = {
    id: newId('ii'),
    object: 'invoiceitem',
    amount: line.amount,
    currency: currencyOf(line),
    customer: customer.id,
    customer_account: null,
    date: engine.now(customer.id),
    description: line.description,
    discountable: false,
    discounts: [],
    invoice: null,
    livemode: false,
    metadata: {},
    parent: {
      type: 'subscription_details',
      subscription_details: {
        subscription: line.subscription ?? '',
        ...(line.subscriptionItem ? { subscription_item: line.subscriptionItem } : {}),
      },
    },
    period: line.period,
    pricing: pricingOf(line.price),
    proration: line.proration,
    proration_details: { credited_items: null, discount_amounts: [] },
    quantity: line.quantity,
    quantity_decimal: wireDecimal(line.quantity),
    tax_rates: [],
    test_clock: customer.test_clock ?? null,
  };
  engine.state.invoiceItems[item.id] = item;
  engine.store.touch();
  engine.emit('invoiceitem.created', item);
  return item;
}

/** Opens a draft: assigns its number, applies the customer balance. */
export function finalizeInvoice(engine: Engine, invoice: Stripe.Invoice): void {
  const customer = typeof invoice.customer === 'string' ? engine.state.customers[invoice.customer] : undefined;
  const now = engine.now(customer?.id);
  if (customer) {
    const { amountDue, endingBalance } = applyBalance(customer.balance, invoice.total);
    invoice.starting_balance = customer.balance;
    invoice.ending_balance = endingBalance;
    invoice.amount_due = amountDue;
    invoice.amount_remaining = amountDue;
    if (endingBalance !== customer.balance) customer.balance = endingBalance;
    const seq = customer.next_invoice_sequence ?? 1;
    invoice.number = `${customer.invoice_prefix ?? 'LOCAL'}-${String(seq).padStart(4, '0')}`;
    customer.next_invoice_sequence = seq + 1;
  }
  invoice.status = 'open';
  setInvoiceDocuments(engine, invoice);
  invoice.status_transitions.finalized_at = now;
  invoice.effective_at = now;
  engine.store.touch();
  engine.emit('invoice.finalized', invoice);
}

/** Recomputes a draft's totals from its lines (after lines were added or removed). */
function retotal(engine: Engine, invoice: Stripe.Invoice): void {
  const total = invoice.lines.data.reduce((sum, l) => sum + l.amount, 0);
  const customer = typeof invoice.customer === 'string' ? engine.state.customers[invoice.customer] : undefined;
  const { amountDue } = applyBalance(customer?.balance ?? 0, total);
  invoice.subtotal = total;
  invoice.subtotal_excluding_tax = total;
  invoice.total = total;
  invoice.total_excluding_tax = total;
  invoice.amount_due = amountDue;
  invoice.amount_remaining = amountDue;
}

/** Puts lines on a draft invoice (an invoice item added to it). */
export function appendLines(engine: Engine, invoice: Stripe.Invoice, lines: LineInput[]): void {
  for (const l of lines) invoice.lines.data.push(lineItem(engine, invoice.id, l));
  retotal(engine, invoice);
  engine.store.touch();
}

/** Takes an invoice item's line off a draft invoice. */
export function removeItemLine(engine: Engine, invoice: Stripe.Invoice, itemId: string): void {
  invoice.lines.data = invoice.lines.data.filter(
    (l) => l.parent?.invoice_item_details?.invoice_item !== itemId && l.parent?.subscription_item_details?.invoice_item !== itemId,
  );
  retotal(engine, invoice);
  engine.store.touch();
}
