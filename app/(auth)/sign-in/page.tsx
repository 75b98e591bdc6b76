import { Suspense } from 'react';
import { AuthForm } from '@/app/_components/auth-form';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Sign in' };

export default function SignInPage() {
  return (
    <Suspense>
      <AuthForm mode="sign-in" />
    </Suspense>
  );
}
