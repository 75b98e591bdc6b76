import { DocumentRedirect } from '../../../_components/document-redirect';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Invoice PDF' };

// /billing/invoices/:id/pdf – the invoice's PDF at Stripe, if it is the user's
export default async function InvoicePdfPage({ params }: { params: Promise<{ invoiceId: string }> }) {
  const { invoiceId } = await params;
  return <DocumentRedirect document="invoice_pdf" id={invoiceId} returnTo={`/billing/invoices/${encodeURIComponent(invoiceId)}/pdf`} />;
}
