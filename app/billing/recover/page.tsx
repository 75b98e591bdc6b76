import Link from 'next/link';
import { SubmitButton } from '@/app/_components/submit-button';
import { brandName, day, dollars } from '@/app/_lib/format';
import { publicConfig } from '@/app/_lib/public-config';
import { requireUser } from '@/app/_lib/require-user';
import { AppError } from '@/lib/http/errors';
import { getPastDue, recoveryCards, type RecoveryCard } from '@/lib/payments/recovery';
import styles from '../dashboard.module.css';
import own from './recover.module.css';
import { payWithSavedCardAction } from './actions';
import { isRecoverError, RECOVER_ERRORS } from './messages';
import { PayWithNewCard } from './pay-with-new-card';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Update card and pay' };

const describe = (card: RecoveryCard) =>
  `${brandName(card.brand)} ending ${card.last4}, expires ${String(card.expMonth).padStart(2, '0')}/${card.expYear}`;

/** What to know about a card before paying with it, in words (none for an ordinary card). */
const remarks = (card: RecoveryCard) =>
  [card.isDefault ? 'your default card' : null, card.failed ? 'declined for this renewal' : null, card.expired ? 'expired' : null]
    .filter(Boolean)
    .join(', ');

// "Update card and pay": the past-due renewal's open invoice, paid at once with a saved card or
// a new one; the card used becomes the default for the renewals that follow. The default card is
// preselected when it can pay, else the newest card that was not declined for this renewal, so
// one press of the button (or Enter on it) pays.
export default async function RecoverPage({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const { user, db } = await requireUser('/billing/recover');
  const params = await searchParams;
  const pastDue = await getPastDue(db, user);
  const error = isRecoverError(params.error) ? RECOVER_ERRORS[params.error] : null;
  if (!pastDue) {
    return (
      <main>
        <h1>Nothing to pay</h1>
        <p>Your subscription has no unpaid invoice. {error ? null : 'Everything is in order.'}</p>
        <p>
          <Link href="/billing">Back to the dashboard</Link>
        </p>
      </main>
    );
  }
  let cards: RecoveryCard[] = [];
  let preselectedId: string | null = null;
  let cardsUnavailable = false;
  try {
    ({ cards, preselectedId } = await recoveryCards(db, user, pastDue));
  } catch (caught) {
    if (!(caught instanceof AppError) || caught.status < 500) throw caught;
    cardsUnavailable = true;
  }
  const amount = dollars(pastDue.amountDueCents);

  return (
    <main style={{ maxWidth: 'none' }}>
      <h1>Update card and pay</h1>
      <p>
        Your {pastDue.planName} renewal of <strong>{amount}</strong> could not be charged. Pay it now to make your plan active again and
        start your new allowance.
        {pastDue.nextRetryAt ? ` Otherwise we try your default card again on ${day(pastDue.nextRetryAt)}.` : ''}
      </p>
      {error ? (
        <p className={styles.notice} role="alert">
          {error}
        </p>
      ) : null}
      <div className={own.stack}>
        <section className={styles.card} aria-labelledby="saved-heading">
          <h2 id="saved-heading">Pay with a saved card</h2>
          {cardsUnavailable ? (
            <p role="alert">{RECOVER_ERRORS.unavailable}</p>
          ) : cards.length === 0 ? (
            <p className={styles.muted}>You have no saved card. Add one below.</p>
          ) : (
            <form action={payWithSavedCardAction} style={{ maxWidth: '32rem' }}>
              <input type="hidden" name="invoiceId" value={pastDue.invoiceId} />
              <fieldset style={{ border: 0, padding: 0, margin: 0, display: 'grid', gap: '.5rem' }}>
                <legend className="sr-only">Card to pay with</legend>
                {cards.map((card) => (
                  <label key={card.id} className={own.choice}>
                    <input type="radio" name="paymentMethodId" value={card.id} defaultChecked={card.id === preselectedId} required />
                    <span>
                      {describe(card)}
                      {remarks(card) ? <span className={styles.muted}> ({remarks(card)})</span> : null}
                    </span>
                  </label>
                ))}
              </fieldset>
              <SubmitButton pendingText="Paying…">Pay {amount} now</SubmitButton>
            </form>
          )}
        </section>
        <section className={styles.card} aria-labelledby="new-heading">
          <h2 id="new-heading">Or pay with a new card</h2>
          <PayWithNewCard
            publishableKey={publicConfig().stripePublishableKey}
            invoiceId={pastDue.invoiceId}
            amountCents={pastDue.amountDueCents}
          />
        </section>
      </div>
      <p>
        <Link href="/billing">Back to the dashboard</Link>
      </p>
    </main>
  );
}
