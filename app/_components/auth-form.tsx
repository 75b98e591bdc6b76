'use client';

import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { useActionState } from 'react';
import { authenticateAction, type AuthFormState } from '@/app/(auth)/actions';
import { safeLocalPath } from '@/app/_lib/safe-path';

type Mode = 'sign-in' | 'sign-up';

// Supabase Auth error codes, in words a person understands.
const MESSAGES: Record<string, string> = {
  invalid_credentials: 'That email and password do not match an account.',
  user_already_exists: 'An account with this email already exists. Sign in instead.',
  weak_password: 'Choose a password of at least 6 characters.',
  validation_failed: 'Enter a valid email address.',
  email_address_invalid: 'Enter a valid email address.',
  over_request_rate_limit: 'Too many attempts. Wait a minute and try again.',
};

// The form posts to a server action (app/(auth)/actions.ts), which signs in with Supabase Auth
// on the server and sets an HttpOnly session cookie; this page ships no Supabase client.
export function AuthForm({ mode }: { mode: Mode }) {
  // Only same-site paths, so the sign-in page cannot be used to redirect elsewhere. (Never null in
  // the App Router; typed nullable because the app also has Pages Router API routes, pages/api.)
  const next = safeLocalPath(useSearchParams()?.get('next') ?? null);
  const [state, formAction, pending] = useActionState<AuthFormState, FormData>(authenticateAction.bind(null, mode), {
    error: null,
    email: '',
  });
  const error = state.error ? (MESSAGES[state.error] ?? 'Something went wrong. Please try again.') : null;

  const title = mode === 'sign-in' ? 'Sign in' : 'Create your account';
  return (
    <main className="auth">
      <h1>{title}</h1>
      <form action={formAction}>
        <input type="hidden" name="next" value={next} />
        <label htmlFor="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="email" defaultValue={state.email} required />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete={mode === 'sign-in' ? 'current-password' : 'new-password'}
          minLength={6}
          required
        />
        {error ? (
          <p role="alert" className="error">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={pending}>
          {pending ? 'Please wait…' : title}
        </button>
      </form>
      <p>
        {mode === 'sign-in' ? (
          <>
            New here? <Link href={`/sign-up?next=${encodeURIComponent(next)}`}>Create an account</Link>
          </>
        ) : (
          <>
            Already have an account? <Link href={`/sign-in?next=${encodeURIComponent(next)}`}>Sign in</Link>
          </>
        )}
      </p>
    </main>
  );
}
