// Subscription schedules: the subset Stripe's "change at the end of the period" recipe needs.
//   POST /v1/subscription_schedules { from_subscription }   one phase: the current period
//   POST /v1/subscription_schedules/:id { phases, end_behavior, proration_behavior, metadata }
//   POST /v1/subscription_schedules/:id/release             the subscription carries on alone
//   GET  /v1/subscription_schedules/:id, GET /v1/subscription_schedules
// A phase boundary is reached only at a period end (the renewal cycle calls advanceSchedule
// first, so the renewal invoice bills the new phase's prices, without prorations). Phases must
// be contiguous, the first one is the running phase and keeps its start, and later phase
// boundaries must fall on period ends (the local Stripe bills whole periods only).
// Not supported: schedules created from `customer` + phases, `subscription_schedules/:id/cancel`,
// trials and invoice items in phases. This module reads subscriptions from the state directly and
// imports nothing from ./subscriptions.ts, so the two never import each other.
import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { invalidParam, invalidRequest, missingParam, resourceMissing } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata, type Params } from '../core/params.js';
import { addIntervals, type Interval } from '../core/time.js';
import { planOf, requirePrice } from '../resources/catalog.js';
import { diff } from '../resources/customers.js';

type Schedule = Stripe.SubscriptionSchedule;
type Phase = Stripe.SubscriptionSchedule.Phase;

const OPEN: ReadonlySet<string> = new Set(['active', 'not_started']);

export function requireSchedule(engine: Engine, id: string, param = 'id'): Schedule {
  const schedule = engine.state.subscriptionSchedules[id];
  if (!schedule) throw resourceMissing('subscription_schedule', id, param);
  return schedule;
}

const customerIdOf = (sub: Stripe.Subscription) => (typeof sub.customer === 'string' ? sub.customer : sub.customer.id);
const priceIdOf = (price: Stripe.SubscriptionSchedule.Phase.Item['price']) => (typeof price === 'string' ? price : price.id);

function period(sub: Stripe.Subscription): { start: number; end: number } {
  const item = sub.items.data[0];
  return { start: item?.current_period_start ?? sub.start_date, end: item?.current_period_end ?? sub.start_date };
}

function phaseOf(
  items: Array<{ price: Stripe.Price; quantity: number; metadata: Record<string, string> }>,
  start: number,
  end: number,
  proration: Stripe.SubscriptionSchedule.Phase.ProrationBehavior,
  metadata: Record<string, string>,
): Phase {
  const first = items[0];
  return {
    add_invoice_items: [],
    application_fee_percent: null,
    billing_cycle_anchor: null,
    billing_thresholds: null,
    collection_method: null,
    currency: first?.price.currency ?? 'usd',
    default_payment_method: null,
    description: null,
    discounts: [],
    end_date: end,
    invoice_settings: null,
    items: items.map((i) => ({
      billing_thresholds: null,
      discounts: [],
      metadata: i.metadata,
      plan: i.price.id,
      price: i.price.id,
      quantity: i.quantity,
      tax_rates: [],
    })),
    metadata: metadata,
    on_behalf_of: null,
    proration_behavior: proration,
    start_date: start,
    transfer_data: null,
    trial_end: null,
  };
}

function subscriptionOf(engine: Engine, schedule: Schedule): Stripe.Subscription | undefined {
  const id = typeof schedule.subscription === 'string' ? schedule.subscription : schedule.subscription?.id;
  return id ? engine.state.subscriptions[id] : undefined;
}

function emitSubscriptionUpdated(engine: Engine, sub: Stripe.Subscription, before: Stripe.Subscription): void {
  const previous = diff(before, sub);
  if (Object.keys(previous).length > 0) engine.emit('customer.subscription.updated', sub, previous);
}

