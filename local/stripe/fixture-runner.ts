// `stripe fixtures FILE`: runs a Stripe CLI fixture file (a list of API calls
// whose parameters may refer to earlier answers) against a Stripe API over
// HTTP, the way the Stripe CLI does:
//   - `${name:json.path}` is replaced by that path of the answer of the call
//     named `name` (`data.0.id`-style dotted paths); `${name:path|default}`
//     falls back to `default` when the path is empty; an unknown name is an
//     error; `${.env:VAR}` reads the environment (inside a longer string too).
//   - params are form-encoded like the SDK does (`a[b]=`, `items[0][price]=`).
//   - a call may fail only with its `expected_error_type`; its error body is
//     then its answer. `_meta.template_version` above 0 is refused.
// Usable from tests (`runFixture`) and from the CLI (`fixtures FILE...`).
import { readFileSync } from 'node:fs';
import { encodeForm } from './core/form.js';

export interface FixtureRequest {
  name: string;
  path: string;
  method: string;
  params?: Record<string, unknown>;
  expected_error_type?: string;
  idempotency_key?: string;
  headers?: Record<string, string>;
}

export interface FixtureFile {
  _meta?: { template_version?: number; exclude_metadata?: boolean; aliases?: string[] };
  fixtures: FixtureRequest[];
  env?: Record<string, string>;
}

export interface FixtureOptions {
  /** e.g. `http://127.0.0.1:12111` */
  apiBase: string;
  apiKey?: string;
  /** Answers known beforehand, by name; calls with these names are skipped (e.g. an existing customer). */
  given?: Record<string, unknown>;
  /** Names of calls to skip. */
  skip?: string[];
  /** Called after each call, for a CLI log. */
  onStep?: (step: FixtureStep) => void;
}

export interface FixtureStep {
  name: string;
  method: string;
  path: string;
  status: number;
  /** Set when the call failed (as its fixture expected). */
  errorType?: string;
  response: unknown;
}

export interface FixtureResult {
  steps: FixtureStep[];
  /** Every answer by call name (the values `${name:...}` read). */
  responses: Record<string, unknown>;
}

export class FixtureError extends Error {}

const QUERY = /\$\{([^|}]+):([^|}]+)\|?([^/\n}]+)?\}/;

/** gjson-style dotted path: `id`, `latest_invoice.id`, `data.0.id`, `data.#` (length). */
export function lookupPath(root: unknown, path: string): unknown {
  let node: unknown = root;
  for (const part of path.split('.')) {
    if (node === null || node === undefined) return undefined;
    if (Array.isArray(node)) {
      if (part === '#') node = node.length;
      else node = /^\d+$/.test(part) ? node[Number(part)] : undefined;
    } else if (typeof node === 'object') {
      node = (node as Record<string, unknown>)[part];
    } else return undefined;
  }
  return node;
}

/** A looked-up value as the CLI's gjson `String()` gives it: objects and arrays as JSON. */
function asString(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a primitive here: objects are JSON above
  return String(value);
}

/** Resolves one `${...}` query in `value` (the CLI replaces the whole string with the result). */
export function resolveQuery(
  value: string,
  responses: Record<string, unknown>,
  env: Record<string, string | undefined> = process.env,
): string {
  const m = QUERY.exec(value);
  if (!m) return value;
  const [match, name = '', path = '', fallback] = m;
  const otherwise = fallback ?? value;
  if (name === '.env') {
    const v = env[path];
    return v ? value.replace(match, v) : otherwise;
  }
  if (!(name in responses)) throw new FixtureError(`an undeclared fixture name was referenced: ${name}`);
  const found = asString(lookupPath(responses[name], path));
  return found !== '' ? found : otherwise;
}

/** Every `${...}` of a path, each replaced in place. */
function resolvePath(path: string, responses: Record<string, unknown>): string {
  let out = path;
  for (let guard = 0; guard < 20 && QUERY.test(out); guard++) {
    const m = QUERY.exec(out);
    if (!m) break;
    out = out.replace(m[0], resolveQuery(m[0], responses));
  }
  return out;
}

