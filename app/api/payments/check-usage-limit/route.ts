import { checkUsageLimitBodySchema } from '@/lib/billing/schemas';
import { route } from '@/lib/http/route';
import { checkUsageLimitOrRequestPayment } from '@/lib/payments/usage-payment';

// POST /api/payments/check-usage-limit – can the user afford a task? If not, a payment for the shortfall
export const POST = route({ auth: 'user-or-task-runner', body: checkUsageLimitBodySchema }, ({ db, actor, body }) =>
  checkUsageLimitOrRequestPayment(db, actor, body.estimatedCost),
);
