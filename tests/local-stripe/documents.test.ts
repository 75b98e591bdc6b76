// Invoices and receipts a person can open: hosted_invoice_url (HTML),
// invoice_pdf (a well-formed PDF file) and the charge's receipt_url.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { pdfDocument } from '../../local/stripe/documents/pdf.js';
import { startHarness, stripeError, type Harness } from './helpers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ deliverWebhooks: false });
});
afterAll(async () => {
  await h.close();
});

/** Checks the PDF's structure the way a viewer reads it: header, trailer, and every xref offset pointing at its object. */
function checkPdf(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  expect(text.startsWith('%PDF-1.4\n')).toBe(true);
  expect(text.trimEnd().endsWith('%%EOF')).toBe(true);
  const startxref = Number(/startxref\n(\d+)\n%%EOF\s*$/.exec(text)?.[1]);
  expect(text.slice(startxref, startxref + 4)).toBe('xref');
  const [, first, count] = /^xref\n(\d+) (\d+)\n/.exec(text.slice(startxref)) ?? [];
  expect(Number(first)).toBe(0);
  const entries = text
    .slice(startxref)
    .split('\n')
    .slice(2, 2 + Number(count));
  expect(entries[0]).toBe('0000000000 65535 f ');
  entries.slice(1).forEach((entry, i) => {
    expect(entry).toMatch(/^\d{10} 00000 n $/);
    const offset = Number(entry.slice(0, 10));
    expect(text.slice(offset, offset + `${i + 1} 0 obj`.length)).toBe(`${i + 1} 0 obj`);
  });
  expect(text).toMatch(new RegExp(`/Size ${count} /Root 1 0 R`));
  // Each stream's /Length is its byte length.
  for (const m of text.matchAll(/<< \/Length (\d+) >>\nstream\n/g)) {
    const start = (m.index ?? 0) + m[0].length;
    expect(text.slice(start + Number(m[1]), start + Number(m[1]) + '\nendstream'.length)).toBe('\nendstream');
  }
  return text;
}

describe('finalized invoices', () => {
  let invoice: Stripe.Invoice;
  beforeAll(async () => {
    const customer = await h.stripe.customers.create({ name: 'Ada (Lovelace) \\ Co', email: 'ada@example.com' });
    const pm = await h.stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    const sub = await h.stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_pro_plan_id' }],
      default_payment_method: pm.id,
      expand: ['latest_invoice'],
    });
    invoice = sub.latest_invoice as Stripe.Invoice;
  });

  it('carry hosted_invoice_url and invoice_pdf served by the local Stripe', async () => {
    expect(invoice.status).toBe('paid');
    expect(invoice.hosted_invoice_url).toMatch(new RegExp(`^${h.local.url}/i/${invoice.id}\\?s=`));
    expect(invoice.invoice_pdf).toMatch(new RegExp(`^${h.local.url}/i/${invoice.id}/pdf\\?s=`));
    const html = await fetch(invoice.hosted_invoice_url ?? '');
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const body = await html.text();
    expect(body).toContain(`Invoice ${invoice.number}`);
    expect(body).toContain('$50.00');
    expect(body).toContain('Ada (Lovelace) \\ Co');
    expect(body).toContain('paid');
  });

  it('the PDF is a well-formed PDF file with the invoice in it', async () => {
    const res = await fetch(invoice.invoice_pdf ?? '');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    const text = checkPdf(bytes);
    expect(text).toContain(`(Invoice ${invoice.number})`);
    expect(text).toContain('($50.00)');
    // Parentheses and backslashes in text are escaped.
    expect(text).toContain('(Billed to: Ada \\(Lovelace\\) \\\\ Co)');
  });

  it('a wrong or missing signature, another id, or a draft answers 404', async () => {
    const url = new URL(invoice.hosted_invoice_url ?? '');
    const wrong = new URL(url);
    wrong.searchParams.set('s', 'x'.repeat(32));
    expect((await fetch(wrong)).status).toBe(404);
    const none = new URL(url);
    none.search = '';
    expect((await fetch(none)).status).toBe(404);
    // Another invoice's id with this invoice's signature.
    const unpaid = await h.stripe.subscriptions.create({
      customer: String(invoice.customer),
      items: [{ price: 'price_starter_plan_id' }],
      payment_behavior: 'default_incomplete',
      expand: ['latest_invoice'],
    });
    const other = unpaid.latest_invoice as Stripe.Invoice;
    expect(other.hosted_invoice_url).toMatch(/\/i\/in_/);
    expect((await fetch(`${h.local.url}/i/${other.id}${url.search}`)).status).toBe(404);
    expect((await fetch(other.hosted_invoice_url ?? '')).status).toBe(200);
    expect((await fetch(`${h.local.url}/i/in_nope${url.search}`)).status).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(404);
  });
});

describe('charges', () => {
  it('a succeeded charge carries a receipt_url to an HTML receipt; a declined one none', async () => {
    const pi = await h.stripe.paymentIntents.create({
      amount: 1550,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
      description: 'Usage top-up',
    });
    const charge = await h.stripe.charges.retrieve(String(pi.latest_charge));
    expect(charge.receipt_url).toMatch(new RegExp(`^${h.local.url}/receipts/${charge.id}\\?s=`));
    const res = await fetch(charge.receipt_url ?? '');
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain('$15.50');
    expect(body).toContain('4242');
    expect(body).toContain('Usage top-up');
    await h.stripe.refunds.create({ charge: charge.id, amount: 550 });
    const after = await (await fetch(charge.receipt_url ?? '')).text();
    expect(after).toContain('-$5.50');
    expect(after).toContain('$10.00');

    const err = await stripeError(() =>
      h.stripe.paymentIntents.create({ amount: 1550, currency: 'usd', payment_method: 'pm_card_visa_chargeDeclined', confirm: true }),
    );
    const declined = await h.stripe.charges.retrieve(String((err.raw as { charge?: string }).charge));
    expect(declined.status).toBe('failed');
    expect(declined.receipt_url).toBeNull();
    const stolen = new URL(charge.receipt_url ?? '');
    expect((await fetch(`${h.local.url}/receipts/${declined.id}${stolen.search}`)).status).toBe(404);
  });
});

describe('the PDF writer', () => {
  it('paginates long documents and replaces characters outside Latin-1', () => {
    const lines = Array.from({ length: 130 }, (_, i) => ({ text: `Line ${i} – ok ✓ é` }));
    const text = checkPdf(pdfDocument('Long', lines));
    expect(text).toMatch(/\/Count 3 >>/);
    expect(text).toContain('(Line 129 ? ok ? \xe9)');
  });
});
