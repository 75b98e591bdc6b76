import { randomUUID } from 'node:crypto';
import { asActor, type Actor } from '@/lib/auth/actor';
import type { Database, Queryable } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import { ensureCustomerId } from '@/lib/payments/customers';
import { paymentMethodAnswerSchema, type CardAddedBody, type PaymentMethodAnswer } from '@/lib/payments/payment-method-schemas';
import { enforceRateLimit } from '@/lib/payments/rate-limit';
import { isStripeError, stripe, type Stripe } from '@/lib/stripe/client';
import { stripeCall, toAppError } from '@/lib/stripe/errors';
import { idOf } from '@/lib/stripe/mapping';

// The user's saved cards, kept at Stripe only (nothing about a card is stored here):
//   - list: brand, last 4, expiry, and which is the default;
//   - add: a SetupIntent confirmed in the browser by the PaymentElement (3-D Secure included),
//     then `cardAdded` checks it at Stripe and makes the card the default if asked;
//   - set default: the customer's invoice_settings.default_payment_method, and the
//     default_payment_method of the subscriptions in force (which Stripe prefers over the
//     customer's), so the subscription and every later payment use it;
//   - remove: refused while the card pays a subscription in force and is the only card.
// A card id from the browser is never trusted: it must be attached to the user's customer.

const BILLED_STATUSES = ['active', 'trialing', 'past_due', 'unpaid'] as const;

interface Billing {
  customerId: string | null;
  subscriptions: { id: string; plan_id: string }[];
}

export async function readBilling(tx: Queryable, userId: string): Promise<Billing> {
  const users = await tx.query<{ stripe_customer_id: string | null }>('select stripe_customer_id from public.users where id = $1', [
    userId,
  ]);
  const subs = await tx.query<{ id: string; plan_id: string }>(
    `select id, plan_id from public.subscriptions where user_id = $1 and status = any($2::text[]) order by created_at`,
    [userId, BILLED_STATUSES],
  );
  return { customerId: users.rows[0]?.stripe_customer_id ?? null, subscriptions: subs.rows };
}

async function cardsAtStripe(customerId: string): Promise<{ cards: Stripe.PaymentMethod[]; defaultId: string | null }> {
  const [methods, customer] = await Promise.all([
    stripeCall(() => stripe().customers.listPaymentMethods(customerId, { type: 'card', limit: 100 })),
    stripeCall(() => stripe().customers.retrieve(customerId)),
  ]);
  const defaultId = 'deleted' in customer && customer.deleted ? null : idOf(customer.invoice_settings?.default_payment_method);
  return { cards: methods.data, defaultId };
}

function answer(card: Stripe.PaymentMethod, defaultId: string | null): PaymentMethodAnswer {
  return paymentMethodAnswerSchema.parse({
    id: card.id,
    brand: card.card?.brand ?? 'card',
    last4: card.card?.last4 ?? '????',
    expMonth: card.card?.exp_month ?? 0,
    expYear: card.card?.exp_year ?? 0,
    isDefault: card.id === defaultId,
  });
}

/** The saved cards, the default first, then newest first. */
export async function listPaymentMethods(db: Database, actor: Actor): Promise<PaymentMethodAnswer[]> {
  const { customerId } = await asActor(db, actor, (tx) => readBilling(tx, actor.userId));
  if (!customerId) return [];
  const { cards, defaultId } = await cardsAtStripe(customerId);
  return cards.map((card) => answer(card, defaultId)).sort((a, b) => Number(b.isDefault) - Number(a.isDefault));
}

/** A SetupIntent for the PaymentElement to save a card with (off-session use: renewals, recharges). */
export async function createSetupIntent(db: Database, actor: Actor): Promise<{ setupIntentId: string; clientSecret: string }> {
  await enforceRateLimit(db, actor.userId, 'setup_intent');
  const customerId = await ensureCustomerId(db, actor.userId);
  const intent = await stripeCall(() =>
    stripe().setupIntents.create(
      { customer: customerId, usage: 'off_session', automatic_payment_methods: { enabled: true }, metadata: { userId: actor.userId } },
      { idempotencyKey: `setup-intent:${actor.userId}:${randomUUID()}` },
    ),
  );
  if (!intent.client_secret) throw new AppError('payment_provider_error', 'The payment provider did not return a way to add the card.');
  return { setupIntentId: intent.id, clientSecret: intent.client_secret };
}

/** A Stripe object by id, or null when Stripe has none by that id (for the user: not theirs). */
export async function retrieveOrNull<T>(work: () => Promise<T>): Promise<T | null> {
  try {
    return await work();
  } catch (error) {
    if (isStripeError(error, 'StripeInvalidRequestError') && error.code === 'resource_missing') return null;
    throw toAppError(error);
  }
}

/** The customer's default card at Stripe (the one renewals and auto-recharges charge), if it is still attached to them. */
export async function defaultCardOf(customerId: string): Promise<Stripe.PaymentMethod | null> {
  const customer = await stripeCall(() => stripe().customers.retrieve(customerId, { expand: ['invoice_settings.default_payment_method'] }));
  if ('deleted' in customer && customer.deleted) return null;
  const card = customer.invoice_settings?.default_payment_method;
  const id = idOf(card);
  if (!id) return null;
  const method = typeof card === 'object' && card !== null ? card : await retrieveOrNull(() => stripe().paymentMethods.retrieve(id));
  return method && idOf(method.customer) === customerId ? method : null;
}

export async function ownCard(customerId: string, paymentMethodId: string): Promise<Stripe.PaymentMethod> {
  const card = await retrieveOrNull(() => stripe().paymentMethods.retrieve(paymentMethodId));
  if (!card || idOf(card.customer) !== customerId) throw new AppError('not_found', 'That card is not one of yours.');
  return card;
}

