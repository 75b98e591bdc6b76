import { describe, expect, it } from 'vitest';
import { scopeTitle } from '@/app/billing/tasks/scope-title';
import type { TaskScope } from '@/lib/billing/task-receipts';

// The tasks page's heading names the payment or period by its date and amount, never by a
// Stripe id (an id is no title for a person).

const STRIPE_ID = /\b(in|pi|ch|sub|cus|pm)_[A-Za-z0-9]/;

describe('the tasks page heading', () => {
  it.each<[TaskScope, string, string]>([
    [
      { kind: 'period', start: '2026-11-01T00:00:00.000Z', end: '2026-12-01T00:00:00.000Z' },
      'Tasks in the period Nov 1 – Dec 1, 2026',
      'From Nov 1, 2026, 00:00:00 UTC to Dec 1, 2026, 00:00:00 UTC.',
    ],
    [
      { kind: 'period', start: '2026-12-30T04:22:19.000Z', end: '2027-01-30T04:22:19.000Z' },
      'Tasks in the period Dec 30, 2026 – Jan 30, 2027',
      'From Dec 30, 2026, 04:22:19 UTC to Jan 30, 2027, 04:22:19 UTC.',
    ],
    [
      {
        kind: 'invoice',
        id: 'in_1PlVBr0uR0Q4XEV3D5n85ReR',
        issuedAt: '2026-12-01T00:00:05.000Z',
        start: '2026-12-01T00:00:00.000Z',
        end: '2027-01-01T00:00:00.000Z',
        amountCents: 5000,
        billingReason: 'subscription_cycle',
      },
      'Tasks paid by the invoice of Dec 1, 2026 ($50.00)',
      'The subscription renewal for the usage period Dec 1, 2026 – Jan 1, 2027: the tasks of that period.',
    ],
    [
      {
        kind: 'top_up',
        id: 'pi_1QmckQUpEu0ZYceQRhyd7NmF',
        start: '2026-11-30T04:22:19.000Z',
        end: null,
        amountCents: 1000,
        grantId: '7d1c1f7e-3f0e-4a43-9a55-5c1d3c2a0b11',
      },
      'Tasks paid by the top-up of Nov 30, 2026 ($10.00)',
      "$10.00 of credit paid on Nov 30, 2026, 04:22:19 UTC: the tasks its credit paid for (in full or in part, beyond your plan's allowance).",
    ],
    [{ kind: 'all', start: null, end: null }, 'All your tasks', 'Every task recorded for your account.'],
  ])('%o reads "%s"', (scope, heading, detail) => {
    const title = scopeTitle(scope);
    expect(title).toEqual({ heading, detail });
    expect(`${title.heading} ${title.detail}`).not.toMatch(STRIPE_ID);
  });
});
