'use server';

import { revalidatePath } from 'next/cache';
import { redirect } from 'next/navigation';
import { currentUser } from '@/app/_lib/session';
import { dismissNotification, dismissNotificationSchema } from '@/lib/billing/notifications';
import { getDatabase } from '@/lib/db';

// Server actions of the dashboard: parse the form with the shared schema, call lib/, refresh.

export async function dismissNotificationAction(form: FormData): Promise<void> {
  const user = await currentUser();
  if (!user) redirect('/sign-in?next=/billing');
  const parsed = dismissNotificationSchema.safeParse({ id: form.get('id') });
  if (parsed.success) await dismissNotification(await getDatabase(), user, parsed.data.id).catch(() => undefined);
  revalidatePath('/billing');
}
