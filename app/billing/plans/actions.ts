'use server';

import { redirect } from 'next/navigation';
import { currentUser } from '@/app/_lib/session';
import { getDatabase } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { subscriptionParamsSchema, upgradePlanBodySchema } from '@/lib/payments/schemas';
import { cancelSubscription, resumeSubscription, upgradePlan } from '@/lib/payments/subscriptions';

// Server actions of the plans page, validated with the API's own schemas and calling the same
// lib functions as POST /api/payments/upgrade-plan and /subscriptions/:id. Each ends in a
// redirect that says what happened (or what went wrong, in words) on the plans page.

async function signedIn() {
  const user = await currentUser();
  if (!user) redirect('/sign-in?next=/billing/plans');
  return user;
}

function failure(error: unknown): never {
  if (error instanceof AppError) {
    const message = error.status >= 500 ? 'Payments are unavailable right now. Please try again in a minute.' : error.message;
    redirect(`/billing/plans?error=${encodeURIComponent(message)}`);
  }
  throw error;
}

/** Subscribe (then pay on the checkout page), or change the plan of the subscription in force. */
export async function choosePlanAction(form: FormData): Promise<void> {
  const user = await signedIn();
  const parsed = upgradePlanBodySchema.safeParse({ planId: form.get('planId') });
  if (!parsed.success) redirect('/billing/plans?error=Please%20choose%20one%20of%20the%20plans.');
  let target: string;
  try {
    const result = await upgradePlan(await getDatabase(), user.userId, parsed.data.planId, false);
    target =
      result.subscription?.status === 'incomplete'
        ? `/billing/checkout?subscription=${result.subscription.subscriptionId}`
        : `/billing/plans?changed=${parsed.data.planId}`;
  } catch (error) {
    failure(error);
  }
  redirect(target);
}

export async function cancelAtPeriodEndAction(form: FormData): Promise<void> {
  const user = await signedIn();
  const parsed = subscriptionParamsSchema.safeParse({ subscriptionId: form.get('subscriptionId') });
  if (!parsed.success) redirect('/billing/plans?error=That%20subscription%20was%20not%20found.');
  try {
    await cancelSubscription(await getDatabase(), user.userId, parsed.data.subscriptionId, false);
  } catch (error) {
    failure(error);
  }
  redirect('/billing/plans?canceled=1');
}

export async function resumeAction(form: FormData): Promise<void> {
  const user = await signedIn();
  const parsed = subscriptionParamsSchema.safeParse({ subscriptionId: form.get('subscriptionId') });
  if (!parsed.success) redirect('/billing/plans?error=That%20subscription%20was%20not%20found.');
  try {
    await resumeSubscription(await getDatabase(), user.userId, parsed.data.subscriptionId);
  } catch (error) {
    failure(error);
  }
  redirect('/billing/plans?resumed=1');
}
