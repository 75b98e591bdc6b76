import type { Route } from '../http/router.js';
import { resourceMissing } from '../core/errors.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';

export const eventRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/events',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'type', 'types', 'created', 'delivery_success']);
      const type = params.str('type');
      const types = params.strList('types');
      // `type` accepts a `*` wildcard: `invoice.*`.
      const pattern = type === undefined ? null : new RegExp(`^${type.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
      const items = newestFirst(engine.state.events).filter(
        (e) =>
          (pattern === null || pattern.test(e.type)) &&
          (types === undefined || types.includes(e.type)) &&
          matchesCreated(params, e.created),
      );
      return paginate(engine, items, params, '/v1/events');
    },
  },
  {
    method: 'GET',
    path: '/v1/events/:id',
    handler: ({ engine, path }) => {
      const event = engine.state.events[path.id ?? ''];
      if (!event) throw resourceMissing('event', path.id ?? '');
      return event;
    },
  },
];
