import { route } from '@/lib/http/route';
import { cancelSubscriptionQuerySchema, subscriptionParamsSchema, updateSubscriptionBodySchema } from '@/lib/payments/schemas';
import { cancelSubscription, updateSubscription } from '@/lib/payments/subscriptions';

// PUT /api/payments/subscriptions/:subscriptionId – change plan (prorated), or (un)schedule cancellation
export const PUT = route(
  { auth: 'user', body: updateSubscriptionBodySchema, params: subscriptionParamsSchema },
  ({ db, actor, body, params }) => updateSubscription(db, actor.userId, params.subscriptionId, body),
);

// DELETE /api/payments/subscriptions/:subscriptionId – cancel at period end (?immediately=true: now)
export const DELETE = route(
  { auth: 'user', query: cancelSubscriptionQuerySchema, params: subscriptionParamsSchema },
  ({ db, actor, query, params }) => cancelSubscription(db, actor.userId, params.subscriptionId, query.immediately),
);
