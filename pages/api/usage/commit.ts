import { commitUsageBodySchema } from '@/lib/billing/schemas';
import { maxTaskCostMicros } from '@/lib/env';
import { nodeRoute, route, type RouteHandler } from '@/lib/http/route';
import { commitUsageAndRecharge } from '@/lib/payments/usage-payment';

// POST /api/usage/commit – record a finished task's actual tokens and execution time. A Pages
// Router API route (why: lib/http/route.ts): `default` is what Next.js serves; `POST` is the same
// route as a fetch handler, for tests that call it in-process.
const spec = { auth: 'task-runner', body: commitUsageBodySchema } as const;
const handler: RouteHandler<typeof spec> = ({ db, actor, body }) => commitUsageAndRecharge(db, actor, body, maxTaskCostMicros());

export const POST = route(spec, handler);
export default nodeRoute('POST', spec, handler);
export const config = { api: { bodyParser: false } };
