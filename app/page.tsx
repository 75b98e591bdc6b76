import Link from 'next/link';
import { SignOutForm } from '@/app/_components/sign-out-form';
import { day, dollars } from '@/app/_lib/format';
import { requireUser } from '@/app/_lib/require-user';
import { PLANS } from '@/lib/billing/plans';
import { getUsageSnapshot } from '@/lib/billing/usage';

export const dynamic = 'force-dynamic';

// The signed-in home: the user's plan and this period's usage, read through RLS as the user.
export default async function HomePage() {
  const { user, db } = await requireUser('/');
  const usage = await getUsageSnapshot(db, user);
  const plan = PLANS[usage.planId];
  const usedShare = Math.min(100, Math.round((Number(usage.usedMicros) / Math.max(1, Number(usage.allowanceMicros))) * 100));

  return (
    <main>
      <header className="top">
        <h1>Your plan: {plan.name}</h1>
        <SignOutForm />
      </header>
      <p>Signed in as {user.claims.email}</p>
      <p>
        <Link href="/billing">Billing: plans, payments and usage</Link>
      </p>
      <section className="card" aria-labelledby="usage-heading">
        <h2 id="usage-heading">Usage this period</h2>
        <p>
          {day(usage.periodStart)} to {day(usage.periodEnd)}
        </p>
        <div
          className="meter"
          role="meter"
          aria-label="Allowance used"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={usedShare}
          aria-valuetext={`${usedShare}% of the allowance used`}
        >
          <span style={{ width: `${usedShare}%` }} />
        </div>
        <dl>
          <dt>Monthly allowance</dt>
          <dd data-testid="allowance">{dollars(usage.allowanceCents)}</dd>
          <dt>Used</dt>
          <dd data-testid="used">{dollars(usage.usageCents)}</dd>
          <dt>Credits bought</dt>
          <dd>{dollars(usage.creditsCents)}</dd>
          <dt>Held by running tasks</dt>
          <dd>{dollars(usage.reservedCents)}</dd>
          <dt>Remaining</dt>
          <dd data-testid="remaining">{dollars(usage.remainingCents)}</dd>
        </dl>
      </section>
    </main>
  );
}
