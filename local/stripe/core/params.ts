import type Stripe from 'stripe';
import type { FormObject, FormValue } from './form.js';
import { invalidParam, missingParam, unknownParam } from './errors.js';

/**
 * Typed reading of a decoded form tree. Getters throw Stripe-shaped 400s for
 * missing or malformed values; `name` is reported with its full bracket path.
 */
export class Params {
  constructor(
    readonly raw: FormObject,
    private readonly prefix = '',
  ) {}

  private path(name: string): string {
    return this.prefix ? `${this.prefix}[${name}]` : name;
  }

  has(name: string): boolean {
    return this.raw[name] !== undefined;
  }

  /** True when the caller sent `name=` (Stripe's way to unset a field). */
  isEmpty(name: string): boolean {
    return this.raw[name] === '';
  }

  /** Rejects top-level keys not in `allowed` (Stripe's `parameter_unknown`). */
  only(allowed: readonly string[]): this {
    for (const key of Object.keys(this.raw)) {
      if (!allowed.includes(key)) throw unknownParam(this.path(key));
    }
    return this;
  }

  str(name: string): string | undefined {
    const v = this.raw[name];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw invalidParam(this.path(name), `Invalid string: ${JSON.stringify(v)}`);
    return v;
  }

  reqStr(name: string): string {
    const v = this.str(name);
    if (v === undefined) throw missingParam(this.path(name));
    return v;
  }

  int(name: string): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v)) throw invalidParam(this.path(name), `Invalid integer: ${v}`, 'parameter_invalid_integer');
    return Number(v);
  }

  reqInt(name: string): number {
    const v = this.int(name);
    if (v === undefined) throw missingParam(this.path(name));
    return v;
  }

  bool(name: string): boolean | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw invalidParam(this.path(name), `Invalid boolean: ${v}`);
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    const found = values.find((x) => x === v);
    if (found === undefined) {
      throw invalidParam(this.path(name), `Invalid ${name}: must be one of ${values.join(', ')}`);
    }
    return found;
  }

  obj(name: string): Params | undefined {
    const v = this.raw[name];
    if (v === undefined || v === '') return undefined;
    if (typeof v === 'string') throw invalidParam(this.path(name), `Invalid object`);
    if (Array.isArray(v)) return new Params(toObject(v), this.path(name));
    return new Params(v, this.path(name));
  }

  /** An array of objects: `items[0][price]=...`. */
  list(name: string): Params[] | undefined {
    const v = this.raw[name];
    if (v === undefined || v === '') return undefined;
    const arr = Array.isArray(v) ? v : typeof v === 'object' ? Object.values(v) : null;
    if (arr === null) throw invalidParam(this.path(name), `Invalid array`);
    return arr.map((item, i) => {
      if (typeof item !== 'object' || Array.isArray(item)) {
        throw invalidParam(`${this.path(name)}[${i}]`, `Invalid object`);
      }
      return new Params(item, `${this.path(name)}[${i}]`);
    });
  }

  /** An array of strings: `expand[]=a` or `expand[0]=a`. */
  strList(name: string): string[] | undefined {
    const v = this.raw[name];
    if (v === undefined || v === '') return undefined;
    const arr = Array.isArray(v) ? v : typeof v === 'object' ? Object.values(v) : [v];
    return arr.map((item) => {
      if (typeof item !== 'string') throw invalidParam(this.path(name), `Invalid array`);
      return item;
    });
  }

  /** `metadata[key]=value`; an empty value deletes the key (Stripe semantics). */
  metadata(name = 'metadata'): Record<string, string> | 'unset' | undefined {
    const v = this.raw[name];
    if (v === undefined) return undefined;
    if (v === '') return 'unset';
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidParam(this.path(name), 'Invalid hash');
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (typeof val !== 'string') throw invalidParam(`${this.path(name)}[${k}]`, 'Invalid metadata value');
      out[k] = val;
    }
    return out;
  }

  expand(): string[] {
    return this.strList('expand') ?? [];
  }
}

function toObject(arr: FormValue[]): FormObject {
  const out: FormObject = {};
  arr.forEach((v, i) => {
    out[String(i)] = v;
  });
  return out;
}

/** Applies a metadata update to existing metadata: merge, empty value deletes, `unset` clears. */
export function mergeMetadata(
  current: Record<string, string> | null,
  update: Record<string, string> | 'unset' | undefined,
): Record<string, string> {
  const base = { ...(current ?? {}) };
  if (update === undefined) return base;
  if (update === 'unset') return {};
  for (const [k, v] of Object.entries(update)) {
    if (v === '') delete base[k];
    else base[k] = v;
  }
  return base;
}

/** A postal address param (`address[line1]`...), as Stripe stores it. */
export function addressOf(p: Params): Stripe.Address {
  p.only(['city', 'country', 'line1', 'line2', 'postal_code', 'state']);
  return {
    city: p.str('city') ?? null,
    country: p.str('country') ?? null,
    line1: p.str('line1') ?? null,
    line2: p.str('line2') ?? null,
    postal_code: p.str('postal_code') ?? null,
    state: p.str('state') ?? null,
  };
}

/**
 * `shipping[...]` of PaymentIntents and customers: name and address required,
 * an empty `shipping=` clears it (undefined when the param is absent).
 */
export function shippingOf(p: Params, name = 'shipping'): Stripe.PaymentIntent.Shipping | null | undefined {
  if (!p.has(name)) return undefined;
  if (p.isEmpty(name)) return null;
  const s = p.obj(name);
  if (!s) return null;
  s.only(['address', 'name', 'carrier', 'phone', 'tracking_number']);
  const address = s.obj('address');
  if (!address) throw missingParam(`${name}[address]`);
  return {
    address: addressOf(address),
    carrier: s.str('carrier') ?? null,
    name: s.reqStr('name'),
    phone: s.str('phone') ?? null,
    tracking_number: s.str('tracking_number') ?? null,
  };
}
