import { setBudgetBodySchema } from '@/lib/billing/budget-schemas';
import { clearBudget, getBudget, setBudget } from '@/lib/billing/budgets';
import { route } from '@/lib/http/route';

// GET /api/payments/budget – the monthly budget and this period's usage against it
export const GET = route({ auth: 'user' }, ({ db, actor }) => getBudget(db, actor));

// PUT /api/payments/budget – set the monthly budget (alerts at once if usage already reached 80% or 100%)
export const PUT = route({ auth: 'user', body: setBudgetBodySchema }, ({ db, actor, body }) => setBudget(db, actor, body));

// DELETE /api/payments/budget – remove the monthly budget
export const DELETE = route({ auth: 'user' }, ({ db, actor }) => clearBudget(db, actor));