function createFromSubscription(engine: Engine, p: Params): Schedule {
  p.only(['from_subscription', 'customer', 'phases', 'metadata', 'expand', 'end_behavior', 'start_date']);
  const subId = p.str('from_subscription');
  if (subId === undefined) {
    if (p.has('customer') || p.has('phases')) {
      throw invalidRequest('The local Stripe creates subscription schedules only from an existing subscription (from_subscription).', {
        param: 'customer',
      });
    }
    throw missingParam('from_subscription');
  }
  for (const other of ['customer', 'phases', 'end_behavior', 'start_date']) {
    if (p.has(other)) throw invalidRequest(`You cannot set \`${other}\` if \`from_subscription\` is set.`, { param: other });
  }
  const sub = engine.state.subscriptions[subId];
  if (!sub) throw resourceMissing('subscription', subId, 'from_subscription');
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired' || sub.status === 'incomplete') {
    throw invalidRequest(`A schedule cannot be created from a subscription with status \`${sub.status}\`.`, { param: 'from_subscription' });
  }
  const attached = typeof sub.schedule === 'string' ? sub.schedule : sub.schedule?.id;
  if (attached) {
    throw invalidRequest(`You cannot migrate a subscription that is already attached to a schedule: \`${attached}\`.`, {
      param: 'from_subscription',
    });
  }
  const customer = customerIdOf(sub);
  const now = engine.now(customer);
  const current = period(sub);
  const md = p.metadata();
  const id = newId('sub_sched');
  const schedule: Schedule = {
    id,
    object: 'subscription_schedule',
    application: null,
    billing_mode: { flexible: null, type: 'classic' },
    canceled_at: null,
    completed_at: null,
    created: now,
    current_phase: { start_date: current.start, end_date: current.end },
    customer,
    customer_account: null,
    default_settings: {
      application_fee_percent: null,
      billing_cycle_anchor: 'automatic',
      billing_thresholds: null,
      collection_method: 'charge_automatically',
      default_payment_method: null,
      description: null,
      invoice_settings: {
        account_tax_ids: null,
        custom_fields: null,
        days_until_due: null,
        description: null,
        footer: null,
        issuer: { type: 'self' },
      },
      on_behalf_of: null,
      transfer_data: null,
    },
    end_behavior: 'release',
    livemode: false,
    metadata: md === 'unset' || !md ? {} : md,
    pause_schedules: [],
    phases: [
      phaseOf(
        sub.items.data.map((i) => ({ price: i.price, quantity: i.quantity ?? 1, metadata: i.metadata })),
        current.start,
        current.end,
        'create_prorations',
        {},
      ),
    ],
    released_at: null,
    released_subscription: null,
    status: 'active',
    subscription: sub.id,
    test_clock: sub.test_clock ?? null,
  };
  engine.state.subscriptionSchedules[id] = schedule;
  const before = structuredClone(sub);
  sub.schedule = id;
  engine.store.touch();
  engine.emit('subscription_schedule.created', schedule);
  emitSubscriptionUpdated(engine, sub, before);
  return schedule;
}

function intervalOf(price: Stripe.Price): { interval: Interval; count: number } {
  return { interval: (price.recurring?.interval ?? 'month') as Interval, count: price.recurring?.interval_count ?? 1 };
}

function updateSchedule(engine: Engine, schedule: Schedule, p: Params): Schedule {
  p.only(['phases', 'end_behavior', 'proration_behavior', 'metadata', 'expand', 'default_settings']);
  if (!OPEN.has(schedule.status)) {
    throw invalidRequest(`You cannot update a subscription schedule that is currently in the \`${schedule.status}\` status.`);
  }
  if (p.has('default_settings')) throw invalidRequest('The local Stripe does not support default_settings.', { param: 'default_settings' });
  const sub = subscriptionOf(engine, schedule);
  if (!sub) throw invalidRequest('This subscription schedule has no subscription.');
  const before = structuredClone(schedule);
  const md = p.metadata();
  if (md !== undefined) schedule.metadata = mergeMetadata(schedule.metadata ?? {}, md);
  const end = p.oneOf('end_behavior', ['release', 'cancel', 'none', 'renew'] as const);
  if (end === 'none' || end === 'renew') throw invalidParam('end_behavior', 'The local Stripe supports end_behavior release and cancel.');
  if (end) schedule.end_behavior = end;
  const proration = p.oneOf('proration_behavior', ['create_prorations', 'none', 'always_invoice'] as const);
  const phases = p.list('phases');
  if (phases) schedule.phases = planPhases(engine, schedule, sub, phases, proration ?? 'create_prorations');
  engine.store.touch();
  const previous = diff(before, schedule);
  if (Object.keys(previous).length > 0) engine.emit('subscription_schedule.updated', schedule, previous);
  return schedule;
}

