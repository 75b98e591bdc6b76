'use server';

import { revalidatePath } from 'next/cache';
import { redirect } from 'next/navigation';
import { currentUser } from '@/app/_lib/session';
import { getDatabase } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { cardAddedBodySchema, paymentMethodBodySchema } from '@/lib/payments/payment-method-schemas';
import { cardAdded, createSetupIntent, removePaymentMethod, setDefaultPaymentMethod } from '@/lib/payments/payment-methods';
import type { CardErrorCode } from './messages';

// Server actions of /billing/payment-methods: parse with the shared zod schemas, authenticate,
// call lib/, answer a fixed code that the page puts into words (messages.ts).

const PAGE = '/billing/payment-methods';

async function signedIn() {
  const user = await currentUser();
  if (!user) redirect(`/sign-in?next=${encodeURIComponent(PAGE)}`);
  return user;
}

function codeOf(error: unknown): CardErrorCode {
  if (!(error instanceof AppError)) throw error;
  if (error.code === 'not_found') return 'not-yours';
  if (error.code === 'conflict') return 'only-card';
  if (error.code === 'rate_limited') return 'rate-limited';
  if (error.code === 'unprocessable') return 'not-saved';
  if (error.status >= 500) return 'unavailable';
  return 'not-possible';
}

export type AddCardStart = { ok: true; clientSecret: string; setupIntentId: string } | { ok: false; error: CardErrorCode };

/** A SetupIntent for the card form (called from the browser). */
export async function startAddCardAction(): Promise<AddCardStart> {
  const user = await signedIn();
  try {
    const intent = await createSetupIntent(await getDatabase(), user);
    return { ok: true, clientSecret: intent.clientSecret, setupIntentId: intent.setupIntentId };
  } catch (error) {
    return { ok: false, error: codeOf(error) };
  }
}

/** After Stripe.js confirmed the SetupIntent: check it, make the card the default if asked. */
export async function cardAddedAction(input: {
  setupIntentId: string;
  makeDefault: boolean;
}): Promise<{ ok: true; paymentMethodId: string } | { ok: false; error: CardErrorCode }> {
  const user = await signedIn();
  const parsed = cardAddedBodySchema.safeParse(input);
  if (!parsed.success) return { ok: false, error: 'not-possible' };
  try {
    const result = await cardAdded(await getDatabase(), user, parsed.data);
    revalidatePath(PAGE);
    revalidatePath('/billing');
    return { ok: true, paymentMethodId: result.paymentMethodId };
  } catch (error) {
    return { ok: false, error: codeOf(error) };
  }
}

export async function setDefaultCardAction(form: FormData): Promise<void> {
  const user = await signedIn();
  const parsed = paymentMethodBodySchema.safeParse({ paymentMethodId: form.get('paymentMethodId') });
  if (!parsed.success) redirect(`${PAGE}?error=not-yours`);
  let target = `${PAGE}?done=default`;
  try {
    await setDefaultPaymentMethod(await getDatabase(), user, parsed.data.paymentMethodId);
  } catch (error) {
    target = `${PAGE}?error=${codeOf(error)}`;
  }
  revalidatePath('/billing');
  redirect(target);
}

export async function removeCardAction(form: FormData): Promise<void> {
  const user = await signedIn();
  const parsed = paymentMethodBodySchema.safeParse({ paymentMethodId: form.get('paymentMethodId') });
  if (!parsed.success) redirect(`${PAGE}?error=not-yours`);
  let target = `${PAGE}?done=removed`;
  try {
    await removePaymentMethod(await getDatabase(), user, parsed.data.paymentMethodId);
  } catch (error) {
    target = `${PAGE}?error=${codeOf(error)}`;
  }
  revalidatePath('/billing');
  redirect(target);
}
