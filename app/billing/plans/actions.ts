'use server';

import { redirect } from 'next/navigation';
import { requestAddress } from '@/app/_lib/request-address';
import { currentUser } from '@/app/_lib/session';
import { getDatabase } from '@/lib/db';
import { isAppError } from '@/lib/http/errors';
import { enforceAddressRateLimit } from '@/lib/payments/rate-limit';
import { subscriptionParamsSchema, upgradePlanBodySchema } from '@/lib/payments/schemas';
import { cancelSubscription, keepCurrentPlan, resumeSubscription, upgradePlan } from '@/lib/payments/subscriptions';

// Server actions of the plans page, validated with the API's own schemas and calling the same
// lib functions as POST /api/payments/upgrade-plan and /subscriptions/:id. Each ends in a
// redirect that says what happened (or what went wrong, in words) on the plans page.

async function signedIn() {
  const user = await currentUser();
  if (!user) redirect('/sign-in?next=/billing/plans');
  return user;
}

/** A fixed code for the page to put into words (never text from the URL shown as is). */
function failure(error: unknown): never {
  if (!isAppError(error)) throw error;
  let code = 'not-possible';
  if (error.code === 'rate_limited') code = 'rate-limited';
  else if (error.code === 'unprocessable') code = 'card-declined';
  else if (error.status >= 500) code = 'unavailable';
  else if (error.code === 'not_found') code = 'not-found';
  else if (error.message.startsWith('You already have an active')) code = 'already-subscribed';
  else if (error.message.startsWith('You are already on')) code = 'same-plan';
  redirect(`/billing/plans?error=${code}`);
}

/** Subscribe (then pay on the checkout page), or change the plan of the subscription in force. */
export async function choosePlanAction(form: FormData): Promise<void> {
  const receivedAt = new Date();
  const user = await signedIn();
  const parsed = upgradePlanBodySchema.safeParse({ planId: form.get('planId') });
  if (!parsed.success) redirect('/billing/plans?error=not-possible');
  let target: string;
  try {
    const db = await getDatabase();
    await enforceAddressRateLimit(db, await requestAddress(), 'subscription');
    const result = await upgradePlan(db, user.userId, parsed.data.planId, false, receivedAt);
    target =
      result.subscription?.status === 'incomplete'
        ? `/billing/checkout?subscription=${result.subscription.subscriptionId}`
        : `/billing/plans?${result.preview.effectiveAt ? 'scheduled' : result.preview.fromPlanId === parsed.data.planId ? 'kept' : 'upgraded'}=${parsed.data.planId}`;
  } catch (error) {
    failure(error);
  }
  redirect(target);
}

export async function cancelAtPeriodEndAction(form: FormData): Promise<void> {
  const user = await signedIn();
  const parsed = subscriptionParamsSchema.safeParse({ subscriptionId: form.get('subscriptionId') });
  if (!parsed.success) redirect('/billing/plans?error=not-found');
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
  if (!parsed.success) redirect('/billing/plans?error=not-found');
  try {
    await resumeSubscription(await getDatabase(), user.userId, parsed.data.subscriptionId);
  } catch (error) {
    failure(error);
  }
  redirect('/billing/plans?resumed=1');
}

/** Undo a downgrade scheduled for the end of the period (from the plans page or the dashboard). */
export async function keepPlanAction(form: FormData): Promise<void> {
  const user = await signedIn();
  const parsed = subscriptionParamsSchema.safeParse({ subscriptionId: form.get('subscriptionId') });
  if (!parsed.success) redirect('/billing/plans?error=not-found');
  let planId: string;
  try {
    planId = (await keepCurrentPlan(await getDatabase(), user.userId, parsed.data.subscriptionId)).planId;
  } catch (error) {
    failure(error);
  }
  redirect(`/billing/plans?kept=${planId}`);
}
