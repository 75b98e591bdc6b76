import { microsToCentsFloor } from '@/lib/billing/money';
import { PLANS, PLAN_IDS, type PlanId } from '@/lib/billing/plans';
import { stripe } from '@/lib/stripe/client';
import { priceIdOf } from '@/lib/stripe/mapping';
import { stripeCall } from '@/lib/stripe/errors';

// GET /api/payments/plans: the catalogue with each plan's price as Stripe has it. Prices change
// rarely, so they are cached for a few minutes per process.

export interface PlanOffer {
  id: PlanId;
  name: string;
  allowanceCents: number;
  tokenRateMicros: number;
  minuteRateMicros: number;
  priceCents: number;
  currency: string;
  interval: string;
  stripePriceId: string;
}

const CACHE_MS = 5 * 60_000;
let cache: { at: number; key: string; offers: PlanOffer[] } | undefined;

export async function listPlanOffers(): Promise<PlanOffer[]> {
  const key = PLAN_IDS.map(priceIdOf).join(',');
  if (cache && cache.key === key && Date.now() - cache.at < CACHE_MS) return cache.offers;
  const offers = await Promise.all(
    PLAN_IDS.map(async (planId) => {
      const price = await stripeCall(() => stripe().prices.retrieve(priceIdOf(planId)));
      const plan = PLANS[planId];
      return {
        id: planId,
        name: plan.name,
        allowanceCents: microsToCentsFloor(plan.allowanceMicros),
        tokenRateMicros: plan.tokenRateMicros,
        minuteRateMicros: plan.minuteRateMicros,
        priceCents: price.unit_amount ?? 0,
        currency: price.currency,
        interval: price.recurring?.interval ?? 'month',
        stripePriceId: price.id,
      };
    }),
  );
  cache = { at: Date.now(), key, offers };
  return offers;
}