/** The phases as given, checked against what the local Stripe can run. */
function planPhases(
  engine: Engine,
  schedule: Schedule,
  sub: Stripe.Subscription,
  given: Params[],
  proration: Stripe.SubscriptionSchedule.Phase.ProrationBehavior,
): Phase[] {
  if (given.length === 0) throw invalidParam('phases', 'A schedule needs at least one phase.');
  const running = schedule.current_phase ?? { start_date: period(sub).start, end_date: period(sub).end };
  const anchor = period(sub);
  const out: Phase[] = [];
  let start = running.start_date;
  given.forEach((gp, n) => {
    const at = `phases[${n}]`;
    gp.only(['items', 'start_date', 'end_date', 'duration', 'proration_behavior', 'metadata']);
    const itemParams = gp.list('items');
    if (!itemParams || itemParams.length === 0) throw missingParam(`${at}[items]`);
    const items = itemParams.map((ip, k) => {
      ip.only(['price', 'quantity', 'metadata']);
      const price = requirePrice(engine, ip.reqStr('price'), `${at}[items][${k}][price]`);
      if (!price.recurring) throw invalidParam(`${at}[items][${k}][price]`, 'Phase items must use recurring prices.');
      const itemMd = ip.metadata();
      return { price, quantity: ip.int('quantity') ?? 1, metadata: itemMd === 'unset' || !itemMd ? {} : itemMd };
    });
    const first = items[0]!;
    const startDate = gp.int('start_date');
    if (n === 0 && startDate !== undefined && startDate !== running.start_date) {
      throw invalidParam(`${at}[start_date]`, 'You cannot change the start date of the current phase.');
    }
    if (n > 0 && startDate !== undefined && startDate !== start) {
      throw invalidParam(`${at}[start_date]`, 'Each phase must start when the previous one ends.');
    }
    let endDate = gp.int('end_date');
    const duration = gp.obj('duration');
    if (endDate !== undefined && duration) throw invalidRequest(`You may only specify one of \`end_date\` or \`duration\` on ${at}.`);
    const { interval, count } = intervalOf(first.price);
    if (duration) {
      duration.only(['interval', 'interval_count']);
      const unit = duration.oneOf('interval', ['day', 'week', 'month', 'year'] as const) ?? interval;
      endDate = addIntervals(start, unit, duration.int('interval_count') ?? 1, 1);
    }
    if (endDate === undefined) {
      if (n < given.length - 1) throw missingParam(`${at}[end_date]`);
      endDate = addIntervals(start, interval, count, 1);
    }
    if (endDate <= start) throw invalidParam(`${at}[end_date]`, 'A phase must end after it starts.');
    if (n === 0 && n < given.length - 1 && endDate !== anchor.end) {
      throw invalidRequest('The local Stripe changes phases only at the end of the current period.', { param: `${at}[end_date]` });
    }
    if (n === 0) {
      const unchanged =
        items.length === sub.items.data.length &&
        items.every((i, k) => sub.items.data[k]?.price.id === i.price.id && (sub.items.data[k]?.quantity ?? 1) === i.quantity);
      if (!unchanged)
        throw invalidRequest('The local Stripe does not change the items of the running phase; add a later phase instead.', {
          param: `${at}[items]`,
        });
    }
    const phaseMd = gp.metadata();
    const phaseProration = gp.oneOf('proration_behavior', ['create_prorations', 'none', 'always_invoice'] as const) ?? proration;
    out.push(phaseOf(items, start, endDate, phaseProration, phaseMd === 'unset' || !phaseMd ? {} : phaseMd));
    start = endDate;
  });
  return out;
}

function releaseSchedule(engine: Engine, schedule: Schedule, p?: Params): Schedule {
  p?.only(['preserve_cancel_date', 'expand']);
  if (!OPEN.has(schedule.status)) {
    throw invalidRequest(`You cannot release a subscription schedule that is currently in the \`${schedule.status}\` status.`);
  }
  const sub = subscriptionOf(engine, schedule);
  const now = engine.now(typeof schedule.customer === 'string' ? schedule.customer : schedule.customer.id);
  schedule.status = 'released';
  schedule.released_at = now;
  schedule.released_subscription = sub?.id ?? null;
  schedule.subscription = null;
  schedule.current_phase = null;
  engine.store.touch();
  if (sub) {
    const before = structuredClone(sub);
    sub.schedule = null;
    emitSubscriptionUpdated(engine, sub, before);
  }
  engine.emit('subscription_schedule.released', schedule);
  return schedule;
}

