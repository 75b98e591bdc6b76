import { getAnalyticsQuerySchema } from '@/lib/analytics/schemas';
import { getUserAnalytics } from '@/lib/analytics/user';
import { route } from '@/lib/http/route';

// GET /api/payments/analytics – the user's spending, by day, month, agent and plan
export const GET = route({ auth: 'user', query: getAnalyticsQuerySchema }, ({ db, actor, query }) => getUserAnalytics(db, actor, query));
