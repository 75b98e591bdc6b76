import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { wireDecimal } from '../core/decimal.js';
import type { Route } from '../http/router.js';
import { invalidParam, resourceMissing } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata, type Params } from '../core/params.js';
import type { Interval } from '../core/time.js';

export interface PlanSeed {
  priceId: string;
  productId: string;
  name: string;
  lookupKey: string;
  unitAmount: number;
}

/** The app's three monthly plans (brief: Starter $10, Pro $50, Enterprise $500). */
export const DEFAULT_PLANS: PlanSeed[] = [
  { priceId: 'price_starter_plan_id', productId: 'prod_starter', name: 'Starter', lookupKey: 'starter', unitAmount: 1000 },
  { priceId: 'price_pro_plan_id', productId: 'prod_pro', name: 'Pro', lookupKey: 'pro', unitAmount: 5000 },
  {
    priceId: 'price_enterprise_plan_id',
    productId: 'prod_enterprise',
    name: 'Enterprise',
    lookupKey: 'enterprise',
    unitAmount: 50000,
  },
];

export function requirePrice(engine: Engine, id: string, param = 'price'): Stripe.Price {
  const price = engine.state.prices[id];
  if (!price) throw resourceMissing('price', id, param);
  return price;
}

export function requireProduct(engine: Engine, id: string, param = 'id'): Stripe.Product {
  const product = engine.state.products[id];
  if (!product) throw resourceMissing('product', id, param);
  return product;
}

export function productName(engine: Engine, price: Stripe.Price): string {
  const id = typeof price.product === 'string' ? price.product : price.product.id;
  return engine.state.products[id]?.name ?? id;
}

function buildProduct(id: string, name: string, created: number, description: string | null = null): Stripe.Product {
  return {
    id,
    object: 'product',
    active: true,
    created,
    default_price: null,
    description,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: {},
    name,
    package_dimensions: null,
    shippable: null,
    statement_descriptor: null,
    tax_code: null,
    tax_details: null,
    type: 'service',
    unit_label: null,
    updated: created,
    url: null,
  };
}

interface PriceInput {
  id: string;
  product: string;
  unitAmount: number;
  currency: string;
  created: number;
  recurring: { interval: Interval; interval_count: number } | null;
  lookupKey: string | null;
  nickname: string | null;
}

function buildPrice(p: PriceInput): Stripe.Price {
  return {
    id: p.id,
    object: 'price',
    active: true,
    billing_scheme: 'per_unit',
    created: p.created,
    currency: p.currency,
    custom_unit_amount: null,
    livemode: false,
    lookup_key: p.lookupKey,
    metadata: {},
    nickname: p.nickname,
    product: p.product,
    recurring: p.recurring
      ? { ...p.recurring, meter: null, trial_period_days: null, usage_type: 'licensed' }
      : null,
    tax_behavior: 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: p.recurring ? 'recurring' : 'one_time',
    unit_amount: p.unitAmount,
    // Serialises as Stripe's decimal string; after a reload it is that string.
    unit_amount_decimal: wireDecimal(p.unitAmount),
  };
}

/** Creates the plan prices once (kept across restarts; ids are the app's configured ids). */
export function seedPlans(engine: Engine, plans: PlanSeed[]): void {
  const created = engine.now();
  for (const plan of plans) {
    if (engine.state.prices[plan.priceId]) continue;
    const product = engine.state.products[plan.productId] ?? buildProduct(plan.productId, plan.name, created);
    product.default_price = plan.priceId;
    engine.state.products[product.id] = product;
    engine.state.prices[plan.priceId] = buildPrice({
      id: plan.priceId,
      product: product.id,
      unitAmount: plan.unitAmount,
      currency: 'usd',
      created,
      recurring: { interval: 'month', interval_count: 1 },
      lookupKey: plan.lookupKey,
      nickname: plan.name,
    });
  }
  engine.store.touch();
}

/** The legacy `plan` view of a recurring price, still embedded in subscription items. */
export function planOf(price: Stripe.Price): Stripe.Plan {
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: price.recurring?.interval ?? 'month',
    interval_count: price.recurring?.interval_count ?? 1,
    livemode: false,
    metadata: price.metadata,
    meter: null,
    nickname: price.nickname,
    product: typeof price.product === 'string' ? price.product : price.product.id,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: null,
    usage_type: 'licensed',
  };
}

function createProduct(engine: Engine, p: Params): Stripe.Product {
  p.only(['name', 'description', 'metadata', 'id', 'active', 'expand']);
  const id = p.str('id') ?? newId('prod');
  const product = buildProduct(id, p.reqStr('name'), engine.now(), p.str('description') ?? null);
  product.metadata = mergeMetadata(null, p.metadata());
  if (p.bool('active') === false) product.active = false;
  engine.state.products[id] = product;
  engine.store.touch();
  engine.emit('product.created', product);
  return product;
}

