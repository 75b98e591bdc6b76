// Rendering of stored objects for a response: a deep copy, without the
// "includable" fields Stripe only returns when asked (`expand[]=confirmation_secret`),
// with ids replaced by objects along each `expand[]` path (`latest_invoice.confirmation_secret`,
// `data.customer` on lists, `items.data.price.product`).
import { invalidRequest } from './errors.js';

/** A JSON object as seen by the renderer (stored Stripe objects are plain data). */
type Json = Record<string, unknown>;

export type Resolver = (id: string) => object | undefined;

/** Fields that are omitted unless expanded, by `object` type. */
const INCLUDABLE: Record<string, readonly string[]> = {
  invoice: ['confirmation_secret', 'payments'],
};

function isJson(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Groups `['a.b', 'a.c', 'd']` into `{ a: [['b'], ['c']], d: [[]] }`. */
function group(paths: string[][]): Map<string, string[][]> {
  const out = new Map<string, string[][]>();
  for (const [head, ...rest] of paths) {
    if (head === undefined || head === '') continue;
    const list = out.get(head) ?? [];
    list.push(rest);
    out.set(head, list);
  }
  return out;
}

function stripIncludables(obj: Json, heads: Map<string, string[][]>): void {
  const type = typeof obj.object === 'string' ? obj.object : '';
  for (const field of INCLUDABLE[type] ?? []) {
    if (!heads.has(field)) delete obj[field];
  }
}

function expandValue(value: unknown, paths: string[][], resolve: Resolver, at: string): unknown {
  const deeper = paths.filter((p) => p.length > 0);
  if (typeof value === 'string') {
    const found = resolve(value);
    return found === undefined ? value : applyPaths(structuredClone(found) as Json, deeper, resolve, at);
  }
  if (Array.isArray(value)) return value.map((v) => expandValue(v, paths, resolve, at));
  if (isJson(value)) {
    if (value.object === 'list' && Array.isArray(value.data)) {
      // Paths under a list go through `data`: `items.data.price`.
      const inner = deeper.filter((p) => p[0] === 'data').map((p) => p.slice(1));
      return { ...value, data: value.data.map((v) => (inner.length ? expandValue(v, inner, resolve, `${at}.data`) : v)) };
    }
    return applyPaths(value, deeper, resolve, at);
  }
  throw invalidRequest(`This property cannot be expanded (${at}).`);
}

function applyPaths(obj: Json, paths: string[][], resolve: Resolver, at = ''): Json {
  const heads = group(paths);
  stripIncludables(obj, heads);
  for (const [field, rest] of heads) {
    const path = at ? `${at}.${field}` : field;
    // Asking for a field the object does not have is an error (an old API habit, e.g. `latest_invoice.payment_intent`).
    if (!(field in obj)) throw invalidRequest(`This property cannot be expanded (${path}).`);
    if (obj[field] === null) continue;
    obj[field] = expandValue(obj[field], rest, resolve, path);
  }
  return obj;
}

/** A response copy of `obj` with `expand` applied. */
export function render<T extends object>(obj: T, expand: string[], resolve: Resolver): T {
  const copy = structuredClone(obj) as unknown as Json;
  return applyPaths(
    copy,
    expand.map((p) => p.split('.')),
    resolve,
  ) as unknown as T;
}

/** A plain snapshot (no expansion, includables stripped), as stored in events. */
export function snapshot<T extends object>(obj: T): T {
  return render(obj, [], () => undefined);
}