/** Replaces queries in every string of a params tree. */
function resolveParams(value: unknown, responses: Record<string, unknown>): unknown {
  if (typeof value === 'string') return resolveQuery(value, responses);
  if (Array.isArray(value)) return value.map((v) => resolveParams(v, responses));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveParams(v, responses)]));
  }
  return value;
}

export function parseFixtureFile(text: string, source = 'fixture'): FixtureFile {
  const data: unknown = JSON.parse(text);
  if (typeof data !== 'object' || data === null || !Array.isArray((data as FixtureFile).fixtures)) {
    throw new FixtureError(`${source}: not a fixture file (no "fixtures" list)`);
  }
  const file = data as FixtureFile;
  if ((file._meta?.template_version ?? 0) > 0) {
    throw new FixtureError(`${source}: fixture version not supported: ${file._meta?.template_version}`);
  }
  for (const [i, f] of file.fixtures.entries()) {
    if (typeof f.name !== 'string' || typeof f.path !== 'string' || typeof f.method !== 'string') {
      throw new FixtureError(`${source}: fixture #${i} needs name, path and method`);
    }
  }
  return file;
}

export function readFixtureFile(file: string): FixtureFile {
  return parseFixtureFile(readFileSync(file, 'utf8'), file);
}

async function call(opts: FixtureOptions, req: FixtureRequest, responses: Record<string, unknown>): Promise<FixtureStep> {
  const method = req.method.toUpperCase();
  const path = resolvePath(req.path, responses);
  if (!/^\/v[12]\//.test(path)) throw new FixtureError(`fixture path "${req.path}" is not a Stripe API path`);
  const form = encodeForm((resolveParams(req.params ?? {}, responses) ?? {}) as Record<string, unknown>);
  const headers: Record<string, string> = { Authorization: `Bearer ${opts.apiKey ?? 'sk_test_local'}` };
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k] = resolveQuery(v, responses);
  if (req.idempotency_key) headers['Idempotency-Key'] = resolveQuery(req.idempotency_key, responses);
  let url = `${opts.apiBase.replace(/\/$/, '')}${path}`;
  let body: string | undefined;
  if (method === 'POST') {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = form;
  } else if (form !== '') url += `?${form}`;
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  const response: unknown = await res.json();
  const step: FixtureStep = { name: req.name, method, path, status: res.status, response };
  if (!res.ok) {
    const error = (response as { error?: { type?: string; message?: string } }).error;
    step.errorType = error?.type ?? 'api_error';
    if (!req.expected_error_type || req.expected_error_type !== step.errorType) {
      throw new FixtureError(`${req.name}: ${method} ${path} answered ${res.status} ${step.errorType}: ${error?.message ?? ''}`);
    }
  }
  return step;
}

/** Runs one fixture file's calls in order; throws FixtureError on the first unexpected failure. */
export async function runFixture(file: FixtureFile | string, opts: FixtureOptions): Promise<FixtureResult> {
  const data = typeof file === 'string' ? readFixtureFile(file) : file;
  const responses: Record<string, unknown> = { ...opts.given };
  const steps: FixtureStep[] = [];
  for (const req of data.fixtures) {
    if (req.name in (opts.given ?? {}) || opts.skip?.includes(req.name)) continue;
    const step = await call(opts, req, responses);
    responses[req.name] = step.response;
    steps.push(step);
    opts.onStep?.(step);
  }
  return { steps, responses };
}

/** Trigger names of the Stripe CLI that are not event types, and the event each stands for. */
const PSEUDO_EVENTS: Record<string, string> = {
  'subscription.payment_failed': 'invoice.payment_failed',
  'subscription.payment_succeeded': 'invoice.payment_succeeded',
};

/** The event types a fixture file is for: its file name (`invoice.paid.json`) and `_meta.aliases`. */
export function eventsOfFixture(path: string, data: FixtureFile): string[] {
  const base =
    path
      .split('/')
      .pop()
      ?.replace(/\.json$/, '') ?? '';
  return [PSEUDO_EVENTS[base] ?? base, ...(data._meta?.aliases ?? [])];
}
