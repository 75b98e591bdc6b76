// Invoices and receipts a person can open: the hosted invoice page, the
// invoice PDF and the charge receipt, served by the local Stripe at URLs that
// carry a signature of the object id (like Stripe's, they work without a key
// and cannot be guessed from the id alone).
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { formatDate } from '../core/time.js';
import { pdfDocument, type PdfLine } from './pdf.js';

function signature(engine: Engine, id: string): string {
  return createHmac('sha256', engine.state.documentSecret).update(id).digest('base64url').slice(0, 32);
}

function validSignature(engine: Engine, id: string, given: string | null): boolean {
  const expected = Buffer.from(signature(engine, id));
  const actual = Buffer.from(given ?? '');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Sets `hosted_invoice_url` and `invoice_pdf` (called when an invoice is finalized). */
export function setInvoiceDocuments(engine: Engine, invoice: Stripe.Invoice): void {
  const s = signature(engine, invoice.id);
  invoice.hosted_invoice_url = `${engine.baseUrl}/i/${invoice.id}?s=${s}`;
  invoice.invoice_pdf = `${engine.baseUrl}/i/${invoice.id}/pdf?s=${s}`;
}

/** The `receipt_url` of a charge. */
export function receiptUrl(engine: Engine, chargeId: string): string {
  return `${engine.baseUrl}/receipts/${chargeId}?s=${signature(engine, chargeId)}`;
}

export function money(amount: number, currency: string): string {
  const sign = amount < 0 ? '-' : '';
  const abs = (Math.abs(amount) / 100).toFixed(2).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return currency.toLowerCase() === 'usd' ? `${sign}$${abs}` : `${sign}${abs} ${currency.toUpperCase()}`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>body{font:15px system-ui,sans-serif;color:#30313d;max-width:40rem;margin:3rem auto;padding:0 1rem}table{width:100%;border-collapse:collapse}td,th{padding:.4rem 0;text-align:left;border-bottom:1px solid #ebeef1}td.n,th.n{text-align:right}.muted{color:#6d6e78}.status{display:inline-block;padding:.1rem .5rem;border-radius:4px;background:#ebeef1}</style></head><body>${body}<p class="muted">Local Stripe test document.</p></body></html>`;
}

function customerLabel(engine: Engine, invoice: Stripe.Invoice): string {
  const customer = typeof invoice.customer === 'string' ? engine.state.customers[invoice.customer] : undefined;
  return (
    invoice.customer_name ??
    customer?.name ??
    invoice.customer_email ??
    customer?.email ??
    (typeof invoice.customer === 'string' ? invoice.customer : (invoice.customer?.id ?? ''))
  );
}

function invoiceTitle(invoice: Stripe.Invoice): string {
  return `Invoice ${invoice.number ?? invoice.id}`;
}

function invoiceHtml(engine: Engine, invoice: Stripe.Invoice): string {
  const c = invoice.currency;
  const rows = invoice.lines.data
    .map(
      (l) =>
        `<tr><td>${escapeHtml(l.description ?? '')}</td><td class="n">${l.quantity ?? 1}</td><td class="n">${money(l.amount, c)}</td></tr>`,
    )
    .join('');
  const due = invoice.due_date ? `<p>Due ${formatDate(invoice.due_date)}</p>` : '';
  return page(
    invoiceTitle(invoice),
    `<h1>${escapeHtml(invoiceTitle(invoice))}</h1>
<p><span class="status">${escapeHtml(invoice.status ?? 'draft')}</span></p>
<p>Billed to ${escapeHtml(customerLabel(engine, invoice))}<br>Issued ${formatDate(invoice.status_transitions.finalized_at ?? invoice.created)}</p>${due}
<table><thead><tr><th>Description</th><th class="n">Qty</th><th class="n">Amount</th></tr></thead><tbody>${rows}</tbody></table>
<table><tbody><tr><td>Subtotal</td><td class="n">${money(invoice.subtotal, c)}</td></tr><tr><td>Total</td><td class="n">${money(invoice.total, c)}</td></tr><tr><td>Amount paid</td><td class="n">${money(invoice.amount_paid, c)}</td></tr><tr><th>Amount remaining</th><th class="n">${money(invoice.amount_remaining, c)}</th></tr></tbody></table>
<p><a href="${escapeHtml(invoice.invoice_pdf ?? '')}">Download invoice (PDF)</a></p>`,
  );
}

function invoicePdf(engine: Engine, invoice: Stripe.Invoice): Buffer {
  const c = invoice.currency;
  const right = 539;
  const lines: PdfLine[] = [
    { text: invoiceTitle(invoice), size: 20, bold: true },
    { text: `Status: ${invoice.status ?? 'draft'}`, gap: 6 },
    { text: `Billed to: ${customerLabel(engine, invoice)}` },
    { text: `Issued: ${formatDate(invoice.status_transitions.finalized_at ?? invoice.created)}` },
    ...(invoice.due_date ? [{ text: `Due: ${formatDate(invoice.due_date)}` }] : []),
    { text: 'Description', bold: true, gap: 14 },
    { text: 'Qty', bold: true, sameLine: true, alignRightAt: 440 },
    { text: 'Amount', bold: true, sameLine: true, alignRightAt: right },
  ];
  for (const l of invoice.lines.data) {
    lines.push(
      { text: (l.description ?? '').slice(0, 70) },
      { text: String(l.quantity ?? 1), sameLine: true, alignRightAt: 440 },
      { text: money(l.amount, c), sameLine: true, alignRightAt: right },
    );
  }
  const total = (label: string, amount: number, bold = false, gap = 0): PdfLine[] => [
    { text: label, x: 330, bold, gap },
    { text: money(amount, c), sameLine: true, alignRightAt: right, bold },
  ];
  lines.push(
    ...total('Subtotal', invoice.subtotal, false, 12),
    ...total('Total', invoice.total),
    ...total('Amount paid', invoice.amount_paid),
    ...total('Amount remaining', invoice.amount_remaining, true),
    { text: 'Local Stripe test document.', size: 8, gap: 24 },
  );
  return pdfDocument(invoiceTitle(invoice), lines);
}

function receiptHtml(engine: Engine, charge: Stripe.Charge): string {
  const c = charge.currency;
  const card = charge.payment_method_details?.card;
  const invoiceId = typeof charge.payment_intent === 'string' ? engine.state.links.invoiceOfIntent[charge.payment_intent] : undefined;
  const invoice = invoiceId ? engine.state.invoices[invoiceId] : undefined;
  const refunded = charge.amount_refunded > 0 ? `<tr><td>Refunded</td><td class="n">${money(-charge.amount_refunded, c)}</td></tr>` : '';
  return page(
    `Receipt ${charge.receipt_number ?? charge.id}`,
    `<h1>Receipt</h1>
<p>${money(charge.amount, c)} paid ${formatDate(charge.created)}</p>
<table><tbody>
<tr><td>Receipt</td><td class="n">${escapeHtml(charge.receipt_number ?? charge.id)}</td></tr>
${invoice?.number ? `<tr><td>Invoice</td><td class="n">${escapeHtml(invoice.number)}</td></tr>` : ''}
<tr><td>Payment method</td><td class="n">${card ? `${escapeHtml(card.brand ?? 'card')} •••• ${escapeHtml(card.last4 ?? '')}` : 'card'}</td></tr>
${charge.description ? `<tr><td>Description</td><td class="n">${escapeHtml(charge.description)}</td></tr>` : ''}
<tr><td>Amount</td><td class="n">${money(charge.amount, c)}</td></tr>${refunded}
<tr><th>Net paid</th><th class="n">${money(charge.amount - charge.amount_refunded, c)}</th></tr>
</tbody></table>`,
  );
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(page('Not found', '<h1>This document does not exist or the link is wrong.</h1>'));
}

/** `GET /i/:invoice`, `GET /i/:invoice/pdf`, `GET /receipts/:charge` (each with `?s=`). */
export function serveDocument(engine: Engine, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const parts = url.pathname.split('/').filter(Boolean);
  const id = parts[1] ?? '';
  if (req.method !== 'GET' || !validSignature(engine, id, url.searchParams.get('s'))) return notFound(res);
  const headers = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
  if (parts[0] === 'i') {
    const invoice = engine.state.invoices[id];
    if (!invoice || invoice.status === 'draft') return notFound(res);
    if (parts.length === 2) {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
      res.end(invoiceHtml(engine, invoice));
      return;
    }
    if (parts.length === 3 && parts[2] === 'pdf') {
      const pdf = invoicePdf(engine, invoice);
      res.writeHead(200, {
        ...headers,
        'Content-Type': 'application/pdf',
        'Content-Length': String(pdf.length),
        'Content-Disposition': `inline; filename="${(invoice.number ?? invoice.id).replace(/[^\w.-]/g, '_')}.pdf"`,
      });
      res.end(pdf);
      return;
    }
  }
  if (parts[0] === 'receipts' && parts.length === 2) {
    const charge = engine.state.charges[id];
    if (!charge || charge.status !== 'succeeded') return notFound(res);
    res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
    res.end(receiptHtml(engine, charge));
    return;
  }
  notFound(res);
}
