// `stripe trigger EVENT`: runs the project's own fixture for EVENT
// (`local/stripe/fixtures/EVENT.json`, or the file that lists EVENT among its
// `_meta.aliases`) through the fixture runner, over HTTP, as the Stripe CLI does.
// The calls are named by convention so a trigger can reuse existing objects:
// `customer`, `price`, `payment_intent`.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFixtureFile, runFixture, type FixtureFile, type FixtureResult } from './fixture-runner.js';

export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

export interface TriggerOptions {
  /** An existing customer: the fixture's `customer` call is skipped and this id used. */
  customer?: string;
  /** Amount in cents for the fixture's `payment_intent` call. */
  amount?: number;
  /** An existing price: the fixture's `product` and `price` calls are skipped. */
  price?: string;
  /** Stripe CLI `--override name:path=value` (dotted path into the call's params). */
  overrides?: string[];
  /** Names of calls to skip (`--skip`). */
  skip?: string[];
}

export interface TriggerResult {
  customer: string;
  /** Ids of the events emitted, oldest first. */
  events: Array<{ id: string; type: string }>;
}

/** Every event a project fixture exists for (file names and aliases), sorted. */
export function triggerEvents(dir = FIXTURES_DIR): string[] {
  const out = new Set<string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    out.add(f.replace(/\.json$/, ''));
    for (const a of readFixtureFile(join(dir, f))._meta?.aliases ?? []) out.add(a);
  }
  return [...out].sort();
}

/** The project fixture file for an event, or null. */
export function fixtureFileFor(event: string, dir = FIXTURES_DIR): string | null {
  if (!/^[a-z_.]+$/.test(event)) return null;
  const direct = join(dir, `${event}.json`);
  if (existsSync(direct)) return direct;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    if (readFixtureFile(join(dir, f))._meta?.aliases?.includes(event)) return join(dir, f);
  }
  return null;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

/** Applies `name:path.to.param=value` overrides to a fixture file's calls. */
export function applyOverrides(file: FixtureFile, overrides: string[]): FixtureFile {
  const copy = structuredClone(file);
  for (const o of overrides) {
    const m = /^([^:]+):([^=]+)=(.*)$/.exec(o);
    if (!m) throw new Error(`override "${o}" is not of the form name:path=value`);
    const [, name = '', path = '', value = ''] = m;
    const call = copy.fixtures.find((f) => f.name === name);
    if (!call) throw new Error(`override "${o}": no call named ${name} (calls: ${copy.fixtures.map((f) => f.name).join(', ')})`);
    call.params = call.params ?? {};
    setPath(call.params, path.split('.'), value);
  }
  return copy;
}

/** Runs the project fixture for `event` against the API at `apiBase`. */
export async function runTriggerFixture(
  apiBase: string,
  event: string,
  opts: TriggerOptions = {},
  apiKey = 'sk_test_local',
): Promise<FixtureResult> {
  const path = fixtureFileFor(event);
  if (!path) throw new Error(`No fixture for '${event}'. Supported: ${triggerEvents().join(', ')}`);
  const overrides = [...(opts.overrides ?? [])];
  const file = readFixtureFile(path);
  if (opts.amount !== undefined && file.fixtures.some((f) => f.name === 'payment_intent'))
    overrides.push(`payment_intent:amount=${opts.amount}`);
  const given: Record<string, unknown> = {};
  if (opts.customer) given.customer = { id: opts.customer, object: 'customer' };
  if (opts.price) {
    given.price = { id: opts.price, object: 'price' };
    given.product = { object: 'product' };
  }
  return runFixture(applyOverrides(file, overrides), { apiBase, apiKey, given, ...(opts.skip ? { skip: opts.skip } : {}) });
}
