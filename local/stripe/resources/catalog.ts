import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { wireDecimal } from '../core/decimal.js';
import type { Route } from '../http/router.js';
import { invalidParam, invalidRequest, resourceMissing } from '../core/errors.js';
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
    recurring: p.recurring ? { ...p.recurring, meter: null, trial_period_days: null, usage_type: 'licensed' } : null,
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

const PRODUCT_FIELDS = [
  'name',
  'description',
  'metadata',
  'active',
  'images',
  'url',
  'statement_descriptor',
  'tax_code',
  'unit_label',
  'shippable',
  'marketing_features',
  'expand',
] as const;

/** Documented product fields, stored as given. */
function applyProductFields(product: Stripe.Product, p: Params): void {
  if (p.has('name')) product.name = p.reqStr('name');
  if (p.has('description')) product.description = p.str('description') ?? null;
  if (p.has('active')) product.active = p.bool('active') ?? true;
  if (p.has('images')) product.images = p.strList('images') ?? [];
  if (p.has('url')) product.url = p.str('url') ?? null;
  if (p.has('statement_descriptor')) product.statement_descriptor = p.str('statement_descriptor') ?? null;
  if (p.has('tax_code')) product.tax_code = p.str('tax_code') ?? null;
  if (p.has('unit_label')) product.unit_label = p.str('unit_label') ?? null;
  if (p.has('shippable')) product.shippable = p.bool('shippable') ?? null;
  if (p.has('marketing_features'))
    product.marketing_features = (p.list('marketing_features') ?? []).map((f) => ({ name: f.reqStr('name') }));
  product.metadata = mergeMetadata(product.metadata, p.metadata());
}

function createProduct(engine: Engine, p: Params): Stripe.Product {
  p.only([...PRODUCT_FIELDS, 'id', 'default_price_data']);
  const id = p.str('id') ?? newId('prod');
  if (engine.state.products[id]) throw invalidParam('id', `Product already exists: ${id}`);
  const product = buildProduct(id, p.reqStr('name'), engine.now());
  applyProductFields(product, p);
  engine.state.products[id] = product;
  engine.store.touch();
  engine.emit('product.created', product);
  // `default_price_data`: the product's first price, made with it.
  const dpd = p.obj('default_price_data');
  if (dpd) {
    dpd.only(['currency', 'unit_amount', 'unit_amount_decimal', 'recurring', 'tax_behavior', 'metadata']);
    const price = newPrice(engine, product, dpd);
    product.default_price = price.id;
  }
  return product;
}

function updateProduct(engine: Engine, product: Stripe.Product, p: Params): Stripe.Product {
  p.only([...PRODUCT_FIELDS, 'default_price']);
  const before = structuredClone(product);
  applyProductFields(product, p);
  if (p.has('default_price')) {
    const priceId = p.str('default_price');
    if (priceId !== undefined && requirePrice(engine, priceId, 'default_price').product !== product.id) {
      throw invalidParam('default_price', `The price ${priceId} belongs to another product.`);
    }
    product.default_price = priceId ?? null;
  }
  product.updated = engine.now();
  engine.store.touch();
  engine.emit('product.updated', product, changed(before, product));
  return product;
}

function deleteProduct(engine: Engine, product: Stripe.Product): Stripe.DeletedProduct {
  if (Object.values(engine.state.prices).some((pr) => pr.product === product.id)) {
    throw invalidRequest('This product cannot be deleted because it has one or more user-created prices.', { code: 'product_has_prices' });
  }
  delete engine.state.products[product.id];
  engine.store.touch();
  engine.emit('product.deleted', product);
  return { id: product.id, object: 'product', deleted: true };
}

/** Top-level fields that changed, with their old values. */
function changed<T extends object>(before: T, after: T): Record<string, unknown> {
  const prev: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) {
    const old = (before as Record<string, unknown>)[k];
    if (JSON.stringify(old) !== JSON.stringify(v)) prev[k] = old ?? null;
  }
  return prev;
}

