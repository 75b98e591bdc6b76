import { MAX_EVENTS_PER_BATCH, recordUsageEventsBodySchema } from '@/lib/billing/usage-events';
import { maxTaskCostMicros } from '@/lib/env';
import { route } from '@/lib/http/route';
import { recordUsageEventsAndRecharge } from '@/lib/payments/usage-payment';

// POST /api/usage/events – record up to 500 finished tasks at once, each on its own (task runner only)
export const POST = route(
  { auth: 'task-runner-batch', body: recordUsageEventsBodySchema, maxBodyBytes: MAX_EVENTS_PER_BATCH * 1024 },
  async ({ db, body }) => ({ results: await recordUsageEventsAndRecharge(db, body.events, maxTaskCostMicros()) }),
);
