import { reserveUsageBodySchema } from '@/lib/billing/schemas';
import { reserveUsage } from '@/lib/billing/usage';
import { env } from '@/lib/env';
import { route } from '@/lib/http/route';

// POST /api/usage/reserve – hold a task's estimated cost before it runs
export const POST = route({ auth: 'task-runner', body: reserveUsageBodySchema }, ({ db, actor, body }) =>
  reserveUsage(db, actor, body, env().RESERVATION_TTL_SECONDS),
);