/**
 * Runs `work` while holding the customer's card lock (a session advisory lock), so two changes of
 * the customer's cards never interleave: a removal that decided which card stays the default is
 * never overtaken by a "make default" of the card it is removing, and the webhook adopting a card
 * waits for both. Every change of the default or of the saved cards takes it.
 */
export async function withCardLock<T>(db: Database, customerId: string, work: (session: Queryable) => Promise<T>): Promise<T> {
  // Reads inside go through `session`: with PGlite the pool has one connection, which this holds.
  return db.withSession(async (session) => {
    await session.query('select pg_advisory_lock(hashtext($1))', [`payment-methods:${customerId}`]);
    try {
      return await work(session);
    } finally {
      await session.query('select pg_advisory_unlock(hashtext($1))', [`payment-methods:${customerId}`]).catch(() => undefined);
    }
  });
}

/** Makes a saved card the one that pays the subscription and every later payment. */
export async function makeDefault(customerId: string, subscriptionIds: string[], paymentMethodId: string): Promise<void> {
  await stripeCall(() => stripe().customers.update(customerId, { invoice_settings: { default_payment_method: paymentMethodId } }));
  for (const id of subscriptionIds) {
    await stripeCall(() => stripe().subscriptions.update(id, { default_payment_method: paymentMethodId }));
  }
}

export async function setDefaultPaymentMethod(db: Database, actor: Actor, paymentMethodId: string): Promise<PaymentMethodAnswer[]> {
  const billing = await asActor(db, actor, (tx) => readBilling(tx, actor.userId));
  if (!billing.customerId) throw new AppError('not_found', 'That card is not one of yours.');
  const customerId = billing.customerId;
  await withCardLock(db, customerId, async () => {
    // Checked under the lock: a removal of this card that was under way has finished.
    await ownCard(customerId, paymentMethodId);
    await makeDefault(
      customerId,
      billing.subscriptions.map((sub) => sub.id),
      paymentMethodId,
    );
  });
  return listPaymentMethods(db, actor);
}

/** After the browser confirmed a SetupIntent: check it at Stripe, make the card the default if asked or if it is the only one. */
export async function cardAdded(
  db: Database,
  actor: Actor,
  body: CardAddedBody,
): Promise<{ paymentMethodId: string; methods: PaymentMethodAnswer[] }> {
  const billing = await asActor(db, actor, (tx) => readBilling(tx, actor.userId));
  if (!billing.customerId) throw new AppError('not_found', 'That card setup is not one of yours.');
  const intent = await retrieveOrNull(() => stripe().setupIntents.retrieve(body.setupIntentId));
  if (!intent || idOf(intent.customer) !== billing.customerId) throw new AppError('not_found', 'That card setup is not one of yours.');
  if (intent.status !== 'succeeded') {
    throw new AppError(
      'unprocessable',
      intent.status === 'requires_action'
        ? 'The card still needs to be confirmed with your bank.'
        : 'The card was not saved. Please try again or use another card.',
    );
  }
  const paymentMethodId = idOf(intent.payment_method);
  if (!paymentMethodId) throw new AppError('unprocessable', 'The card was not saved. Please try again or use another card.');
  const customerId = billing.customerId;
  await withCardLock(db, customerId, async () => {
    const { cards, defaultId } = await cardsAtStripe(customerId);
    const defaultStillSaved = defaultId !== null && cards.some((card) => card.id === defaultId);
    if (body.makeDefault || !defaultStillSaved) {
      await makeDefault(
        customerId,
        billing.subscriptions.map((sub) => sub.id),
        paymentMethodId,
      );
    }
  });
  return { paymentMethodId, methods: await listPaymentMethods(db, actor) };
}

/**
 * Removes a saved card. The card paying a subscription in force cannot be removed while it is
 * the only card; when the default card goes and others remain, the newest other card becomes the
 * default, so renewals always have a card. Under the customer's card lock (withCardLock), so two
 * removals at once cannot take away both of the last two cards, and a "make default" of the card
 * being removed waits and then finds it gone.
 */
export async function removePaymentMethod(db: Database, actor: Actor, paymentMethodId: string): Promise<PaymentMethodAnswer[]> {
  const billing = await asActor(db, actor, (tx) => readBilling(tx, actor.userId));
  if (!billing.customerId) throw new AppError('not_found', 'That card is not one of yours.');
  const customerId = billing.customerId;
  await withCardLock(db, customerId, async (session) => {
    // Read again under the lock: a subscription may have started meanwhile.
    const current = await readBilling(session, actor.userId);
    await ownCard(customerId, paymentMethodId);
    const { cards, defaultId } = await cardsAtStripe(customerId);
    const others = cards.filter((card) => card.id !== paymentMethodId);
    if (current.subscriptions.length > 0 && others.length === 0) {
      throw new AppError(
        'conflict',
        'This card pays your subscription and is your only card, so it cannot be removed. Add another card first, or cancel the subscription.',
      );
    }
    const subscriptionIds = current.subscriptions.map((sub) => sub.id);
    const next = others.sort((a, b) => b.created - a.created)[0];
    if ((defaultId === paymentMethodId || defaultId === null) && next) await makeDefault(customerId, subscriptionIds, next.id);
    await stripeCall(() => stripe().paymentMethods.detach(paymentMethodId));
    // Backstop: whatever happened meanwhile (a default set outside this app, at Stripe), a
    // customer with cards left never ends without a default.
    const after = await cardsAtStripe(customerId);
    if (after.cards.length > 0 && !after.cards.some((card) => card.id === after.defaultId)) {
      await makeDefault(customerId, subscriptionIds, after.cards.sort((a, b) => b.created - a.created)[0]!.id);
    }
  });
  return listPaymentMethods(db, actor);
}
