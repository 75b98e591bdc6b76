import { route } from '@/lib/http/route';
import { getBillingOverview } from '@/lib/payments/billing';

// GET /api/payments/billing – plan, period, allowance, usage, credits, next invoice, card
export const GET = route({ auth: 'user' }, ({ db, actor }) => getBillingOverview(db, actor));
