import { releaseUsageBodySchema } from '@/lib/billing/schemas';
import { releaseUsage } from '@/lib/billing/usage';
import { route } from '@/lib/http/route';

// POST /api/usage/release – give back the hold of a task that failed or was cancelled
export const POST = route({ auth: 'task-runner', body: releaseUsageBodySchema }, ({ db, actor, body }) => releaseUsage(db, actor, body));
