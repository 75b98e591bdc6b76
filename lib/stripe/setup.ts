import { microsToCentsFloor } from '@/lib/billing/money';
import { PLANS, PLAN_IDS, type PlanId } from '@/lib/billing/plans';
import { STRIPE_API_VERSION, type Stripe } from '@/lib/stripe/client';
import { HANDLED_EVENT_TYPES } from '@/lib/webhooks/dispatcher';

// npm run stripe:setup: makes a Stripe account match what the app expects, and says what to put
// in the environment. Idempotent: everything is found again by a stable handle (the product's id,
// the price's lookup key, the endpoint's URL), compared, and changed only where it differs, so a
// second run changes nothing. Prices cannot be edited: a price whose amount or interval differs
// is replaced by a new one that takes over the lookup key (subscriptions on the old one keep it).

export const PLAN_PRODUCT_ID = (planId: PlanId) => `billing_plan_${planId}`;
export const PLAN_LOOKUP_KEY = (planId: PlanId) => `billing_${planId}_monthly`;
export const WEBHOOK_PATH = '/api/payments/webhook';
/** Exactly the events the webhook route acts on (the dispatcher's list), sorted. */
export const WEBHOOK_EVENTS = [...new Set(HANDLED_EVENT_TYPES)].sort() as Stripe.WebhookEndpointCreateParams.EnabledEvent[];

export interface SetupResult {
  /** What was done, one line each: `created …`, `updated …`, `unchanged …`. */
  actions: string[];
  /** Environment lines to paste (the webhook secret only when the endpoint was just created). */
  env: string[];
  changed: boolean;
  warnings: string[];
}

async function ensureProduct(stripe: Stripe, planId: PlanId, actions: string[]): Promise<Stripe.Product> {
  const id = PLAN_PRODUCT_ID(planId);
  const wanted = { name: PLANS[planId].name, metadata: { plan: planId } };
  const existing = await stripe.products.retrieve(id).catch((error: unknown) => {
    if ((error as { statusCode?: number }).statusCode === 404) return null;
    throw error;
  });
  if (!existing) {
    actions.push(`created product ${id}`);
    return stripe.products.create({ id, ...wanted });
  }
  if (existing.name !== wanted.name || existing.metadata.plan !== planId || !existing.active) {
    actions.push(`updated product ${id}`);
    return stripe.products.update(id, { ...wanted, active: true });
  }
  actions.push(`unchanged product ${id}`);
  return existing;
}

async function ensurePrice(stripe: Stripe, planId: PlanId, product: Stripe.Product, actions: string[]): Promise<Stripe.Price> {
  const lookupKey = PLAN_LOOKUP_KEY(planId);
  const unitAmount = microsToCentsFloor(PLANS[planId].allowanceMicros);
  const { data } = await stripe.prices.list({ lookup_keys: [lookupKey], limit: 1 });
  const existing = data[0];
  const productId = existing && (typeof existing.product === 'string' ? existing.product : existing.product.id);
  if (
    existing &&
    existing.active &&
    productId === product.id &&
    existing.unit_amount === unitAmount &&
    existing.currency === 'usd' &&
    existing.recurring?.interval === 'month' &&
    existing.recurring.interval_count === 1
  ) {
    actions.push(`unchanged price ${existing.id} (${lookupKey})`);
    return existing;
  }
  const price = await stripe.prices.create({
    product: product.id,
    unit_amount: unitAmount,
    currency: 'usd',
    recurring: { interval: 'month', interval_count: 1 },
    lookup_key: lookupKey,
    transfer_lookup_key: true,
    nickname: `${PLANS[planId].name} monthly`,
    metadata: { plan: planId },
  });
  actions.push(existing ? `replaced price ${existing.id} by ${price.id} (${lookupKey})` : `created price ${price.id} (${lookupKey})`);
  return price;
}

async function ensureWebhookEndpoint(stripe: Stripe, url: string, result: SetupResult): Promise<void> {
  let existing: Stripe.WebhookEndpoint | undefined;
  for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) {
    if (endpoint.url === url) existing = endpoint;
  }
  if (!existing) {
    const created = await stripe.webhookEndpoints.create({
      url,
      enabled_events: WEBHOOK_EVENTS,
      // Events in the shape the SDK's pinned version reads, whatever the account's default is.
      api_version: STRIPE_API_VERSION,
      description: 'Billing app: payments, subscriptions and invoices',
    });
    result.actions.push(`created webhook endpoint ${created.id} for ${url}`);
    result.env.push(`STRIPE_WEBHOOK_SECRET=${created.secret ?? ''}`);
    return;
  }
  const events = [...existing.enabled_events].sort();
  if (events.join() !== WEBHOOK_EVENTS.join() || existing.status !== 'enabled') {
    await stripe.webhookEndpoints.update(existing.id, { enabled_events: WEBHOOK_EVENTS, disabled: false });
    result.actions.push(`updated webhook endpoint ${existing.id} (events${existing.status !== 'enabled' ? ', enabled again' : ''})`);
  } else {
    result.actions.push(`unchanged webhook endpoint ${existing.id} for ${url}`);
  }
  if (existing.api_version && existing.api_version !== STRIPE_API_VERSION) {
    result.warnings.push(
      `webhook endpoint ${existing.id} sends API version ${existing.api_version}, the app reads ${STRIPE_API_VERSION}: delete it and run again`,
    );
  }
  result.env.push('# STRIPE_WEBHOOK_SECRET: unchanged (Stripe shows it once, at creation; roll it in the Dashboard if lost)');
}

/** `appUrl` is the app's public origin (https://…); the webhook endpoint is skipped without it. */
export async function setupStripe(stripe: Stripe, appUrl: string | null): Promise<SetupResult> {
  const result: SetupResult = { actions: [], env: [], changed: false, warnings: [] };
  for (const planId of PLAN_IDS) {
    const product = await ensureProduct(stripe, planId, result.actions);
    const price = await ensurePrice(stripe, planId, product, result.actions);
    result.env.push(`STRIPE_${planId.toUpperCase()}_PRICE_ID=${price.id}`);
  }
  if (appUrl) await ensureWebhookEndpoint(stripe, new URL(WEBHOOK_PATH, appUrl).toString(), result);
  else result.warnings.push('no --url given: the webhook endpoint was left alone (use `stripe listen` in development)');
  result.changed = result.actions.some((action) => !action.startsWith('unchanged'));
  return result;
}
