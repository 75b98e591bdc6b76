'use server';

import { revalidatePath } from 'next/cache';
import { redirect } from 'next/navigation';
import { currentUser } from '@/app/_lib/session';
import { formDollars } from '@/lib/billing/form-money';
import { getDatabase } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { cancelAutoRecharge, getAutoRecharge, setAutoRecharge } from '@/lib/payments/auto-recharge';
import { autoRechargeIdSchema, setAutoRechargeBodySchema } from '@/lib/payments/auto-recharge-schemas';
import type { AutoRechargeErrorCode } from './messages';

// Server actions of auto-recharge: the dashboard's settings form and the confirmation page's
// cancel button. Parse with the API's schema, authenticate, call lib/, answer a fixed code.

async function signedIn(next: string) {
  const user = await currentUser();
  if (!user) redirect(`/sign-in?next=${encodeURIComponent(next)}`);
  return user;
}

function codeOf(error: unknown): AutoRechargeErrorCode {
  if (!(error instanceof AppError)) throw error;
  if (error.code === 'unprocessable') return 'no-card';
  if (error.code === 'conflict' || error.code === 'not_found') return 'already-settled';
  if (error.status >= 500) return 'unavailable';
  return 'not-possible';
}

export async function saveAutoRechargeAction(form: FormData): Promise<void> {
  const user = await signedIn('/billing');
  const parsed = setAutoRechargeBodySchema.safeParse({
    enabled: form.get('enabled') === 'on',
    threshold: formDollars(form.get('threshold')),
    amount: formDollars(form.get('amount')),
    monthlyCap: formDollars(form.get('monthlyCap')),
  });
  if (!parsed.success) redirect('/billing?autoRechargeError=invalid#auto-recharge');
  const db = await getDatabase();
  // A page loaded while it was on, saved after the system turned it off (three declines, a
  // dispute): saving it as is would silently turn it back on.
  if (parsed.data.enabled && form.get('shownEnabled') === 'on') {
    const current = await getAutoRecharge(db, user);
    if (current && !current.enabled && current.disabledReason) redirect('/billing?autoRechargeError=stale#auto-recharge');
  }
  let target = `/billing?autoRecharge=${parsed.data.enabled ? 'on' : 'off'}#auto-recharge`;
  try {
    await setAutoRecharge(db, user, parsed.data);
  } catch (error) {
    target = `/billing?autoRechargeError=${codeOf(error)}#auto-recharge`;
  }
  revalidatePath('/billing');
  redirect(target);
}

export async function cancelAutoRechargeAction(form: FormData): Promise<void> {
  const parsedId = autoRechargeIdSchema.safeParse(form.get('rechargeId'));
  const page = parsedId.success ? `/billing/auto-recharge/${parsedId.data}` : '/billing';
  const user = await signedIn(page);
  if (!parsedId.success) redirect('/billing');
  let target = `${page}?canceled=1`;
  try {
    await cancelAutoRecharge(await getDatabase(), user, parsedId.data);
  } catch (error) {
    target = `${page}?error=${codeOf(error)}`;
  }
  revalidatePath('/billing');
  redirect(target);
}
