'use server';

import { revalidatePath } from 'next/cache';
import { currentUser } from '@/app/_lib/session';
import { isAdmin } from '@/lib/auth/admin';
import {
  createTaskRunnerKey,
  createTaskRunnerKeyBodySchema,
  revokeTaskRunnerKey,
  revokeTaskRunnerKeyBodySchema,
} from '@/lib/auth/task-runner-keys';
import { getDatabase } from '@/lib/db';
import { AppError } from '@/lib/http/errors';

// Create and revoke the task runner's named API keys. Each action re-checks the session and the
// admin role (a server action is a public endpoint, whatever page rendered it). A new key is
// returned once, in the action's state, and never stored.

export type RunnerKeyState =
  | { status: 'idle' }
  | { status: 'created'; name: string; key: string }
  | { status: 'revoked'; name: string }
  | { status: 'error'; message: string };

export async function createRunnerKeyAction(_previous: RunnerKeyState, form: FormData): Promise<RunnerKeyState> {
  const user = await currentUser();
  if (!user || !isAdmin(user)) return { status: 'error', message: 'Only operators can manage task-runner keys.' };
  const parsed = createTaskRunnerKeyBodySchema.safeParse({ name: form.get('name') });
  if (!parsed.success) return { status: 'error', message: parsed.error.issues[0]?.message ?? 'Give the key a name.' };
  const made = await createTaskRunnerKey(await getDatabase(), parsed.data.name, user.claims.email ?? user.userId);
  revalidatePath('/admin/billing');
  return { status: 'created', name: made.name, key: made.key };
}

export async function revokeRunnerKeyAction(_previous: RunnerKeyState, form: FormData): Promise<RunnerKeyState> {
  const user = await currentUser();
  if (!user || !isAdmin(user)) return { status: 'error', message: 'Only operators can manage task-runner keys.' };
  const parsed = revokeTaskRunnerKeyBodySchema.safeParse({ id: form.get('id') });
  if (!parsed.success) return { status: 'error', message: 'That key does not exist.' };
  try {
    const key = await revokeTaskRunnerKey(await getDatabase(), parsed.data.id);
    return { status: 'revoked', name: key.name };
  } catch (error) {
    if (error instanceof AppError && error.code === 'not_found') return { status: 'error', message: 'That key does not exist.' };
    throw error;
  } finally {
    revalidatePath('/admin/billing');
  }
}
