// Control endpoints outside /v1 (no API key): faults, webhook chaos, the
// delivery log, triggers, and the 3-D Secure challenge the stand-in shows.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '../engine.js';
import { StripeApiError, invalidRequest } from '../core/errors.js';
import { parseForm } from '../core/form.js';
import { completeAuthentication, requireIntent } from '../resources/payment-intents.js';
import { runTriggerFixture } from '../triggers.js';
import { advanceAndDeliver } from '../billing/wall-clock.js';
import { openDispute } from '../resources/disputes.js';
import { completeSetupAuthentication, requireSetupIntent } from '../resources/setup-intents.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';
import { readBody } from './api.js';
import type { FaultSpec, Faults } from './faults.js';
import type { Router } from './router.js';

export interface ControlDeps {
  engine: Engine;
  router: Router;
  faults: Faults;
  dispatcher: WebhookDispatcher;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body, null, 2));
}

async function bodyOf(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = await readBody(req);
  if (text === '') return {};
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  }
  return parseForm(text);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function faultSpec(b: Record<string, unknown>): FaultSpec {
  const type = str(b.type);
  if (type !== '500' && type !== '429' && type !== 'timeout') throw invalidRequest("type must be '500', '429' or 'timeout'");
  const method = str(b.method);
  const count = num(b.count);
  const path = str(b.path);
  return {
    type,
    ...(count !== undefined ? { count } : {}),
    ...(method === 'GET' || method === 'POST' || method === 'DELETE' ? { method } : {}),
    ...(path !== undefined ? { path } : {}),
    ...(b.afterProcessing === true || b.afterProcessing === 'true' ? { afterProcessing: true } : {}),
  };
}

