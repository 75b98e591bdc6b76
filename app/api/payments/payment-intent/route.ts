import { route } from '@/lib/http/route';
import { createTopUpIntent } from '@/lib/payments/payment-intents';
import { createPaymentIntentBodySchema } from '@/lib/payments/schemas';

// POST /api/payments/payment-intent – a usage top-up (or shortfall) payment
export const POST = route({ auth: 'user', body: createPaymentIntentBodySchema, addressLimit: 'payment_intent' }, ({ db, actor, body }) =>
  createTopUpIntent(db, actor.userId, body.amount),
);
