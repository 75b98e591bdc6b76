import { z } from 'zod';
import { PLAN_IDS } from '@/lib/billing/plans';

// Query and answer schemas of the analytics figures, shared by the route, the admin page and the
// tests. Query values arrive as strings (URL search params); unknown params are rejected. Answers
// are parsed through the output schemas on the way out, so a column added to a query can never
// leak into a response.

const DAY_MS = 86_400_000;
export const MAX_RANGE_DAYS = 366;

const isoDate = (date: Date) => date.toISOString().slice(0, 10);

/** `YYYY-MM-DD` that names a real day (2026-02-30 does not). */
export function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && isoDate(parsed) === value;
}

const dateParam = (name: string) =>
  z
    .string({ error: `${name} must be a date in YYYY-MM-DD format` })
    .regex(/^\d{4}-\d{2}-\d{2}$/, { error: `${name} must be a date in YYYY-MM-DD format`, abort: true })
    .refine(isCalendarDate, { error: `${name} is not a real calendar date`, abort: true })
    .refine((value) => value >= '2000-01-01', { error: `${name} must be between 2000-01-01 and 9999-12-31` });

/** First and last day (inclusive) of the calendar month in UTC containing `day` (`YYYY-MM-DD`). */
export function monthBounds(day: string): { first: string; last: string } {
  const last = new Date(0);
  last.setUTCFullYear(Number(day.slice(0, 4)), Number(day.slice(5, 7)), 0); // day 0 of the next month
  return { first: `${day.slice(0, 7)}-01`, last: isoDate(last) };
}

export const daysBetween = (startDate: string, endDate: string) =>
  Math.round((Date.parse(`${endDate}T00:00:00Z`) - Date.parse(`${startDate}T00:00:00Z`)) / DAY_MS);

// GET /api/payments/analytics?startDate=2026-11-01&endDate=2026-11-30
// Both optional: without either, the current calendar month in UTC; with one, the calendar month
// of the one given. endDate is inclusive; the range spans at most 366 days.
export const getAnalyticsQuerySchema = z
  .strictObject({ startDate: dateParam('startDate').optional(), endDate: dateParam('endDate').optional() })
  .transform((query, ctx) => {
    const today = isoDate(new Date());
    const startDate = query.startDate ?? monthBounds(query.endDate ?? today).first;
    const endDate = query.endDate ?? monthBounds(query.startDate ?? today).last;
    const span = daysBetween(startDate, endDate);
    if (span < 0) {
      ctx.addIssue({ code: 'custom', path: ['startDate'], message: 'startDate must be on or before endDate' });
      return z.NEVER;
    }
    if (span + 1 > MAX_RANGE_DAYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['endDate'],
        message: `endDate must be at most ${MAX_RANGE_DAYS - 1} days after startDate (a range of at most ${MAX_RANGE_DAYS} days)`,
      });
      return z.NEVER;
    }
    return { startDate, endDate };
  });

export type AnalyticsQuery = z.output<typeof getAnalyticsQuerySchema>;

// ---------------------------------------------------------------------------------------------
// The user's answer.

const int = z.number().int();
/** An exact integer: a JSON number while safe (|n| <= 2^53 - 1), else its decimal string (money sums). */
const exact = z.union([z.number().int().refine(Number.isSafeInteger), z.string().regex(/^-?\d+$/)]);
const planId = z.enum(PLAN_IDS);

const usageFigures = {
  tasks: int,
  tokens: int,
  executionMs: int,
  costMicros: exact,
  /** costMicros rounded up to the cent, as user_usage.monthly_usage_cents is. */
  costCents: exact,
};

const planEstimateSchema = z.object({
  planId,
  /** The plan's monthly price (its allowance) times the months of the range. */
  priceCents: int,
  /** What the range's usage costs at this plan's rates. */
  usageCostMicros: exact,
  /** Usage beyond each month's allowance, summed over the months. */
  overageMicros: exact,
  estimatedCostMicros: exact,
  estimatedCostCents: exact,
});

export const userAnalyticsSchema = z.object({
  range: z.object({ startDate: z.string(), endDate: z.string(), days: int, months: int }),
  totals: z.object(usageFigures),
  byDay: z.array(z.object({ date: z.string(), ...usageFigures })),
  byMonth: z.array(z.object({ month: z.string(), ...usageFigures })),
  byAgent: z.array(z.object({ agent: z.string(), ...usageFigures })),
  byPlan: z.array(z.object({ planId, ...usageFigures })),
  insights: z.object({
    cheapestPlan: z.object({
      planId,
      estimatedCostMicros: exact,
      estimatedCostCents: exact,
      currentPlanId: planId,
      currentPlanEstimatedCostMicros: exact,
      savingsMicros: exact,
      savingsCents: exact,
      plans: z.array(planEstimateSchema),
    }),
    costPerTask: z.object({
      currentMicros: exact.nullable(),
      previousMicros: exact.nullable(),
      previousStartDate: z.string(),
      previousEndDate: z.string(),
      changePercent: z.number().nullable(),
      trend: z.enum(['up', 'down', 'flat']).nullable(),
    }),
    topAgent: z.object({ agent: z.string(), costMicros: exact, costCents: exact, tasks: int, sharePercent: z.number() }).nullable(),
  }),
  budget: z
    .object({
      monthlyBudgetCents: int,
      periodStart: z.string(),
      periodEnd: z.string(),
      spentMicros: exact,
      spentCents: exact,
      remainingCents: int,
      percentUsed: z.number(),
      status: z.enum(['ok', 'warning', 'exceeded']),
    })
    .nullable(),
});

export type UserAnalytics = z.output<typeof userAnalyticsSchema>;

// ---------------------------------------------------------------------------------------------
// The operators' figures (system role; the admin page adds its access control).

export const getAdminAnalyticsQuerySchema = z
  .strictObject({
    month: z
      .string({ error: 'month must be a month in YYYY-MM format' })
      .regex(/^\d{4}-(0[1-9]|1[0-2])$/, { error: 'month must be a month in YYYY-MM format', abort: true })
      .refine((value) => value >= '2000-01', { error: 'month must be between 2000-01 and 9999-12' })
      .optional(),
  })
  .transform((query) => ({ month: query.month ?? new Date().toISOString().slice(0, 7) }));

export type AdminAnalyticsQuery = z.output<typeof getAdminAnalyticsQuerySchema>;

const rate = z.number().min(0).max(1).nullable();

export const adminAnalyticsSchema = z.object({
  month: z.string(),
  revenue: z.object({
    /** The requested month and the eleven before it, oldest first. */
    byMonth: z.array(
      z.object({ month: z.string(), topUpCents: int, refundedCents: int, disputesLostCents: int, invoiceCents: int, revenueCents: int }),
    ),
    monthCents: int,
  }),
  payments: z.object({ succeeded: int, failed: int, successRate: rate }),
  subscriptions: z.object({ created: int, converted: int, conversionRate: rate }),
  usageByPlan: z.array(z.object({ planId, users: int, tasks: int, tokens: int, executionMs: int, costMicros: exact, costCents: exact })),
  webhooks: z.object({ failed: int, pending: int }),
  /** Open now; lost in the month (also netted out of revenue). */
  disputes: z.object({ open: int, openCents: int, lostCents: int }),
  /** Payments and invoices in another currency than USD: recorded, never credited. */
  flagged: z.object({ payments: int, invoices: int }),
});

export type AdminAnalytics = z.output<typeof adminAnalyticsSchema>;