/** Waits (up to `waitMs`) for deliveries after `after`: the `listen` long poll. */
function deliveriesAfter(d: WebhookDispatcher, after: number, waitMs: number): Promise<unknown[]> {
  const pending = () => d.log.filter((x) => x.seq > after);
  if (pending().length > 0 || waitMs <= 0) return Promise.resolve(pending());
  return new Promise((resolve) => {
    const stop = d.onDelivery(() => finish());
    const timer = setTimeout(() => finish(), waitMs);
    function finish(): void {
      stop();
      clearTimeout(timer);
      resolve(pending());
    }
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** What a 3-D Secure challenge is for: a PaymentIntent or a SetupIntent in `requires_action`. */
interface Challenge {
  id: string;
  clientSecret: string | null;
  /** What the page says the challenge is for. */
  label: string;
  complete(outcome: 'succeed' | 'fail'): { object: object; succeeded: boolean };
  /** The `return_url` query Stripe adds after the redirect. */
  returnParams(succeeded: boolean): Record<string, string>;
}

function challengeFor(engine: Engine, id: string): Challenge {
  if (id.startsWith('seti_')) {
    const seti = requireSetupIntent(engine, id);
    return {
      id,
      clientSecret: seti.client_secret,
      label: 'saving a card',
      complete: (outcome) => {
        const r = completeSetupAuthentication(engine, seti, outcome);
        return { object: r.seti, succeeded: r.ok && r.seti.status === 'succeeded' };
      },
      returnParams: (ok) => ({
        setup_intent: id,
        setup_intent_client_secret: seti.client_secret ?? '',
        redirect_status: ok ? 'succeeded' : 'failed',
      }),
    };
  }
  const pi = requireIntent(engine, id);
  return {
    id,
    clientSecret: pi.client_secret,
    label: `a payment of ${(pi.amount / 100).toFixed(2)} ${pi.currency.toUpperCase()}`,
    complete: (outcome) => {
      const r = completeAuthentication(engine, pi, outcome);
      return { object: r.pi, succeeded: r.pi.status === 'succeeded' };
    },
    returnParams: (ok) => ({
      payment_intent: id,
      payment_intent_client_secret: pi.client_secret ?? '',
      redirect_status: ok ? 'succeeded' : 'failed',
    }),
  };
}

/** The challenge page for `redirect_to_url` flows (the stand-in shows the same choice in a dialog). */
function challengePage(c: Challenge, clientSecret: string, returnUrl: string): string {
  const form = (outcome: string, label: string) =>
    `<form method="post" action="/_local/3ds/${c.id}/complete"><input type="hidden" name="client_secret" value="${escapeHtml(clientSecret)}"><input type="hidden" name="return_url" value="${escapeHtml(returnUrl)}"><input type="hidden" name="outcome" value="${outcome}"><button type="submit">${label}</button></form>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>3D Secure authentication</title></head><body style="font-family:system-ui;max-width:28rem;margin:4rem auto"><h1>3D Secure authentication</h1><p>Local Stripe test challenge for ${escapeHtml(c.label)}.</p>${form('succeed', 'Complete')}${form('fail', 'Fail')}</body></html>`;
}

function returnTo(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

async function threeDs(deps: ControlDeps, req: IncomingMessage, res: ServerResponse, url: URL, parts: string[]): Promise<void> {
  const c = challengeFor(deps.engine, parts[2] ?? '');
  if (req.method === 'GET' && parts.length === 3) {
    const secret = url.searchParams.get('client_secret') ?? '';
    if (secret !== c.clientSecret) throw invalidRequest('The client_secret provided does not match.');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(challengePage(c, secret, url.searchParams.get('return_url') ?? ''));
    return;
  }
  if (req.method === 'POST' && parts[3] === 'complete') {
    const b = await bodyOf(req);
    if (str(b.client_secret) !== c.clientSecret) throw invalidRequest('The client_secret provided does not match.');
    const result = c.complete(str(b.outcome) === 'fail' ? 'fail' : 'succeed');
    const returnUrl = str(b.return_url);
    if (returnUrl) {
      res.writeHead(303, { Location: returnTo(returnUrl, c.returnParams(result.succeeded)) });
      res.end();
      return;
    }
    json(res, 200, deps.engine.render(result.object));
    return;
  }
  json(res, 404, { error: { type: 'invalid_request_error', message: 'Unknown 3DS route' } });
}

export async function handleControl(deps: ControlDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const parts = url.pathname.split('/').filter(Boolean); // ['_local', ...]
  // `/webhooks/...` has two fixed segments; others one (then ids: `/events/:id/resend`).
  const fixed = parts[1] === 'webhooks' ? parts.slice(1, 3) : parts.slice(1, 2);
  const route = `${req.method} /${fixed.join('/')}`;
  try {
    if (parts[1] === '3ds') return await threeDs(deps, req, res, url, parts);
    switch (route) {
      case 'GET /health':
        return json(res, 200, { ok: true });
      case 'GET /faults':
        return json(res, 200, { faults: deps.faults.pending() });
      case 'POST /faults':
        deps.faults.inject(faultSpec(await bodyOf(req)));
        return json(res, 200, { faults: deps.faults.pending() });
      case 'DELETE /faults':
        deps.faults.clear();
        return json(res, 200, { faults: [] });
      case 'POST /webhooks/chaos': {
        const b = await bodyOf(req);
        deps.dispatcher.chaos = {
          duplicate: b.duplicate === true || b.duplicate === 'true',
          reorder: b.reorder === true || b.reorder === 'true',
        };
        return json(res, 200, deps.dispatcher.chaos);
      }
      case 'GET /webhooks/idle':
        await deps.dispatcher.idle();
        return json(res, 200, { idle: true });
      case 'GET /deliveries': {
        const after = num(url.searchParams.get('after')) ?? 0;
        const wait = Math.min(num(url.searchParams.get('wait')) ?? 0, 30_000);
        return json(res, 200, { deliveries: await deliveriesAfter(deps.dispatcher, after, wait) });
      }
      case 'POST /trigger': {
        const b = await bodyOf(req);
        const customer = str(b.customer);
        const amount = num(b.amount);
        const price = str(b.price);
        if (customer && !deps.engine.state.customers[customer])
          throw invalidRequest(`No such customer: '${customer}'`, { code: 'resource_missing', param: 'customer' });
        const before = new Set(Object.keys(deps.engine.state.events));
        // The project's fixture for the event, run over HTTP against this server (as `stripe trigger` does).
        let result;
        try {
          result = await runTriggerFixture(deps.engine.baseUrl, str(b.event) ?? '', {
            ...(customer ? { customer } : {}),
            ...(amount !== undefined ? { amount } : {}),
            ...(price ? { price } : {}),
            ...(Array.isArray(b.overrides) ? { overrides: b.overrides.map(String) } : {}),
          });
        } catch (e) {
          throw invalidRequest(e instanceof Error ? e.message : String(e));
        }
        const made = result.responses.customer as { id?: unknown } | undefined;
        const events = Object.values(deps.engine.state.events)
          .filter((e) => !before.has(e.id))
          .map((e) => ({ id: e.id, type: e.type }));
        return json(res, 200, { customer: typeof made?.id === 'string' ? made.id : (customer ?? null), events });
      }
      case 'GET /clock':
        if (parts.length !== 2)
          return json(res, 404, { error: { type: 'invalid_request_error', message: `Unknown control route ${route}` } });
        return json(res, 200, { offset: deps.engine.state.clockOffset, now: deps.engine.wallNow() });
      case 'POST /clock': {
        // POST /_local/clock/advance { seconds }: see billing/wall-clock.ts.
        const seconds = num((await bodyOf(req)).seconds);
        if (parts[2] !== 'advance' || parts.length !== 3)
          return json(res, 404, { error: { type: 'invalid_request_error', message: `Unknown control route ${route}` } });
        if (seconds === undefined || !Number.isInteger(seconds) || seconds <= 0 || seconds > 50 * 365 * 86_400) {
          throw invalidRequest('seconds must be a positive whole number of seconds (at most 50 years).');
        }
        return json(res, 200, await advanceAndDeliver(deps.engine, deps.dispatcher, seconds));
      }
      case 'POST /charges': {
        // POST /_local/charges/:id/dispute { amount?, reason?, inquiry? }: the customer's bank disputes a charge.
        if (parts[3] !== 'dispute' || parts.length !== 4)
          return json(res, 404, { error: { type: 'invalid_request_error', message: `Unknown control route ${route}` } });
        const charge = deps.engine.state.charges[parts[2] ?? ''];
        if (!charge)
          return json(res, 404, {
            error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such charge: '${parts[2] ?? ''}'` },
          });
        const b = await bodyOf(req);
        const amount = b.amount === undefined ? undefined : num(b.amount);
        if (b.amount !== undefined && amount === undefined) throw invalidRequest('amount must be a whole number of cents.');
        const reason = str(b.reason);
        const dispute = openDispute(deps.engine, charge, {
          ...(amount !== undefined ? { amount } : {}),
          ...(reason !== undefined ? { reason } : {}),
          inquiry: b.inquiry === true || b.inquiry === 'true',
        });
        return json(res, 200, deps.engine.render(dispute));
      }
      case 'POST /events': {
        // POST /_local/events/:id/resend: deliver an existing event again.
        const event = deps.engine.state.events[parts[2] ?? ''];
        if (!event || parts[3] !== 'resend') return json(res, 404, { error: { type: 'invalid_request_error', message: 'No such event' } });
        deps.engine.redeliver(event);
        return json(res, 200, { resent: event.id });
      }
      default:
        return json(res, 404, { error: { type: 'invalid_request_error', message: `Unknown control route ${route}` } });
    }
  } catch (e) {
    if (e instanceof StripeApiError) return json(res, e.status, { error: e.body });
    return json(res, 400, { error: { type: 'invalid_request_error', message: e instanceof Error ? e.message : String(e) } });
  }
}
