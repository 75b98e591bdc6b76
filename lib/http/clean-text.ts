import { z } from 'zod';

// Text that may go to Stripe or the database: no NUL (Postgres text cannot hold it) and no
// unpaired UTF-16 surrogate (it has no UTF-8 form, so Stripe's form encoding and Postgres both
// fail on it). Every string schema uses `cleanText`, and the route wrapper runs `cleanJson` over
// the whole body and query first, so no field can slip through.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isCleanText(value: string): boolean {
  return !value.includes('\u0000') && !LONE_SURROGATE.test(value);
}

const uncleanMessage = (name: string) => `${name} must not contain NUL or unpaired surrogate characters`;

/** The one refinement: a string that is clean text (abort: later checks never see it). */
export const cleanText = (name: string, message = `${name} must be text`) =>
  z.string({ error: message }).refine(isCleanText, { error: uncleanMessage(name), abort: true });

/** The path of the first unclean string (key or value) in a parsed JSON value, or null. */
function uncleanPath(value: unknown, path: string[]): string[] | null {
  if (typeof value === 'string') return isCleanText(value) ? null : path;
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, item] of Object.entries(value)) {
    if (!isCleanText(key)) return [...path, key];
    const found = uncleanPath(item, [...path, key]);
    if (found) return found;
  }
  return null;
}

/** Any parsed JSON (or query) whose every key and string is clean text. */
export const cleanJson = z.unknown().superRefine((value, ctx) => {
  // The path itself may be what is unclean, so the answer names no field.
  if (uncleanPath(value, [])) ctx.addIssue({ code: 'custom', path: [], message: uncleanMessage('Text fields') });
});
