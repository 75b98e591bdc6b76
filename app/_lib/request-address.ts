import 'server-only';
import { headers } from 'next/headers';
import { clientAddress } from '@/lib/payments/rate-limit';

/** The client address of the current request (page or server action), for per-address limits. */
export async function requestAddress(): Promise<string> {
  return clientAddress(await headers());
}
