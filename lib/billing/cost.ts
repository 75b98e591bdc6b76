import type { Plan } from '@/lib/billing/plans';

// Cost of one task in integer micro-dollars at a plan's rates: tokens are exact, execution time
// is rounded half up to the micro-dollar (at most half a millionth of a dollar per task).
// The database computes the same in app_private.task_cost_micros; a test keeps them equal.
export function taskCostMicros(rates: Pick<Plan, 'tokenRateMicros' | 'minuteRateMicros'>, tokens: number, executionMs: number): number {
  const timeMicros = Math.floor((executionMs * rates.minuteRateMicros + 30_000) / 60_000);
  return tokens * rates.tokenRateMicros + timeMicros;
}
