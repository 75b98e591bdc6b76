import { readdirSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionCookieName } from '@/lib/auth/session-cookie';
import { ERROR_STATUS } from '@/lib/http/errors';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import * as health from '@/app/api/health/route';
import * as analytics from '@/app/api/payments/analytics/route';
import * as billing from '@/app/api/payments/billing/route';
import * as budget from '@/app/api/payments/budget/route';
import * as autoRecharge from '@/app/api/payments/auto-recharge/route';
import * as checkUsageLimit from '@/app/api/payments/check-usage-limit/route';
import * as customers from '@/app/api/payments/customers/route';
import * as history from '@/app/api/payments/history/route';
import * as paymentIntent from '@/app/api/payments/payment-intent/route';
import * as plans from '@/app/api/payments/plans/route';
import * as subscription from '@/app/api/payments/subscriptions/[subscriptionId]/route';
import * as subscriptions from '@/app/api/payments/subscriptions/route';
import * as tasksExport from '@/app/api/payments/tasks/export/route';
import * as tasks from '@/app/api/payments/tasks/route';
import * as upgradePlan from '@/app/api/payments/upgrade-plan/route';
import * as webhook from '@/app/api/payments/webhook/route';
import * as commit from '@/pages/api/usage/commit';
import * as usageEvents from '@/pages/api/usage/events';
import * as release from '@/pages/api/usage/release';
import * as reserve from '@/pages/api/usage/reserve';
import { serveNodeRoute, type ServedNodeRoute } from '@/tests/helpers/node-route';

// Every route, in-process, under generated bodies, headers and query strings (fast-check): every
// answer is 2xx or 4xx in the shared shape with the table's status, never 5xx; and a refused
// request changes none of the user's money rows and makes no Stripe customer.

const h = paymentsHarness();

/**
 * The same generated requests on every run, so a failure in CI can be replayed: a fixed seed by
 * default, FUZZ_SEED to explore others (a new seed each run: FUZZ_SEED=$RANDOM), FUZZ_RUNS for
 * more or fewer runs. The seed in use is printed.
 */
const DEFAULT_FUZZ_SEED = 20_261_202;
function fuzzSettings(env: Record<string, string | undefined>): { seed: number; numRuns: number } {
  const whole = (name: string, fallback: number) => {
    const text = env[name]?.trim() || String(fallback);
    if (!/^-?\d{1,10}$/.test(text)) throw new Error(`${name} must be a whole number, not "${text}"`);
    return Number(text);
  };
  return { seed: whole('FUZZ_SEED', DEFAULT_FUZZ_SEED), numRuns: whole('FUZZ_RUNS', 400) };
}

const TASK_RUNNER_KEY = 'tr_test_key_0123456789';
process.env.TASK_RUNNER_API_KEY = TASK_RUNNER_KEY;

type Handler = (request: Request, context: { params: Promise<Record<string, string>> }) => Promise<Response>;
const ROUTES: Array<{ path: string; module: Record<string, unknown>; params?: boolean }> = [
  { path: '/api/health', module: health },
  { path: '/api/payments/analytics', module: analytics },
  { path: '/api/payments/billing', module: billing },
  { path: '/api/payments/budget', module: budget },
  { path: '/api/payments/auto-recharge', module: autoRecharge },
  { path: '/api/payments/check-usage-limit', module: checkUsageLimit },
  { path: '/api/payments/customers', module: customers },
  { path: '/api/payments/history', module: history },
  { path: '/api/payments/payment-intent', module: paymentIntent },
  { path: '/api/payments/plans', module: plans },
  { path: '/api/payments/subscriptions', module: subscriptions },
  { path: '/api/payments/subscriptions/[subscriptionId]', module: subscription, params: true },
  { path: '/api/payments/tasks', module: tasks },
  { path: '/api/payments/tasks/export', module: tasksExport },
  { path: '/api/payments/upgrade-plan', module: upgradePlan },
  { path: '/api/payments/webhook', module: webhook },
  { path: '/api/usage/commit', module: commit },
  { path: '/api/usage/events', module: usageEvents },
  { path: '/api/usage/release', module: release },
  { path: '/api/usage/reserve', module: reserve },
];
// The Pages Router API routes (pages/api) are also fuzzed as Next.js serves them: their Node.js
// handler behind a real HTTP server, every method (a method they do not take is a 405).
const served = new Map<string, ServedNodeRoute>();
beforeAll(async () => {
  for (const route of ROUTES)
    if (typeof route.module.default === 'function')
      served.set(route.path, await serveNodeRoute(route.module.default as Parameters<typeof serveNodeRoute>[0]));
});
afterAll(async () => {
  for (const server of served.values()) await server.close();
});
const ENDPOINTS = ROUTES.flatMap((route) =>
  ['GET', 'POST', 'PUT', 'DELETE'].flatMap((method) => [
    ...(typeof route.module[method] === 'function' ? [{ ...route, method, via: '', handler: route.module[method] as Handler }] : []),
    ...(typeof route.module.default === 'function'
      ? [{ ...route, method, via: ' (Node.js handler)', handler: ((request: Request) => served.get(route.path)!.call(request)) as Handler }]
      : []),
  ]),
);

