'use server';

import { redirect } from 'next/navigation';
import { z } from 'zod';
import { requestAddress } from '@/app/_lib/request-address';
import { safeLocalPath } from '@/app/_lib/safe-path';
import { supabaseForAction } from '@/app/_lib/supabase-server';
import { getDatabase } from '@/lib/db';
import { cleanText } from '@/lib/http/clean-text';
import { isAppError } from '@/lib/http/errors';
import { enforceAddressRateLimit } from '@/lib/payments/rate-limit';

// Sign-in and sign-up on the server: supabase-js calls Supabase Auth from here and writes the
// session into an HttpOnly cookie, so the pages ship no Supabase client and no script can read
// the refresh token. Answers are codes; the form puts them into words.

/** The error code to show, and the email typed (React resets the form after an action). */
export type AuthFormState = { error: string | null; email: string };

const credentialsSchema = z.object({
  email: cleanText('email').trim().min(3).max(254),
  password: cleanText('password').min(1).max(200),
});

const codeOf = (error: { code?: string } | null) => error?.code ?? 'unexpected_failure';

export async function authenticateAction(mode: 'sign-in' | 'sign-up', _state: AuthFormState, form: FormData): Promise<AuthFormState> {
  const nextField = form.get('next');
  const next = safeLocalPath(typeof nextField === 'string' ? nextField : null);
  const typed = form.get('email');
  const email = typeof typed === 'string' ? typed.slice(0, 254) : '';
  const parsed = credentialsSchema.safeParse({ email: typed, password: form.get('password') });
  if (!parsed.success) return { error: 'validation_failed', email };
  if (mode === 'sign-up') {
    try {
      await enforceAddressRateLimit(await getDatabase(), await requestAddress(), 'sign_up');
    } catch (error) {
      if (isAppError(error) && error.code === 'rate_limited') return { error: 'over_request_rate_limit', email };
      throw error;
    }
  }
  const supabase = await supabaseForAction();
  const { error } = mode === 'sign-in' ? await supabase.auth.signInWithPassword(parsed.data) : await supabase.auth.signUp(parsed.data);
  if (error) return { error: codeOf(error), email };
  redirect(next);
}
