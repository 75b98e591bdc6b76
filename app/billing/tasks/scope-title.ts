import { day, dayRange, dollars, moment } from '@/app/_lib/format';
import type { TaskScope } from '@/lib/billing/task-receipts';

// The tasks page's heading and the line under it, in words: which payment or period the tasks
// belong to, by its date and amount. Stripe ids are for the address bar, never the title.

const INVOICE_KIND: Record<string, string> = {
  subscription_create: 'first subscription payment',
  subscription_cycle: 'subscription renewal',
  subscription_update: 'plan change',
};

export function scopeTitle(scope: TaskScope): { heading: string; detail: string } {
  switch (scope.kind) {
    case 'period':
      return {
        heading: `Tasks in the period ${dayRange(scope.start, scope.end)}`,
        detail: `From ${moment(scope.start)} to ${moment(scope.end)}.`,
      };
    case 'invoice':
      return {
        heading: `Tasks paid by the invoice of ${day(scope.issuedAt)} (${dollars(scope.amountCents)})`,
        detail: `The ${INVOICE_KIND[scope.billingReason ?? ''] ?? 'invoice'} for the usage period ${dayRange(scope.start, scope.end)}: the tasks of that period.`,
      };
    case 'top_up':
      return {
        heading: `Tasks paid by the top-up of ${day(scope.start)} (${dollars(scope.amountCents)})`,
        detail: scope.grantId
          ? `${dollars(scope.amountCents)} of credit paid on ${moment(scope.start)}: the tasks its credit paid for (in full or in part, beyond your plan's allowance).`
          : `${dollars(scope.amountCents)} paid on ${moment(scope.start)}, not yet credited: the tasks from then to the end of that usage period${scope.end ? ` (${day(scope.end)})` : ''}.`,
      };
    default:
      return { heading: 'All your tasks', detail: 'Every task recorded for your account.' };
  }
}
