import { randomUUID } from 'node:crypto';
import type { PlanId } from '@/lib/billing/plans';
import type { Database } from '@/lib/db';

/** Puts the user on a plan the way the subscription webhooks will: an active subscription row. */
export async function subscribe(db: Database, userId: string, planId: PlanId, periodStart = new Date(Date.now() - 86_400_000)) {
  const id = `sub_test_${randomUUID().slice(0, 8)}`;
  const periodEnd = new Date(periodStart.getTime() + 30 * 86_400_000);
  await db.query(
    `insert into public.subscriptions (id, user_id, plan_id, status, current_period_start, current_period_end)
     values ($1, $2, $3, 'active', $4, $5)`,
    [id, userId, planId, periodStart, periodEnd],
  );
  return { id, periodStart, periodEnd };
}
