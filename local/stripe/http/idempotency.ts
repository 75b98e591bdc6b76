import type { IdempotencyRecord, State } from '../store.js';
import { idempotencyMismatch } from '../core/errors.js';
import type { FormValue } from '../core/form.js';

/** Key order does not change what a request means. */
export function canonical(value: FormValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k] as FormValue)}`).join(',')}}`;
}

/**
 * The saved response for a repeated key, or null for a new key. A key reused
 * for another request is Stripe's 400 `idempotency_error`.
 */
export function lookup(state: State, scope: string, key: string, method: string, path: string, params: string): IdempotencyRecord | null {
  const record = state.idempotency[`${scope}:${key}`];
  if (!record) return null;
  if (record.method !== method || record.path !== path || record.params !== params) throw idempotencyMismatch(key);
  return record;
}

/**
 * Stripe saves a result once the endpoint began executing: successes and
 * errors such as declines, but not 5xx, rate limits or rejected parameters.
 */
export function shouldSave(status: number, code: string | undefined): boolean {
  if (status >= 500 || status === 429 || status === 401) return false;
  if (status === 400 && code !== undefined && code.startsWith('parameter_')) return false;
  return true;
}
