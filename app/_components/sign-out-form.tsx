import { signOutAction } from '@/app/_lib/sign-out';

export function SignOutForm() {
  return (
    <form action={signOutAction} style={{ display: 'inline' }}>
      <button type="submit">Sign out</button>
    </form>
  );
}
