'use server';

import { revalidatePath } from 'next/cache';
import { currentUser } from '@/app/_lib/session';
import { replayWebhookEventAsAdmin, replayWebhookEventBodySchema } from '@/lib/analytics/admin-access';
import { isAdmin } from '@/lib/auth/admin';
import { getDatabase } from '@/lib/db';
import { isAppError } from '@/lib/http/errors';
import { invalidEventId, notAvailable, replayFailed, replaySucceeded, signedOut, type ReplayState } from './replay-outcome';

// The replay button: re-check the session and the admin role (a server action is a public
// endpoint, whatever page rendered it), parse the event id, replay as the system with an audit
// row naming the admin (lib/analytics/admin-access.ts), refresh the page.
export async function replayWebhookEventAction(_previous: ReplayState, form: FormData): Promise<ReplayState> {
  const user = await currentUser();
  if (!user) return signedOut();
  if (!isAdmin(user)) return notAvailable();
  const parsed = replayWebhookEventBodySchema.safeParse({ eventId: form.get('eventId') });
  if (!parsed.success) return invalidEventId();
  const { eventId } = parsed.data;
  try {
    return replaySucceeded(await replayWebhookEventAsAdmin(await getDatabase(), user, eventId));
  } catch (error) {
    if (!isAppError(error)) {
      console.error('admin webhook replay failed', {
        eventId,
        admin: user.userId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    return replayFailed(eventId, error);
  } finally {
    // Success or failure, the event's status, attempts and the figures may have changed.
    revalidatePath('/admin/billing');
  }
}
