import { DocumentRedirect } from '../../_components/document-redirect';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Invoice' };

// /billing/invoices/:id – the invoice's hosted page at Stripe, if it is the user's
export default async function InvoicePage({ params }: { params: Promise<{ invoiceId: string }> }) {
  const { invoiceId } = await params;
  return <DocumentRedirect document="invoice_page" id={invoiceId} returnTo={`/billing/invoices/${encodeURIComponent(invoiceId)}`} />;
}
