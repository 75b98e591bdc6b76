import Link from 'next/link';
import { day, dollars, rate } from '@/app/_lib/format';
import { requireUser } from '@/app/_lib/require-user';
import { PLANS, type PlanId } from '@/lib/billing/plans';
import { isAppError } from '@/lib/http/errors';
import { getBillingOverview } from '@/lib/payments/billing';
import { listPlanOffers, type PlanOffer } from '@/lib/payments/catalog';
import { planIdSchema } from '@/lib/payments/schemas';
import { upgradePlan } from '@/lib/payments/subscriptions';
import { SubmitButton } from '@/app/_components/submit-button';
import { cancelAtPeriodEndAction, choosePlanAction, keepPlanAction, resumeAction } from './actions';
import styles from './plans.module.css';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Plans' };

const planName = (value: string) => PLANS[planIdSchema.catch('starter').parse(value)].name;
const NOTICES: Record<string, (value: string) => string> = {
  upgraded: (planId) => `You are now on the ${planName(planId)} plan. The prorated difference was charged to your card.`,
  scheduled: (planId) =>
    `Your plan changes to ${planName(planId)} at the end of this period. Until then you keep your current plan and its allowance; nothing is charged or credited.`,
  kept: (planId) => `You stay on the ${planName(planId)} plan.`,
  canceled: () => 'Your subscription will end at the end of the current period. You can resume it until then.',
  resumed: () => 'Your subscription will renew as usual.',
};

const ERRORS: Record<string, string> = {
  'rate-limited': 'Too many attempts. Please wait a few minutes and try again.',
  'card-declined': 'Your card was declined, so the change was not made. Please try another card.',
  unavailable: 'Payments are unavailable right now. Please try again in a minute.',
  'not-found': 'That subscription was not found.',
  'already-subscribed': 'You already have a subscription. Change its plan instead.',
  'same-plan': 'You are already on that plan.',
  'not-possible': 'That change is not possible right now.',
};

