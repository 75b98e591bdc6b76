import { getDatabase } from '@/lib/db';
import { env } from '@/lib/env';
import { readBodyText, WEBHOOK_BODY_LIMIT_BYTES } from '@/lib/http/body';
import { API_HEADERS, errorResponse } from '@/lib/http/errors';
import { receiveWebhook } from '@/lib/webhooks/inbox';

// POST /api/payments/webhook – Stripe's events, verified on the raw body, each processed once
export async function POST(request: Request): Promise<Response> {
  try {
    const rawBody = await readBodyText(request, WEBHOOK_BODY_LIMIT_BYTES);
    const signature = request.headers.get('stripe-signature');
    const answer = await receiveWebhook(await getDatabase(), rawBody, signature, env().STRIPE_WEBHOOK_SECRET);
    return Response.json(answer, { headers: API_HEADERS });
  } catch (error) {
    return errorResponse(error);
  }
}
