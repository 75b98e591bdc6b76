import type Stripe from 'stripe';
import { API_VERSION, type Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { invalidParam, resourceMissing } from '../core/errors.js';
import { newId, webhookSecret } from '../core/ids.js';
import { LIST_PARAMS, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata } from '../core/params.js';

/** Id of the app's own endpoint, registered from the server options at start. */
export const APP_ENDPOINT_ID = 'we_local_app';

function buildEndpoint(id: string, url: string, events: string[], created: number): Stripe.WebhookEndpoint {
  return {
    id,
    object: 'webhook_endpoint',
    api_version: API_VERSION,
    application: null,
    created,
    description: null,
    enabled_events: events,
    livemode: false,
    metadata: {},
    status: 'enabled',
    url,
  };
}

/** Registers (or re-points) the app's endpoint with the configured secret. */
export function registerAppEndpoint(engine: Engine, url: string, secret: string): void {
  const existing = engine.state.webhookEndpoints[APP_ENDPOINT_ID];
  const endpoint = existing?.endpoint ?? buildEndpoint(APP_ENDPOINT_ID, url, ['*'], engine.now());
  endpoint.url = url;
  endpoint.description = 'The app (STRIPE_WEBHOOK_URL), registered by the local Stripe';
  engine.state.webhookEndpoints[APP_ENDPOINT_ID] = { endpoint, secret };
  engine.store.touch();
}

function requireEndpoint(engine: Engine, id: string) {
  const stored = engine.state.webhookEndpoints[id];
  if (!stored) throw resourceMissing('webhook_endpoint', id);
  return stored;
}

function checkUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    return url;
  } catch {
    throw invalidParam('url', `Invalid URL: ${url}`, 'url_invalid');
  }
}

export const webhookEndpointRoutes: Route[] = [
  {
    method: 'POST',
    path: '/v1/webhook_endpoints',
    handler: ({ engine, params }) => {
      params.only(['url', 'enabled_events', 'description', 'metadata', 'api_version', 'connect', 'expand']);
      const endpoint = buildEndpoint(newId('we'), checkUrl(params.reqStr('url')), params.strList('enabled_events') ?? ['*'], engine.now());
      endpoint.description = params.str('description') ?? null;
      endpoint.metadata = mergeMetadata(null, params.metadata());
      const secret = webhookSecret();
      engine.state.webhookEndpoints[endpoint.id] = { endpoint, secret };
      engine.store.touch();
      // The secret is shown once, in the create response, as Stripe does.
      return { ...endpoint, secret };
    },
  },
  {
    method: 'GET',
    path: '/v1/webhook_endpoints',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS]);
      const items = newestFirst(engine.state.webhookEndpoints).map((s) => s.endpoint);
      return paginate(engine, items, params, '/v1/webhook_endpoints');
    },
  },
  {
    method: 'GET',
    path: '/v1/webhook_endpoints/:id',
    handler: ({ engine, path }) => requireEndpoint(engine, path.id ?? '').endpoint,
  },
  {
    method: 'POST',
    path: '/v1/webhook_endpoints/:id',
    handler: ({ engine, path, params }) => {
      params.only(['url', 'enabled_events', 'description', 'metadata', 'disabled', 'expand']);
      const { endpoint } = requireEndpoint(engine, path.id ?? '');
      if (params.has('url')) endpoint.url = checkUrl(params.reqStr('url'));
      if (params.has('enabled_events')) endpoint.enabled_events = params.strList('enabled_events') ?? ['*'];
      if (params.has('description')) endpoint.description = params.str('description') ?? null;
      const disabled = params.bool('disabled');
      if (disabled !== undefined) endpoint.status = disabled ? 'disabled' : 'enabled';
      endpoint.metadata = mergeMetadata(endpoint.metadata, params.metadata());
      engine.store.touch();
      return endpoint;
    },
  },
  {
    method: 'DELETE',
    path: '/v1/webhook_endpoints/:id',
    handler: ({ engine, path }) => {
      const { endpoint } = requireEndpoint(engine, path.id ?? '');
      delete engine.state.webhookEndpoints[endpoint.id];
      engine.store.touch();
      return { id: endpoint.id, object: 'webhook_endpoint', deleted: true };
    },
  },
];
