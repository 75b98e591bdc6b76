import { MAX_EVENTS_PER_BATCH, recordUsageEventsBodySchema } from '@/lib/billing/usage-events';
import { maxTaskCostMicros } from '@/lib/env';
import { nodeRoute, route, type RouteHandler } from '@/lib/http/route';
import { recordUsageEventsAndRecharge } from '@/lib/payments/usage-payment';

// POST /api/usage/events – record up to 500 finished tasks at once, each on its own (task runner
// only). A Pages Router API route (why: lib/http/route.ts): `default` is what Next.js serves;
// `POST` is the same route as a fetch handler, for tests that call it in-process.
const spec = { auth: 'task-runner-batch', body: recordUsageEventsBodySchema, maxBodyBytes: MAX_EVENTS_PER_BATCH * 1024 } as const;
const handler: RouteHandler<typeof spec> = async ({ db, body }) => ({
  results: await recordUsageEventsAndRecharge(db, body.events, maxTaskCostMicros()),
});

export const POST = route(spec, handler);
export default nodeRoute('POST', spec, handler);
export const config = { api: { bodyParser: false } };
