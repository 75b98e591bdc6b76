import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { invalidParam, invalidRequest } from './errors.js';
import type { Params } from './params.js';

/** Parameters every list endpoint accepts. */
export const LIST_PARAMS = ['limit', 'starting_after', 'ending_before', 'expand'] as const;

/**
 * One page of `items` (already filtered, newest first) in Stripe's list shape,
 * with `expand[]=data.x` applied to each item.
 */
export function paginate<T extends { id: string }>(engine: Engine, items: T[], params: Params, url: string): Stripe.ApiList<T> {
  const limit = params.int('limit') ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalidParam('limit', 'This value must be greater than or equal to 1 and less than or equal to 100.');
  }
  const after = params.str('starting_after');
  const before = params.str('ending_before');
  let page: T[];
  let hasMore: boolean;
  if (after !== undefined) {
    const i = items.findIndex((x) => x.id === after);
    if (i === -1) throw invalidRequest(`No such object: '${after}'`, { code: 'resource_missing', param: 'starting_after' });
    const rest = items.slice(i + 1);
    page = rest.slice(0, limit);
    hasMore = rest.length > limit;
  } else if (before !== undefined) {
    const i = items.findIndex((x) => x.id === before);
    if (i === -1) throw invalidRequest(`No such object: '${before}'`, { code: 'resource_missing', param: 'ending_before' });
    const rest = items.slice(0, i);
    page = rest.slice(Math.max(0, rest.length - limit));
    hasMore = rest.length > limit;
  } else {
    page = items.slice(0, limit);
    hasMore = items.length > limit;
  }
  const itemPaths = params
    .expand()
    .filter((p) => p.startsWith('data.'))
    .map((p) => p.slice('data.'.length));
  return {
    object: 'list',
    data: page.map((x) => engine.render(x, itemPaths)),
    has_more: hasMore,
    url,
  };
}

/** Newest first: collections keep insertion order, Stripe lists newest first. */
export function newestFirst<T>(record: Record<string, T>): T[] {
  return Object.values(record).reverse();
}

/** `created` filter: a number or `created[gte]=...` etc. */
export function matchesCreated(params: Params, created: number): boolean {
  const exact = params.has('created') && typeof params.raw.created === 'string' ? params.int('created') : undefined;
  if (exact !== undefined) return created === exact;
  const range = params.obj('created');
  if (!range) return true;
  const gt = range.int('gt');
  const gte = range.int('gte');
  const lt = range.int('lt');
  const lte = range.int('lte');
  return (
    (gt === undefined || created > gt) &&
    (gte === undefined || created >= gte) &&
    (lt === undefined || created < lt) &&
    (lte === undefined || created <= lte)
  );
}
