import { route } from '@/lib/http/route';
import { getPaymentHistory } from '@/lib/payments/billing';
import { getHistoryQuerySchema } from '@/lib/payments/schemas';

// GET /api/payments/history – payments and invoices, newest first, paginated by cursor
export const GET = route({ auth: 'user', query: getHistoryQuerySchema }, ({ db, actor, query }) => getPaymentHistory(db, actor, query));
