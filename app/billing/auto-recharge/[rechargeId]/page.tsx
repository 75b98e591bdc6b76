import Link from 'next/link';
import { notFound } from 'next/navigation';
import { brandName, dollars } from '@/app/_lib/format';
import { publicConfig } from '@/app/_lib/public-config';
import { requireUser } from '@/app/_lib/require-user';
import { isAppError } from '@/lib/http/errors';
import { getRechargeForConfirmation, type RechargeConfirmation } from '@/lib/payments/auto-recharge';
import { autoRechargeIdSchema } from '@/lib/payments/auto-recharge-schemas';
import { cancelAutoRechargeAction } from '../actions';
import { ConfirmRecharge } from '../confirm-recharge';
import { AUTO_RECHARGE_ERRORS, isAutoRechargeError } from '../messages';
import styles from '../../dashboard.module.css';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Confirm auto-recharge' };

const SETTLED: Record<Exclude<RechargeConfirmation['state'], 'payable'>, string> = {
  paid: 'This recharge is paid. The credit is on your balance.',
  processing: 'This recharge is being processed. The credit appears on your balance as soon as it is recorded.',
  canceled: 'This recharge was cancelled. Nothing was charged.',
  failed: 'This recharge did not go through. Nothing was charged.',
};

// A recharge the bank held back (the card needs authentication): the user confirms it with the
// same card, or cancels it. Someone else's recharge, or an unknown id, is a 404.
export default async function ConfirmRechargePage({
  params,
  searchParams,
}: {
  params: Promise<{ rechargeId: string }>;
  searchParams: Promise<Record<string, string | undefined>>;
}) {
  const { rechargeId } = await params;
  const query = await searchParams;
  const { user, db } = await requireUser(`/billing/auto-recharge/${encodeURIComponent(rechargeId)}`);
  const id = autoRechargeIdSchema.safeParse(rechargeId);
  if (!id.success) notFound();
  let recharge: RechargeConfirmation | 'unavailable';
  try {
    recharge = await getRechargeForConfirmation(db, user, id.data);
  } catch (error) {
    if (isAppError(error) && error.code === 'not_found') notFound();
    if (isAppError(error) && error.status >= 500) recharge = 'unavailable';
    else throw error;
  }
  return (
    <main>
      <h1>Confirm auto-recharge</h1>
      {recharge === 'unavailable' ? (
        <p className="error">{AUTO_RECHARGE_ERRORS.unavailable}</p>
      ) : recharge.state === 'payable' ? (
        <>
          <p>
            Your balance fell below your auto-recharge threshold, and your bank asks you to confirm the recharge of{' '}
            <strong>{dollars(recharge.amountCents)}</strong>
            {recharge.card ? ` with your ${brandName(recharge.card.brand)} ending ${recharge.card.last4}` : ''} before it goes through.
            Nothing has been charged yet.
          </p>
          <div className={styles.actions}>
            <ConfirmRecharge
              publishableKey={publicConfig().stripePublishableKey}
              rechargeId={recharge.rechargeId}
              clientSecret={recharge.clientSecret}
              paymentMethodId={recharge.paymentMethodId}
              amountCents={recharge.amountCents}
            />
            <form action={cancelAutoRechargeAction} className={styles.inline}>
              <input type="hidden" name="rechargeId" value={recharge.rechargeId} />
              <button type="submit" className={styles.secondary}>
                Cancel this recharge
              </button>
            </form>
          </div>
        </>
      ) : (
        <p role="status" data-testid="recharge-state">
          {query.confirmed && recharge.state !== 'paid' ? 'Confirmed. ' : ''}
          {SETTLED[recharge.state]}
        </p>
      )}
      {isAutoRechargeError(query.error) ? (
        <p className="error" role="alert">
          {AUTO_RECHARGE_ERRORS[query.error]}
        </p>
      ) : null}
      <p>
        <Link href="/billing#auto-recharge">Back to billing</Link>
      </p>
    </main>
  );
}
