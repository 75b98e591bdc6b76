'use server';

import { revalidatePath } from 'next/cache';
import { redirect } from 'next/navigation';
import { currentUser } from '@/app/_lib/session';
import { setBudgetBodySchema } from '@/lib/billing/budget-schemas';
import { clearBudget, setBudget } from '@/lib/billing/budgets';
import { formDollars } from '@/lib/billing/form-money';
import { dismissNotification, dismissNotificationSchema } from '@/lib/billing/notifications';
import { getDatabase } from '@/lib/db';

// Server actions of the dashboard: parse the form with the API's schema, call lib/, refresh.

export async function dismissNotificationAction(form: FormData): Promise<void> {
  const user = await currentUser();
  if (!user) redirect('/sign-in?next=/billing');
  const parsed = dismissNotificationSchema.safeParse({ id: form.get('id') });
  if (parsed.success) await dismissNotification(await getDatabase(), user, parsed.data.id).catch(() => undefined);
  revalidatePath('/billing');
}

export async function setBudgetAction(form: FormData): Promise<void> {
  const user = await currentUser();
  if (!user) redirect('/sign-in?next=/billing');
  const parsed = setBudgetBodySchema.safeParse({ monthlyBudget: formDollars(form.get('monthlyBudget')) });
  if (!parsed.success) redirect('/billing?budgetError=1#budget');
  await setBudget(await getDatabase(), user, parsed.data);
  revalidatePath('/billing');
  redirect('/billing#budget');
}

export async function clearBudgetAction(): Promise<void> {
  const user = await currentUser();
  if (!user) redirect('/sign-in?next=/billing');
  await clearBudget(await getDatabase(), user);
  revalidatePath('/billing');
  redirect('/billing#budget');
}