// The three plans side by side. Choosing another plan first shows what the change costs today
// (Stripe's proration preview); the change happens only when confirmed.
export default async function PlansPage({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const { user, db } = await requireUser('/billing/plans');
  const params = await searchParams;
  const [billing, offers] = await Promise.all([getBillingOverview(db, user), listPlanOffers().catch(() => null)]);
  const subscription = billing.subscription && billing.subscription.status !== 'incomplete' ? billing.subscription : null;
  const currentPlan: PlanId | null = subscription ? billing.planId : null;

  const previewFor = planIdSchema.safeParse(params.preview);
  let preview: Awaited<ReturnType<typeof upgradePlan>>['preview'] | null = null;
  let previewProblem: string | null = null;
  if (previewFor.success && previewFor.data !== currentPlan) {
    try {
      preview = (await upgradePlan(db, user.userId, previewFor.data, true)).preview;
    } catch (error) {
      if (!isAppError(error)) throw error;
      previewProblem = error.status >= 500 ? 'The price of the change could not be worked out right now. Please try again.' : error.message;
    }
  }
  const notice = Object.keys(NOTICES).find((key) => params[key]);

  return (
    <main style={{ maxWidth: 'none' }}>
      <h1>Plans</h1>
      {notice ? (
        <p className={styles.message} role="status">
          {NOTICES[notice]!(params[notice]!)}
        </p>
      ) : null}
      {params.error ? (
        <p className={styles.problem} role="alert">
          {ERRORS[params.error] ?? ERRORS['not-possible']}
        </p>
      ) : null}
      <p>
        {subscription
          ? `You are on ${PLANS[billing.planId].name}. ${subscription.cancelAtPeriodEnd ? `It ends on ${day(subscription.currentPeriodEnd)}.` : `It renews on ${day(subscription.currentPeriodEnd)}.`}`
          : `You are on the free ${PLANS.starter.name} allowance of ${dollars(billing.allowanceCents)} a month. Subscribe for a larger allowance and lower rates.`}
      </p>
      {subscription?.scheduledChange ? (
        <div className={styles.row}>
          <p data-testid="scheduled-change">
            Changes to {subscription.scheduledChange.planName} on{' '}
            <time dateTime={subscription.scheduledChange.effectiveAt}>{day(subscription.scheduledChange.effectiveAt)}</time>
          </p>
          <form action={keepPlanAction}>
            <input type="hidden" name="subscriptionId" value={subscription.id} />
            <SubmitButton pendingText="Working…" className={styles.secondary}>
              Keep {PLANS[billing.planId].name}
            </SubmitButton>
          </form>
        </div>
      ) : null}

      {preview ? (
        <section className={styles.preview} aria-labelledby="preview-heading">
          <h2 id="preview-heading">
            {currentPlan
              ? `Switch from ${PLANS[preview.fromPlanId].name} to ${PLANS[preview.toPlanId].name}`
              : `Subscribe to ${PLANS[preview.toPlanId].name}`}
          </h2>
          {/* A downgrade at period end has no lines: no empty Item/Amount table then. */}
          {preview.lines.length > 0 ? (
            <table>
              <caption className="sr-only">What the change costs today</caption>
              <thead>
                <tr>
                  <th scope="col">Item</th>
                  <th scope="col">Amount</th>
                </tr>
              </thead>
              <tbody>
                {preview.lines.map((line, index) => (
                  <tr key={index}>
                    <td>{line.description}</td>
                    <td>{dollars(line.amountCents)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          <p data-testid="due-now">
            {preview.effectiveAt
              ? `Nothing is charged or credited today. You keep ${PLANS[preview.fromPlanId].name} and its allowance until ${day(preview.effectiveAt)}, then move to ${PLANS[preview.toPlanId].name}.`
              : preview.amountDueNowCents >= 0
                ? `Due today: ${dollars(preview.amountDueNowCents)}`
                : `Credit towards your next invoice: ${dollars(-preview.amountDueNowCents)}`}
          </p>
          <div className={styles.row}>
            <form action={choosePlanAction}>
              <input type="hidden" name="planId" value={preview.toPlanId} />
              <SubmitButton pendingText="Working…">
                {currentPlan ? `Confirm: switch to ${PLANS[preview.toPlanId].name}` : 'Continue to payment'}
              </SubmitButton>
            </form>
            <Link className={styles.link} href="/billing/plans">
              Keep my plan
            </Link>
          </div>
        </section>
      ) : null}
      {previewProblem ? (
        <p className={styles.problem} role="alert">
          {previewProblem}
        </p>
      ) : null}

      <div className={styles.plans}>
        {(offers ?? []).map((offer: PlanOffer) => {
          const isCurrent = offer.id === currentPlan || (!currentPlan && offer.id === 'starter' && !subscription);
          return (
            <section
              key={offer.id}
              className={`${styles.plan} ${offer.id === currentPlan ? styles.current : ''}`}
              aria-labelledby={`plan-${offer.id}`}
            >
              {offer.id === currentPlan ? <span className={styles.badge}>Current plan</span> : null}
              <h2 id={`plan-${offer.id}`}>{offer.name}</h2>
              <p className={styles.price}>
                {dollars(offer.priceCents)} <span>/ {offer.interval}</span>
              </p>
              <ul>
                <li>{dollars(offer.allowanceCents)} of usage included each month</li>
                <li>{rate(offer.tokenRateMicros)} per token</li>
                <li>{rate(offer.minuteRateMicros)} per minute of execution</li>
              </ul>
              {offer.id === currentPlan ? (
                subscription?.cancelAtPeriodEnd ? (
                  <form action={resumeAction}>
                    <input type="hidden" name="subscriptionId" value={subscription.id} />
                    <SubmitButton pendingText="Resuming…">Resume subscription</SubmitButton>
                  </form>
                ) : (
                  <form action={cancelAtPeriodEndAction}>
                    <input type="hidden" name="subscriptionId" value={subscription!.id} />
                    <SubmitButton pendingText="Cancelling…" className={styles.secondary}>
                      Cancel at period end
                    </SubmitButton>
                  </form>
                )
              ) : !currentPlan && offer.id === 'starter' ? null : (
                <Link className={styles.link} href={`/billing/plans?preview=${offer.id}`}>
                  {currentPlan
                    ? offer.allowanceCents > PLANS[currentPlan].allowanceMicros / 10_000
                      ? 'Upgrade'
                      : 'Downgrade'
                    : 'Subscribe'}{' '}
                  to {offer.name}
                </Link>
              )}
              {isCurrent && !currentPlan ? <span className={styles.badge}>Your free allowance</span> : null}
            </section>
          );
        })}
      </div>
      {offers === null ? (
        <p className={styles.problem} role="alert">
          Plan prices could not be loaded right now. Please try again in a minute.
        </p>
      ) : null}
    </main>
  );
}
