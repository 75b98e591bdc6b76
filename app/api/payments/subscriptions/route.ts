import { route } from '@/lib/http/route';
import { createSubscriptionBodySchema } from '@/lib/payments/schemas';
import { createSubscription } from '@/lib/payments/subscriptions';

// POST /api/payments/subscriptions – subscribe; the page confirms the first payment
export const POST = route(
  { auth: 'user', body: createSubscriptionBodySchema, addressLimit: 'subscription' },
  ({ db, actor, body, receivedAt }) => createSubscription(db, actor.userId, body.planId, receivedAt),
);
