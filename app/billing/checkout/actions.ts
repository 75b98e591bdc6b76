'use server';

import { requestAddress } from '@/app/_lib/request-address';
import { currentUser } from '@/app/_lib/session';
import { formDollars } from '@/lib/billing/form-money';
import { getDatabase } from '@/lib/db';
import { isAppError } from '@/lib/http/errors';
import { createTopUpIntent } from '@/lib/payments/payment-intents';
import { enforceAddressRateLimit } from '@/lib/payments/rate-limit';
import { createPaymentIntentBodySchema } from '@/lib/payments/schemas';

export type TopUpState =
  | { status: 'idle' }
  | { status: 'error'; message: string }
  | { status: 'ready'; intentId: string; clientSecret: string; amountCents: number };

// Creates (or hands back the open) top-up intent for the amount typed, validated by the same
// schema as POST /api/payments/payment-intent.
export async function startTopUpAction(_state: TopUpState, form: FormData): Promise<TopUpState> {
  const user = await currentUser();
  if (!user) return { status: 'error', message: 'Your session has ended. Please sign in again.' };
  const parsed = createPaymentIntentBodySchema.safeParse({ amount: formDollars(form.get('amount')) });
  if (!parsed.success) {
    return { status: 'error', message: 'Enter an amount from $0.50 to $10,000, with at most two decimals.' };
  }
  try {
    const db = await getDatabase();
    await enforceAddressRateLimit(db, await requestAddress(), 'payment_intent');
    const intent = await createTopUpIntent(db, user.userId, parsed.data.amount);
    return { status: 'ready', intentId: intent.id, clientSecret: intent.clientSecret, amountCents: intent.amountCents };
  } catch (error) {
    if (isAppError(error) && error.status < 500) return { status: 'error', message: error.message };
    if (isAppError(error)) return { status: 'error', message: 'Payments are unavailable right now. Please try again in a minute.' };
    throw error;
  }
}
