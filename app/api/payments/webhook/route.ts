import { getDatabase } from '@/lib/db';
import { env } from '@/lib/env';
import { errorResponse } from '@/lib/http/errors';
import { receiveWebhook } from '@/lib/webhooks/inbox';

// POST /api/payments/webhook – Stripe's events, verified on the raw body, each processed once
export async function POST(request: Request): Promise<Response> {
  try {
    const rawBody = await request.text();
    const signature = request.headers.get('stripe-signature');
    return Response.json(await receiveWebhook(await getDatabase(), rawBody, signature, env().STRIPE_WEBHOOK_SECRET));
  } catch (error) {
    return errorResponse(error);
  }
}
