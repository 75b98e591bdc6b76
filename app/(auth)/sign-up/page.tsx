import { Suspense } from 'react';
import { AuthForm } from '@/app/_components/auth-form';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Create your account' };

export default function SignUpPage() {
  return (
    <Suspense>
      <AuthForm mode="sign-up" />
    </Suspense>
  );
}
