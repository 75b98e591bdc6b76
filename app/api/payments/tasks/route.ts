import { listTaskReceipts } from '@/lib/billing/task-receipts';
import { getTaskReceiptsQuerySchema } from '@/lib/billing/task-receipt-schemas';
import { route } from '@/lib/http/route';

// GET /api/payments/tasks – the user's tasks (a period's, a payment's), filtered, a page at a time
export const GET = route({ auth: 'user', query: getTaskReceiptsQuerySchema }, ({ db, actor, query }) => listTaskReceipts(db, actor, query));