// Text that attacks parsers and databases: NUL, lone surrogates, huge numbers, JSON look-alikes.
const nastyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '\u0000',
    '\ud800',
    'a\udc00b',
    '0x10',
    '1e3',
    '-0',
    'NaN',
    'Infinity',
    '__proto__',
    'constructor',
    '{"a":',
    '9'.repeat(400),
    'sub_',
    'evt_1',
    "'; drop table users; --",
  ),
);
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  nastyText,
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -1, 1e308, 2 ** 53, 0.1, 5, 25, 10_000.001, true, false, null),
  fc.constantFrom('starter', 'pro', 'enterprise'),
  fc.uuid(),
  fc.jsonValue({ maxDepth: 2 }),
);
/** Every `route.ts` under app/api and every API route under pages/api, as its URL path. */
function routeFiles(dir = 'app/api'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? routeFiles(`${dir}/${entry.name}`) : entry.name === 'route.ts' ? [`/${dir.slice('app/'.length)}`] : [],
  );
}
function pagesApiFiles(dir = 'pages/api'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? pagesApiFiles(`${dir}/${entry.name}`) : [`/${dir.slice('pages/'.length)}/${entry.name.replace(/\.ts$/, '')}`],
  );
}

const FIELDS = [
  'amount',
  'estimatedCost',
  'email',
  'name',
  'planId',
  'previewOnly',
  'cancelAtPeriodEnd',
  'monthlyBudget',
  'agent',
  'tokens',
  'executionMs',
  'idempotencyKey',
  'reservationId',
  'userId',
  'events',
  '__proto__',
];

interface Credentials {
  user: { userId: string; accessToken: string; email: string };
}

const body = (credentials: Credentials) =>
  fc.oneof(
    fc.constant(undefined),
    nastyText,
    fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    fc
      .dictionary(fc.constantFrom(...FIELDS), fc.oneof(nastyValue, fc.constant(credentials.user.userId)), { maxKeys: 5 })
      .map((value) => JSON.stringify(value)),
  );

const headers = (credentials: Credentials) => {
  const cookie = `${sessionCookieName(h.auth.url)}=base64-${Buffer.from(JSON.stringify({ access_token: credentials.user.accessToken })).toString('base64url')}`;
  return fc.record(
    {
      authorization: fc.constantFrom(
        `Bearer ${credentials.user.accessToken}`,
        `Bearer ${TASK_RUNNER_KEY}`,
        'Bearer abc.def.ghi',
        'Basic x',
        'Bearer ',
      ),
      cookie: fc.oneof(
        fc.constant(cookie),
        nastyText.map((text) => `${sessionCookieName(h.auth.url)}=${encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '?'))}%ZZ`),
      ),
      'content-type': fc.constantFrom(
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
      ),
      origin: fc.constantFrom('http://app.test', 'http://evil.test', 'null'),
      'sec-fetch-site': fc.constantFrom('same-origin', 'same-site', 'cross-site', 'none'),
      'stripe-signature': fc.oneof(
        fc.constant('t=1,v1=00'),
        nastyText.filter((text) => /^[\x20-\x7e]*$/.test(text)),
      ),
      'x-forwarded-for': fc.constantFrom('203.0.113.1', 'garbage', '1.1.1.1, 2.2.2.2'),
    },
    { requiredKeys: [] },
  );
};

const query = fc.dictionary(
  fc.constantFrom('limit', 'cursor', 'startDate', 'endDate', 'immediately', 'agent', 'from', 'to', 'payment', 'period', 'x', '__proto__'),
  fc.oneof(nastyText, fc.constantFrom('10', '0', '-1', '2026-02-30', '2026-11-01', 'true', 'false', '9'.repeat(30))),
  { maxKeys: 3 },
);

