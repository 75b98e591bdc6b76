import { DocumentRedirect } from '../../_components/document-redirect';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Receipt' };

// /billing/receipts/:id – a top-up's receipt at Stripe, if the payment is the user's
export default async function ReceiptPage({ params }: { params: Promise<{ paymentIntentId: string }> }) {
  const { paymentIntentId } = await params;
  return <DocumentRedirect document="receipt" id={paymentIntentId} returnTo={`/billing/receipts/${encodeURIComponent(paymentIntentId)}`} />;
}
