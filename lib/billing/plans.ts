// The plan catalogue of the specification, in integer micro-dollars (1 USD = 1,000,000).
// The `plans` table is seeded with the same numbers; tests/integration/catalogue.test.ts keeps
// them equal. The Stripe Price of each plan comes with the payments API.
export const PLAN_IDS = ['starter', 'pro', 'enterprise'] as const;
export type PlanId = (typeof PLAN_IDS)[number];

export interface Plan {
  id: PlanId;
  name: string;
  /** Monthly allowance, also the monthly price of the plan's Stripe Price. */
  allowanceMicros: number;
  tokenRateMicros: number;
  minuteRateMicros: number;
}

export const PLANS: Record<PlanId, Plan> = {
  starter: { id: 'starter', name: 'Starter', allowanceMicros: 10_000_000, tokenRateMicros: 1_000, minuteRateMicros: 100_000 },
  pro: { id: 'pro', name: 'Pro', allowanceMicros: 50_000_000, tokenRateMicros: 500, minuteRateMicros: 50_000 },
  enterprise: { id: 'enterprise', name: 'Enterprise', allowanceMicros: 500_000_000, tokenRateMicros: 200, minuteRateMicros: 20_000 },
};