/** The user's money rows and Stripe customer, to compare before and after a refused request. */
async function moneyState(userId: string) {
  const { rows } = await h.db.query(
    `select (select count(*)::int from usage_events where user_id = $1) as events,
            (select count(*)::int from usage_reservations where user_id = $1) as reservations,
            (select count(*)::int from credit_grants where user_id = $1) as credits,
            (select count(*)::int from payment_attempts where user_id = $1) as attempts,
            (select count(*)::int from subscriptions where user_id = $1) as subscriptions,
            (select monthly_budget_cents from budgets where user_id = $1) as budget,
            (select row(enabled, threshold_cents, amount_cents, monthly_cap_cents)::text from auto_recharge_settings where user_id = $1) as auto_recharge,
            (select row(stripe_customer_id, billing_email, name)::text from users where id = $1) as customer`,
    [userId],
  );
  return rows[0];
}

describe('fuzzing every route', () => {
  it('runs on a fixed seed unless FUZZ_SEED names another', () => {
    expect(fuzzSettings({})).toEqual({ seed: DEFAULT_FUZZ_SEED, numRuns: 400 });
    expect(fuzzSettings({ FUZZ_SEED: '', FUZZ_RUNS: '' })).toEqual({ seed: DEFAULT_FUZZ_SEED, numRuns: 400 });
    expect(fuzzSettings({ FUZZ_SEED: '12345', FUZZ_RUNS: '50' })).toEqual({ seed: 12_345, numRuns: 50 });
    expect(() => fuzzSettings({ FUZZ_SEED: 'now' })).toThrow('FUZZ_SEED must be a whole number, not "now"');
  });

  it('covers every route file (a new route must be added here)', () => {
    expect(ROUTES.map((route) => route.path).sort()).toEqual([...routeFiles(), ...pagesApiFiles()].sort());
  });

  it('answers 2xx or 4xx in the shared shape, never 5xx, and a refusal writes nothing', async () => {
    const user = await h.auth.signUp();
    const credentials = { user };
    // The user's row is made by their first verified request (by design); make it before fuzzing.
    await billing.GET(new Request('http://app.test/api/payments/billing', { headers: { authorization: `Bearer ${user.accessToken}` } }));
    expect((await moneyState(user.userId))?.customer).toBe('(,,)');
    const { seed, numRuns } = fuzzSettings(process.env);
    console.info(`fuzz-routes: seed ${seed}, ${numRuns} runs (FUZZ_SEED=… FUZZ_RUNS=… to change)`);
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ENDPOINTS),
        body(credentials),
        headers(credentials),
        query,
        fc.oneof(fc.constant('sub_fuzz'), nastyText),
        async (endpoint, rawBody, headerValues, queryValues, subscriptionId) => {
          const url = new URL(`http://app.test${endpoint.path.replace('[subscriptionId]', 'x')}`);
          for (const [key, value] of Object.entries(queryValues)) url.searchParams.append(key, value);
          const requestHeaders = new Headers();
          for (const [name, value] of Object.entries(headerValues)) {
            try {
              requestHeaders.set(name, value);
            } catch {
              // A value no HTTP client could send (a header with a newline): leave it out.
            }
          }
          const withBody = endpoint.method !== 'GET' && rawBody !== undefined;
          // Webhooks from an earlier accepted request (a subscription, an intent) land first.
          await h.local.idle();
          const before = await moneyState(user.userId);
          const response = await endpoint.handler(
            new Request(url, { method: endpoint.method, headers: requestHeaders, body: withBody ? rawBody : undefined }),
            {
              params: Promise.resolve<Record<string, string>>(endpoint.params ? { subscriptionId } : {}),
            },
          );
          answered += 1;
          const text = await response.text();
          const json = (response.headers.get('content-type') ?? '').includes('application/json');
          const label = `${endpoint.method} ${url.pathname}${url.search}${endpoint.via} -> ${response.status} ${text.slice(0, 300)}`;
          expect(response.status, label).toBeLessThan(500);
          expect(json || response.status < 300, label).toBe(true); // only a success may be other than JSON (the CSV export)
          const parsed = (json ? JSON.parse(text) : {}) as { data?: unknown; error?: { code: keyof typeof ERROR_STATUS; message: string } };
          if (response.status >= 400) {
            expect(Object.keys(parsed), label).toEqual(['error']);
            expect(ERROR_STATUS[parsed.error!.code], label).toBe(response.status);
            expect(typeof parsed.error!.message, label).toBe('string');
            await h.local.idle();
            expect(await moneyState(user.userId), label).toEqual(before);
          } else if (json && endpoint.path !== '/api/payments/webhook') {
            expect(Object.keys(parsed), label).toEqual(['data']);
          }
          expect(response.headers.get('cache-control'), label).toBe('no-store');
        },
      ),
      { numRuns, seed },
    );
    expect(answered).toBeGreaterThanOrEqual(numRuns);
  }, 240_000);
});
