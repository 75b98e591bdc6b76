import { reserveUsageBodySchema } from '@/lib/billing/schemas';
import { reserveUsage } from '@/lib/billing/usage';
import { env } from '@/lib/env';
import { nodeRoute, route, type RouteHandler } from '@/lib/http/route';

// POST /api/usage/reserve – hold a task's estimated cost before it runs. A Pages Router API route
// (why: lib/http/route.ts): `default` is what Next.js serves; `POST` is the same route as a fetch
// handler, for tests that call it in-process.
const spec = { auth: 'task-runner', body: reserveUsageBodySchema } as const;
const handler: RouteHandler<typeof spec> = ({ db, actor, body }) => reserveUsage(db, actor, body, env().RESERVATION_TTL_SECONDS);

export const POST = route(spec, handler);
export default nodeRoute('POST', spec, handler);
export const config = { api: { bodyParser: false } };
