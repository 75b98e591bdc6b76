import { signOutAction } from '@/app/_lib/sign-out';

export function SignOutForm() {
  return (
    <form action={signOutAction} style={{ display: 'inline' }}>
      <button type="submit" name="scope" value="local">
        Sign out
      </button>{' '}
      <button type="submit" name="scope" value="global">
        Sign out everywhere
      </button>
    </form>
  );
}
