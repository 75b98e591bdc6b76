import { commitUsageBodySchema } from '@/lib/billing/schemas';
import { commitUsage } from '@/lib/billing/usage';
import { maxTaskCostMicros } from '@/lib/env';
import { route } from '@/lib/http/route';

// POST /api/usage/commit – record a finished task's actual tokens and execution time
export const POST = route({ auth: 'task-runner', body: commitUsageBodySchema }, ({ db, actor, body }) =>
  commitUsage(db, actor, body, maxTaskCostMicros()),
);
