import { checkUsageLimitBodySchema } from '@/lib/billing/schemas';
import { checkUsageLimit } from '@/lib/billing/usage';
import { route } from '@/lib/http/route';

// POST /api/payments/check-usage-limit – can the user afford a task of this estimated cost?
export const POST = route({ auth: 'user-or-task-runner', body: checkUsageLimitBodySchema }, ({ db, actor, body }) =>
  checkUsageLimit(db, actor, body.estimatedCost),
);
