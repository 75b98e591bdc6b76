import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { invalidRequest } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Params } from '../core/params.js';
import { requirePrice } from '../resources/catalog.js';
import { prorationDescription, type LineInput } from './invoices.js';

/** An item of the subscription as it will be after the change. */
export interface PlannedItem {
  id: string;
  /** An item added by this change (its id is freshly minted). */
  isNew: boolean;
  price: Stripe.Price;
  quantity: number;
  metadata: Record<string, string>;
}

export interface ItemPlan {
  items: PlannedItem[];
  /** Credit for the unused time of replaced items, charge for the rest of the period on new ones. */
  prorations: LineInput[];
}

export function currentPeriod(sub: Stripe.Subscription): { start: number; end: number } {
  const item = sub.items.data[0];
  return { start: item?.current_period_start ?? sub.start_date, end: item?.current_period_end ?? sub.start_date };
}

function sameInterval(a: Stripe.Price, b: Stripe.Price): boolean {
  return a.recurring?.interval === b.recurring?.interval && a.recurring?.interval_count === b.recurring?.interval_count;
}

/** Applies `items[]` changes (`{ id, price, quantity, deleted }` or a new `{ price }`) to the current items. */
function planItems(engine: Engine, sub: Stripe.Subscription, changes: Params[]): PlannedItem[] {
  const next: PlannedItem[] = sub.items.data.map((i) => ({
    id: i.id,
    isNew: false,
    price: i.price,
    quantity: i.quantity ?? 1,
    metadata: i.metadata,
  }));
  changes.forEach((c, n) => {
    c.only(['id', 'price', 'quantity', 'deleted', 'metadata', 'clear_usage', 'discounts', 'tax_rates']);
    const id = c.str('id');
    const priceId = c.str('price');
    const price = priceId === undefined ? undefined : requirePrice(engine, priceId, `items[${n}][price]`);
    if (id === undefined) {
      if (!price)
        throw invalidRequest('Missing required param: items[0][price].', { code: 'parameter_missing', param: `items[${n}][price]` });
      next.push({ id: newId('si'), isNew: true, price, quantity: c.int('quantity') ?? 1, metadata: {} });
      return;
    }
    const index = next.findIndex((x) => x.id === id);
    const item = next[index];
    if (!item) throw invalidRequest(`No such subscription item: '${id}'`, { code: 'resource_missing', param: `items[${n}][id]` });
    if (c.bool('deleted')) {
      next.splice(index, 1);
      return;
    }
    next[index] = { ...item, ...(price ? { price } : {}), quantity: c.int('quantity') ?? item.quantity };
  });
  if (next.length === 0) {
    throw invalidRequest(
      'A subscription must have at least one active plan. To cancel a subscription, please use the cancel API endpoint.',
    );
  }
  const first = next[0];
  for (const item of next) {
    if (first && !sameInterval(first.price, item.price)) {
      throw invalidRequest('The local Stripe does not support mixing or changing billing intervals on a subscription.', {
        param: 'items',
      });
    }
  }
  const old = sub.items.data[0]?.price;
  if (old && first && !sameInterval(old, first.price)) {
    throw invalidRequest('The local Stripe does not support changing the billing interval of a subscription.', { param: 'items' });
  }
  return next;
}

function prorated(amount: number, at: number, period: { start: number; end: number }): number {
  const length = period.end - period.start;
  if (length <= 0) return 0;
  const remaining = Math.min(Math.max(period.end - at, 0), length);
  return Math.round((amount * remaining) / length);
}

/** The new items and the proration lines Stripe would compute at `at`. */
export function planItemChange(engine: Engine, sub: Stripe.Subscription, changes: Params[], at: number): ItemPlan {
  const items = planItems(engine, sub, changes);
  const period = currentPeriod(sub);
  const prorations: LineInput[] = [];
  const line = (price: Stripe.Price, quantity: number, itemId: string, credit: boolean): LineInput => {
    const amount = prorated((price.unit_amount ?? 0) * quantity, at, period);
    return {
      amount: credit ? -amount : amount,
      description: prorationDescription(engine, price, quantity, credit, at),
      period: { start: at, end: period.end },
      price,
      quantity,
      proration: true,
      subscription: sub.id,
      subscriptionItem: itemId,
      invoiceItem: null,
    };
  };
  for (const old of sub.items.data) {
    const now = items.find((i) => i.id === old.id);
    const changed = !now || now.price.id !== old.price.id || now.quantity !== (old.quantity ?? 1);
    if (!changed) continue;
    prorations.push(line(old.price, old.quantity ?? 1, old.id, true));
    if (now) prorations.push(line(now.price, now.quantity, old.id, false));
  }
  for (const added of items.filter((i) => i.isNew)) prorations.push(line(added.price, added.quantity, added.id, false));
  return { items, prorations: prorations.filter((l) => l.amount !== 0) };
}