function createPrice(engine: Engine, p: Params): Stripe.Price {
  p.only(['product', 'unit_amount', 'currency', 'recurring', 'lookup_key', 'transfer_lookup_key', 'nickname', 'metadata', 'active', 'expand']);
  const product = requireProduct(engine, p.reqStr('product'), 'product');
  // A lookup key belongs to one price at a time; transfer_lookup_key moves it from its holder.
  const lookupKey = p.str('lookup_key');
  const holder = lookupKey === undefined ? undefined : Object.values(engine.state.prices).find((x) => x.lookup_key === lookupKey);
  if (holder && p.bool('transfer_lookup_key') !== true) {
    throw invalidParam('lookup_key', `A price (\`${holder.id}\`) already uses that lookup key.`);
  }
  if (holder) holder.lookup_key = null;
  const recurring = p.obj('recurring');
  const unitAmount = p.reqInt('unit_amount');
  if (unitAmount < 0) throw invalidParam('unit_amount', 'This value must be greater than or equal to 0.');
  const price = buildPrice({
    id: newId('price'),
    product: product.id,
    unitAmount,
    currency: p.reqStr('currency').toLowerCase(),
    created: engine.now(),
    recurring: recurring
      ? {
          interval: recurring.oneOf('interval', ['day', 'week', 'month', 'year'] as const) ?? 'month',
          interval_count: recurring.int('interval_count') ?? 1,
        }
      : null,
    lookupKey: p.str('lookup_key') ?? null,
    nickname: p.str('nickname') ?? null,
  });
  price.metadata = mergeMetadata(null, p.metadata());
  engine.state.prices[price.id] = price;
  engine.store.touch();
  engine.emit('price.created', price);
  return price;
}

function priceMatches(price: Stripe.Price, p: Params): boolean {
  const active = p.bool('active');
  const product = p.str('product');
  const type = p.str('type');
  const lookupKeys = p.strList('lookup_keys');
  const currency = p.str('currency');
  return (
    (active === undefined || price.active === active) &&
    (product === undefined || price.product === product) &&
    (type === undefined || price.type === type) &&
    (currency === undefined || price.currency === currency) &&
    (lookupKeys === undefined || (price.lookup_key !== null && lookupKeys.includes(price.lookup_key))) &&
    matchesCreated(p, price.created)
  );
}

export const catalogRoutes: Route[] = [
  { method: 'POST', path: '/v1/products', handler: ({ engine, params, expand }) => engine.render(createProduct(engine, params), expand) },
  {
    method: 'GET',
    path: '/v1/products',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'active', 'ids', 'created', 'shippable', 'url']);
      const active = params.bool('active');
      const ids = params.strList('ids');
      const items = newestFirst(engine.state.products).filter(
        (x) => (active === undefined || x.active === active) && (ids === undefined || ids.includes(x.id)),
      );
      return paginate(engine, items, params, '/v1/products');
    },
  },
  {
    method: 'POST',
    path: '/v1/products/:id',
    handler: ({ engine, path, params, expand }) => {
      params.only(['name', 'description', 'metadata', 'active', 'expand']);
      const product = requireProduct(engine, path.id ?? '');
      if (params.has('name')) product.name = params.reqStr('name');
      if (params.has('description')) product.description = params.str('description') ?? null;
      const active = params.bool('active');
      if (active !== undefined) product.active = active;
      product.metadata = mergeMetadata(product.metadata, params.metadata());
      product.updated = engine.now();
      engine.store.touch();
      engine.emit('product.updated', product);
      return engine.render(product, expand);
    },
  },
  {
    method: 'GET',
    path: '/v1/products/:id',
    handler: ({ engine, path, expand }) => engine.render(requireProduct(engine, path.id ?? ''), expand),
  },
  { method: 'POST', path: '/v1/prices', handler: ({ engine, params, expand }) => engine.render(createPrice(engine, params), expand) },
  {
    method: 'GET',
    path: '/v1/prices',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'active', 'product', 'type', 'lookup_keys', 'currency', 'created', 'recurring']);
      const items = newestFirst(engine.state.prices).filter((x) => priceMatches(x, params));
      return paginate(engine, items, params, '/v1/prices');
    },
  },
  {
    method: 'GET',
    path: '/v1/prices/:id',
    handler: ({ engine, path, expand }) => engine.render(requirePrice(engine, path.id ?? '', 'id'), expand),
  },
];
