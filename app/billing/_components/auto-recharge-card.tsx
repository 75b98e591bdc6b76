import Link from 'next/link';
import { dollars } from '@/app/_lib/format';
import type { AutoRechargeAnswer } from '@/lib/payments/auto-recharge-schemas';
import { saveAutoRechargeAction } from '../auto-recharge/actions';
import { AUTO_RECHARGE_ERRORS, type AutoRechargeErrorCode } from '../auto-recharge/messages';
import styles from '../dashboard.module.css';

const DISABLED_TEXT = {
  declined: 'Auto-recharge turned itself off after your card was declined 3 times in a row. Update your card, then turn it on again.',
  no_card: 'Auto-recharge turned itself off because there was no card to charge. Add a card, then turn it on again.',
  disputed: 'Auto-recharge turned itself off because one of its payments was disputed. Turn it on again if you want it back.',
  canceled: 'Auto-recharge is paused because you cancelled a recharge your bank held back. Turn it on again when you are ready.',
} as const;

// The form's three amounts: the field the action reads, its bounds (the API schema's), the saved
// value it shows, and the suggestion before anything is saved.
const AMOUNT_FIELDS = [
  {
    name: 'threshold',
    label: 'When my balance falls below (US dollars)',
    min: '0',
    max: '100000',
    saved: 'thresholdCents',
    initial: '5.00',
  },
  { name: 'amount', label: 'Add (US dollars)', min: '0.5', max: '10000', saved: 'amountCents', initial: '20.00' },
  { name: 'monthlyCap', label: 'At most per month (US dollars)', min: '0.5', max: '100000', saved: 'monthlyCapCents', initial: '100.00' },
] as const;

// Auto-recharge, opt-in: "when my remaining balance falls below $X, add $Y with my default card,
// at most $Z a month". Shows what it did this month and a recharge on its way (with the link to
// confirm one the bank held back); the form saves all three amounts and the switch at once.
export function AutoRechargeCard({
  settings,
  hasDefaultCard,
  problem,
  saved,
}: {
  settings: AutoRechargeAnswer | null;
  hasDefaultCard: boolean;
  problem: AutoRechargeErrorCode | null;
  saved: 'on' | 'off' | null;
}) {
  const open = settings?.openRecharge ?? null;
  return (
    <section className={styles.card} aria-labelledby="auto-recharge-heading" id="auto-recharge">
      <h2 id="auto-recharge-heading">Auto-recharge</h2>
      {settings?.enabled ? (
        <p data-testid="auto-recharge-state">
          <span className={`${styles.badge} ${styles.ok}`}>On</span> Below {dollars(settings.thresholdCents)}, we add{' '}
          {dollars(settings.amountCents)} with your default card, at most {dollars(settings.monthlyCapCents)} a month. This month:{' '}
          {dollars(settings.thisMonthCents)}.
        </p>
      ) : (
        <p data-testid="auto-recharge-state">
          <span className={`${styles.badge} ${styles.neutral}`}>Off</span>{' '}
          {settings?.disabledReason
            ? DISABLED_TEXT[settings.disabledReason]
            : 'Keep tasks running: top up by itself when your balance runs low.'}
        </p>
      )}
      {open?.status === 'requires_action' ? (
        <p className="error" role="alert">
          Your bank asks you to confirm a recharge of {dollars(open.amountCents)}.{' '}
          <Link href={`/billing/auto-recharge/${open.id}`}>Confirm or cancel it</Link>
        </p>
      ) : open ? (
        <p className={styles.muted} role="status" data-testid="recharge-pending">
          A recharge of {dollars(open.amountCents)} is on its way.
        </p>
      ) : null}
      {!hasDefaultCard ? (
        <p className={styles.muted}>
          Auto-recharge charges your default card. <Link href="/billing/payment-methods">Add a card</Link> first.
        </p>
      ) : null}
      <form action={saveAutoRechargeAction} className={styles.stack}>
        <input type="hidden" name="shownEnabled" value={settings?.enabled ? 'on' : 'off'} />
        <label className={styles.check}>
          <input type="checkbox" name="enabled" defaultChecked={settings?.enabled ?? false} /> Turn on auto-recharge
        </label>
        {AMOUNT_FIELDS.map((field) => (
          <label key={field.name}>
            {field.label}
            <input
              name={field.name}
              type="number"
              inputMode="decimal"
              min={field.min}
              max={field.max}
              step="0.01"
              required
              defaultValue={settings ? (settings[field.saved] / 100).toFixed(2) : field.initial}
            />
          </label>
        ))}
        <button type="submit">Save auto-recharge</button>
      </form>
      <div role="status" aria-live="polite">
        {saved ? <p>{saved === 'on' ? 'Auto-recharge is on.' : 'Auto-recharge is off.'}</p> : null}
      </div>
      {problem ? (
        <p className="error" role="alert" id="auto-recharge-error">
          {AUTO_RECHARGE_ERRORS[problem]}
        </p>
      ) : null}
    </section>
  );
}
