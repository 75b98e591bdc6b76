'use client';

import { createBrowserClient } from '@supabase/ssr';
import Link from 'next/link';
import { safeLocalPath } from '@/app/_lib/safe-path';
import { useRouter, useSearchParams } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import type { PublicConfig } from '@/app/_lib/public-config';

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


export function AuthForm({ mode, config }: { mode: Mode; config: PublicConfig }) {
  const router = useRouter();
  // Only same-site paths, so the sign-in page cannot be used to redirect elsewhere.
  const next = safeLocalPath(useSearchParams().get('next'));
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const email = String(form.get('email') ?? '').trim();
    const password = String(form.get('password') ?? '');
    setPending(true);
    setError(null);
    const supabase = createBrowserClient(config.supabaseUrl, config.supabaseAnonKey);
    const { error: authError } =
      mode === 'sign-in'
        ? await supabase.auth.signInWithPassword({ email, password })
        : await supabase.auth.signUp({ email, password });
    setPending(false);
    if (authError) {
      setError((authError.code && MESSAGES[authError.code]) || 'Something went wrong. Please try again.');
      return;
    }
    router.replace(next);
    router.refresh();
  }

  const title = mode === 'sign-in' ? 'Sign in' : 'Create your account';
  return (
    <main className="auth">
      <h1>{title}</h1>
      <form onSubmit={submit} noValidate={false}>
        <label htmlFor="email">Email</label>
        <input id="email" name="email" type="email" autoComplete="email" required />
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