/**
 * The renewal cycle's hook, called at a period end (`at`) before the subscription renews: a
 * phase starting at `at` puts its items on the subscription (the renewal then bills them,
 * no prorations); a last phase ending at `at` ends the schedule by its end_behavior.
 * Returns 'cancel' when the subscription must end instead of renewing.
 */
export function advanceSchedule(engine: Engine, sub: Stripe.Subscription, at: number): 'renew' | 'cancel' {
  const id = typeof sub.schedule === 'string' ? sub.schedule : sub.schedule?.id;
  const schedule = id ? engine.state.subscriptionSchedules[id] : undefined;
  if (!schedule || !OPEN.has(schedule.status)) return 'renew';
  const next = schedule.phases.find((phase) => phase.start_date === at);
  if (!next) {
    const last = schedule.phases[schedule.phases.length - 1];
    if (!last || last.end_date > at) return 'renew';
    if (schedule.end_behavior === 'cancel') {
      schedule.status = 'completed';
      schedule.completed_at = at;
      schedule.current_phase = null;
      engine.store.touch();
      engine.emit('subscription_schedule.completed', schedule);
      return 'cancel';
    }
    releaseSchedule(engine, schedule);
    return 'renew';
  }
  const before = structuredClone(sub);
  const kept = sub.items.data;
  sub.items.data = next.items.map((phaseItem, k) => {
    const price = requirePrice(engine, priceIdOf(phaseItem.price));
    const existing = kept[k];
    const base = existing ?? { ...kept[0]!, id: newId('si'), created: at };
    return {
      ...base,
      price: engine.render(price),
      plan: planOf(price),
      quantity: phaseItem.quantity ?? 1,
      metadata: phaseItem.metadata ?? {},
    };
  });
  const scheduleBefore = structuredClone(schedule);
  schedule.current_phase = { start_date: next.start_date, end_date: next.end_date };
  engine.store.touch();
  engine.emit('subscription_schedule.updated', schedule, diff(scheduleBefore, schedule));
  emitSubscriptionUpdated(engine, sub, before);
  return 'renew';
}

/** A subscription that ends takes its open schedule with it (status canceled). */
export function endScheduleOf(engine: Engine, sub: Stripe.Subscription, at: number): void {
  const id = typeof sub.schedule === 'string' ? sub.schedule : sub.schedule?.id;
  const schedule = id ? engine.state.subscriptionSchedules[id] : undefined;
  if (!schedule || !OPEN.has(schedule.status)) return;
  schedule.status = 'canceled';
  schedule.canceled_at = at;
  schedule.current_phase = null;
  engine.store.touch();
  engine.emit('subscription_schedule.canceled', schedule);
}

/** Stripe refuses cancellation changes on a subscription a schedule manages. */
export function assertCancellationAllowed(sub: Stripe.Subscription, p: Params): void {
  const id = typeof sub.schedule === 'string' ? sub.schedule : sub.schedule?.id;
  if (!id || !(p.has('cancel_at_period_end') || p.has('cancel_at'))) return;
  throw invalidRequest(
    `The subscription is managed by the subscription schedule \`${id}\`, and updating any cancelation behavior directly is not allowed. Please update the schedule instead.`,
  );
}

export const scheduleRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/subscription_schedules',
    handler: ({ engine, params, expand }) => engine.render(createFromSubscription(engine, params), expand),
  },
  {
    method: 'GET',
    path: '/v1/subscription_schedules',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'customer', 'created', 'released_at', 'scheduled', 'canceled_at', 'completed_at']);
      const customer = params.str('customer');
      const all = newestFirst(engine.state.subscriptionSchedules).filter(
        (s) => (customer === undefined || s.customer === customer) && matchesCreated(params, s.created),
      );
      return paginate(engine, all, params, '/v1/subscription_schedules');
    },
  },
  {
    method: 'GET',
    path: '/v1/subscription_schedules/:id',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      return engine.render(requireSchedule(engine, path.id ?? ''), expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/subscription_schedules/:id',
    handler: ({ engine, path, params, expand }) =>
      engine.render(updateSchedule(engine, requireSchedule(engine, path.id ?? ''), params), expand),
  },
  {
    method: 'POST',
    path: '/v1/subscription_schedules/:id/release',
    handler: ({ engine, path, params, expand }) =>
      engine.render(releaseSchedule(engine, requireSchedule(engine, path.id ?? ''), params), expand),
  },
];