function createPrice(engine: Engine, p: Params): Stripe.Price {
  p.only([
    'product',
    'product_data',
    'unit_amount',
    'unit_amount_decimal',
    'currency',
    'recurring',
    'lookup_key',
    'transfer_lookup_key',
    'nickname',
    'metadata',
    'active',
    'tax_behavior',
    'billing_scheme',
    'expand',
  ]);
  const data = p.obj('product_data');
  let product: Stripe.Product;
  if (data) {
    // `product_data`: a product made with the price.
    data.only(['name', 'active', 'metadata', 'statement_descriptor', 'tax_code', 'unit_label', 'id']);
    product = createProduct(engine, data);
  } else product = requireProduct(engine, p.reqStr('product'), 'product');
  if (p.has('billing_scheme') && p.str('billing_scheme') !== 'per_unit') {
    throw invalidParam('billing_scheme', 'The local Stripe bills per_unit prices only.');
  }
  const lookupKey = p.str('lookup_key');
  if (lookupKey !== undefined) {
    const holder = Object.values(engine.state.prices).find((pr) => pr.lookup_key === lookupKey);
    if (holder && p.bool('transfer_lookup_key') !== true) {
      throw invalidParam('lookup_key', `A price (\`${holder.id}\`) already uses that lookup key.`);
    }
    if (holder) holder.lookup_key = null;
  }
  return newPrice(engine, product, p, (price) => {
    if (p.bool('active') === false) price.active = false;
    price.lookup_key = lookupKey ?? null;
    price.nickname = p.str('nickname') ?? null;
  });
}

/** A price for `product` from `unit_amount` (or a whole-cent `unit_amount_decimal`), currency, recurring, tax_behavior. */
function newPrice(engine: Engine, product: Stripe.Product, p: Params, more?: (price: Stripe.Price) => void): Stripe.Price {
  const recurring = p.obj('recurring');
  recurring?.only(['interval', 'interval_count', 'usage_type']);
  if (recurring?.has('usage_type') && recurring.str('usage_type') !== 'licensed') {
    throw invalidParam('recurring[usage_type]', 'The local Stripe supports licensed prices only.');
  }
  const decimal = p.str('unit_amount_decimal');
  if (decimal !== undefined && !/^\d+$/.test(decimal))
    throw invalidParam('unit_amount_decimal', 'The local Stripe bills whole cents only.');
  const unitAmount = decimal !== undefined && !p.has('unit_amount') ? Number(decimal) : p.reqInt('unit_amount');
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
    lookupKey: null,
    nickname: null,
  });
  price.metadata = mergeMetadata(null, p.metadata());
  const tax = p.oneOf('tax_behavior', ['exclusive', 'inclusive', 'unspecified'] as const);
  if (tax) price.tax_behavior = tax;
  more?.(price);
  engine.state.prices[price.id] = price;
  engine.store.touch();
  engine.emit('price.created', price);
  return price;
}

function updatePrice(engine: Engine, price: Stripe.Price, p: Params): Stripe.Price {
  p.only(['active', 'lookup_key', 'transfer_lookup_key', 'nickname', 'metadata', 'tax_behavior', 'expand']);
  const before = structuredClone(price);
  if (p.has('active')) price.active = p.bool('active') ?? true;
  if (p.has('nickname')) price.nickname = p.str('nickname') ?? null;
  if (p.has('lookup_key')) {
    const key = p.str('lookup_key');
    const holder =
      key === undefined ? undefined : Object.values(engine.state.prices).find((pr) => pr.lookup_key === key && pr.id !== price.id);
    if (holder && p.bool('transfer_lookup_key') !== true)
      throw invalidParam('lookup_key', `A price (\`${holder.id}\`) already uses that lookup key.`);
    if (holder) holder.lookup_key = null;
    price.lookup_key = key ?? null;
  }
  const tax = p.oneOf('tax_behavior', ['exclusive', 'inclusive', 'unspecified'] as const);
  if (tax) price.tax_behavior = tax;
  price.metadata = mergeMetadata(price.metadata, p.metadata());
  engine.store.touch();
  engine.emit('price.updated', price, changed(before, price));
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
    method: 'GET',
    path: '/v1/products/:id',
    handler: ({ engine, path, expand }) => engine.render(requireProduct(engine, path.id ?? ''), expand),
  },
  {
    method: 'POST',
    path: '/v1/products/:id',
    handler: ({ engine, path, params, expand }) =>
      engine.render(updateProduct(engine, requireProduct(engine, path.id ?? ''), params), expand),
  },
  {
    method: 'DELETE',
    path: '/v1/products/:id',
    handler: ({ engine, path }) => deleteProduct(engine, requireProduct(engine, path.id ?? '')),
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
  {
    method: 'POST',
    path: '/v1/prices/:id',
    handler: ({ engine, path, params, expand }) =>
      engine.render(updatePrice(engine, requirePrice(engine, path.id ?? '', 'id'), params), expand),
  },
];
