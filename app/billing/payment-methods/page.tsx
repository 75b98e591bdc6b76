import Link from 'next/link';
import { SubmitButton } from '@/app/_components/submit-button';
import { brandName } from '@/app/_lib/format';
import { publicConfig } from '@/app/_lib/public-config';
import { requireUser } from '@/app/_lib/require-user';
import { AppError } from '@/lib/http/errors';
import type { PaymentMethodAnswer } from '@/lib/payments/payment-method-schemas';
import { listPaymentMethods } from '@/lib/payments/payment-methods';
import styles from '../dashboard.module.css';
import { removeCardAction, setDefaultCardAction } from './actions';
import { AddCardForm } from './add-card-form';
import { CARD_DONE, CARD_ERRORS, isCardDone, isCardError } from './messages';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Payment methods' };

const describe = (card: PaymentMethodAnswer) => `${brandName(card.brand)} ending ${card.last4}`;

// The user's saved cards at Stripe: which pays the subscription and later payments (the
// default), making another the default, removing one, and adding one with a SetupIntent.
export default async function PaymentMethodsPage({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const { user, db } = await requireUser('/billing/payment-methods');
  const params = await searchParams;
  let cards: PaymentMethodAnswer[] = [];
  let unavailable = false;
  try {
    cards = await listPaymentMethods(db, user);
  } catch (error) {
    if (!(error instanceof AppError) || error.status < 500) throw error;
    unavailable = true;
  }
  const error = isCardError(params.error) ? CARD_ERRORS[params.error] : null;
  const done = isCardDone(params.done) ? CARD_DONE[params.done] : null;

  return (
    <main style={{ maxWidth: 'none' }}>
      <h1>Payment methods</h1>
      <p className={styles.muted}>
        The default card pays your subscription and any later payment. Card details stay with Stripe, our payment provider.
      </p>
      {error ? (
        <p className={styles.notice} role="alert">
          {error}
        </p>
      ) : null}
      {done ? (
        <p className={styles.notice} role="status" style={{ borderLeftColor: '#17663a', background: '#f3fbf6' }}>
          {done}
        </p>
      ) : null}
      <section className={styles.card} aria-labelledby="cards-heading">
        <h2 id="cards-heading">Saved cards</h2>
        {unavailable ? (
          <p role="alert">{CARD_ERRORS.unavailable}</p>
        ) : cards.length === 0 ? (
          <p className={styles.muted}>No saved cards yet.</p>
        ) : (
          <ul style={{ listStyle: 'none', padding: 0, margin: 0, display: 'grid', gap: '.75rem' }}>
            {cards.map((card) => (
              <li
                key={card.id}
                data-testid="saved-card"
                aria-label={describe(card)}
                style={{
                  display: 'flex',
                  flexWrap: 'wrap',
                  gap: '.5rem 1rem',
                  alignItems: 'center',
                  justifyContent: 'space-between',
                  borderBottom: '1px solid #ececf4',
                  paddingBottom: '.75rem',
                }}
              >
                <span>
                  <strong>{describe(card)}</strong>
                  <span className={styles.muted}>
                    {' '}
                    · expires {String(card.expMonth).padStart(2, '0')}/{card.expYear}
                  </span>{' '}
                  {card.isDefault ? <span className={`${styles.badge} ${styles.ok}`}>Default</span> : null}
                </span>
                <span className={styles.actions}>
                  {!card.isDefault ? (
                    <form action={setDefaultCardAction} style={{ display: 'contents' }}>
                      <input type="hidden" name="paymentMethodId" value={card.id} />
                      <SubmitButton className={styles.secondary} pendingText="Saving…">
                        <span className="sr-only">{`Make ${describe(card)} the default`}</span>
                        <span aria-hidden="true">Make default</span>
                      </SubmitButton>
                    </form>
                  ) : null}
                  <form action={removeCardAction} style={{ display: 'contents' }}>
                    <input type="hidden" name="paymentMethodId" value={card.id} />
                    <SubmitButton className={styles.secondary} pendingText="Removing…">
                      <span className="sr-only">{`Remove ${describe(card)}`}</span>
                      <span aria-hidden="true">Remove</span>
                    </SubmitButton>
                  </form>
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <section className={styles.card} aria-labelledby="add-heading">
        <h2 id="add-heading">Add a card</h2>
        <AddCardForm publishableKey={publicConfig().stripePublishableKey} askDefault={cards.length > 0} />
      </section>
      <p>
        <Link href="/billing">Back to the dashboard</Link>
      </p>
    </main>
  );
}
