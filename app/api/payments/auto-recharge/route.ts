import { route } from '@/lib/http/route';
import { getAutoRecharge, setAutoRecharge } from '@/lib/payments/auto-recharge';
import { setAutoRechargeBodySchema } from '@/lib/payments/auto-recharge-schemas';

// GET /api/payments/auto-recharge – the user's auto-recharge settings, this month's total and any recharge on its way (null when never set)
export const GET = route({ auth: 'user' }, ({ db, actor }) => getAutoRecharge(db, actor));

// PUT /api/payments/auto-recharge – turn auto-recharge on or off: below `threshold` dollars add `amount`, at most `monthlyCap` a month
export const PUT = route({ auth: 'user', body: setAutoRechargeBodySchema }, ({ db, actor, body }) => setAutoRecharge(db, actor, body));
