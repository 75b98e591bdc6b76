import { releaseUsageBodySchema } from '@/lib/billing/schemas';
import { releaseUsage } from '@/lib/billing/usage';
import { nodeRoute, route, type RouteHandler } from '@/lib/http/route';

// POST /api/usage/release – give back the hold of a task that failed or was cancelled. A Pages
// Router API route (why: lib/http/route.ts): `default` is what Next.js serves; `POST` is the same
// route as a fetch handler, for tests that call it in-process.
const spec = { auth: 'task-runner', body: releaseUsageBodySchema } as const;
const handler: RouteHandler<typeof spec> = ({ db, actor, body }) => releaseUsage(db, actor, body);

export const POST = route(spec, handler);
export default nodeRoute('POST', spec, handler);
export const config = { api: { bodyParser: false } };
