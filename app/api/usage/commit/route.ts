import { commitUsageBodySchema } from '@/lib/billing/schemas';
import { maxTaskCostMicros } from '@/lib/env';
import { route } from '@/lib/http/route';
import { commitUsageAndRecharge } from '@/lib/payments/usage-payment';

// POST /api/usage/commit – record a finished task's actual tokens and execution time
export const POST = route({ auth: 'task-runner', body: commitUsageBodySchema }, ({ db, actor, body }) =>
  commitUsageAndRecharge(db, actor, body, maxTaskCostMicros()),
);
