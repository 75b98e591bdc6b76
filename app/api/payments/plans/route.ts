import { route } from '@/lib/http/route';
import { listPlanOffers } from '@/lib/payments/catalog';

// GET /api/payments/plans – the three plans with allowance, rates and Stripe prices
export const GET = route({ auth: 'user' }, () => listPlanOffers());
