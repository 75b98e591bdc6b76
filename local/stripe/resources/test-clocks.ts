import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { invalidParam, resourceMissing, unexpectedState } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { LIST_PARAMS, newestFirst, paginate } from '../core/list.js';

export function requireClock(engine: Engine, id: string): Stripe.TestHelpers.TestClock {
  const clock = engine.state.testClocks[id];
  if (!clock) throw resourceMissing('test_clock', id);
  return clock;
}

/**
 * Moves the clock to `target`, running every renewal, retry and cancellation
 * due on the way (each at its own time), then marks the clock ready.
 */
export function advanceClock(engine: Engine, clock: Stripe.TestHelpers.TestClock, target: number): void {
  const onClock = (customer: string) => engine.state.customers[customer]?.test_clock === clock.id;
  engine.fire('advanceTime', onClock, target, (t) => {
    clock.frozen_time = t;
  });
  clock.frozen_time = target;
  clock.status = 'ready';
  clock.status_details = {};
  engine.store.touch();
  engine.emit('test_helpers.test_clock.ready', clock);
}

function deleteClock(engine: Engine, clock: Stripe.TestHelpers.TestClock): Stripe.TestHelpers.DeletedTestClock {
  // Deleting a clock deletes its customers (and so ends their subscriptions).
  for (const customer of Object.values(engine.state.customers)) {
    if (customer.test_clock !== clock.id) continue;
    engine.fire('customerDeleting', customer);
    delete engine.state.customers[customer.id];
    engine.state.deletedCustomers[customer.id] = true;
  }
  delete engine.state.testClocks[clock.id];
  engine.store.touch();
  engine.emit('test_helpers.test_clock.deleted', clock);
  return { id: clock.id, object: 'test_helpers.test_clock', deleted: true };
}

export const testClockRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/test_helpers/test_clocks',
    handler: ({ engine, params }) => {
      params.only(['frozen_time', 'name', 'expand']);
      const frozen = params.reqInt('frozen_time');
      const clock: Stripe.TestHelpers.TestClock = {
        id: newId('clock'),
        object: 'test_helpers.test_clock',
        created: engine.now(),
        deletes_after: engine.now() + 30 * 86_400,
        frozen_time: frozen,
        livemode: false,
        name: params.str('name') ?? null,
        status: 'ready',
        status_details: {},
      };
      engine.state.testClocks[clock.id] = clock;
      engine.store.touch();
      engine.emit('test_helpers.test_clock.created', clock);
      return clock;
    },
  },
  {
    method: 'GET',
    path: '/v1/test_helpers/test_clocks',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS]);
      return paginate(engine, newestFirst(engine.state.testClocks), params, '/v1/test_helpers/test_clocks');
    },
  },
  {
    method: 'GET',
    path: '/v1/test_helpers/test_clocks/:id',
    handler: ({ engine, path }) => requireClock(engine, path.id ?? ''),
  },
  {
    method: 'DELETE',
    path: '/v1/test_helpers/test_clocks/:id',
    handler: ({ engine, path }) => deleteClock(engine, requireClock(engine, path.id ?? '')),
  },
  {
    method: 'POST',
    path: '/v1/test_helpers/test_clocks/:id/advance',
    handler: ({ engine, path, params }) => {
      params.only(['frozen_time', 'expand']);
      const clock = requireClock(engine, path.id ?? '');
      if (clock.status === 'advancing') {
        throw unexpectedState('The test clock is already advancing; wait for it to be ready.', 'test_clock_advancing');
      }
      const target = params.reqInt('frozen_time');
      if (target <= clock.frozen_time) {
        throw invalidParam('frozen_time', 'The frozen_time must be greater than the current frozen_time of the test clock.');
      }
      clock.status = 'advancing';
      clock.status_details = { advancing: { target_frozen_time: target } };
      engine.store.touch();
      engine.emit('test_helpers.test_clock.advancing', clock);
      const response = structuredClone(clock);
      // Like Stripe, the call returns at once with `advancing`; billing runs after it.
      engine.afterCommit(() =>
        setImmediate(() => {
          // Looked up again: a rolled-back request in between replaces the stored objects.
          const current = engine.state.testClocks[clock.id];
          if (current) engine.transaction(() => advanceClock(engine, current, target));
        }),
      );
      return response;
    },
  },
];
