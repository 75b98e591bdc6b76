import { route } from '@/lib/http/route';
import { upgradePlanBodySchema } from '@/lib/payments/schemas';
import { upgradePlan } from '@/lib/payments/subscriptions';

// POST /api/payments/upgrade-plan – move to a plan (prorated); previewOnly shows the cost first
export const POST = route({ auth: 'user', body: upgradePlanBodySchema }, ({ db, actor, body, receivedAt }) =>
  upgradePlan(db, actor.userId, body.planId, body.previewOnly, receivedAt),
);
