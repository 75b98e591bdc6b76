import { describe, expect, it } from 'vitest';
import { formDollars } from '@/lib/billing/form-money';
import { setBudgetBodySchema } from '@/lib/billing/budget-schemas';
import { SERVER_ACTION_BODY_LIMIT_BYTES } from '@/lib/http/body';
import { isCleanText } from '@/lib/http/clean-text';
import { AppError, errorResponse, isAppError } from '@/lib/http/errors';
import type * as ErrorsModule from '@/lib/http/errors';
import { createPaymentIntentBodySchema } from '@/lib/payments/schemas';

describe('form amounts (server actions) go through the API money schemas, never Number()', () => {
  it.each([
    ['16', 1600],
    [' 16.5 ', 1650],
    ['16.05', 1605],
    ['0.50', 50],
  ])('%j tops up %i cents', (typed, cents) => {
    expect(createPaymentIntentBodySchema.parse({ amount: formDollars(typed) })).toEqual({ amount: cents });
  });

  it.each(['0x10', '1e3', '1E3', '-5', '+5', '16.001', 'Infinity', 'NaN', '', ' ', '1,000', '0b11', '0o17', '16.', '.5', '١٦'])(
    'refuses %j',
    (typed) => {
      expect(formDollars(typed)).toBeUndefined();
      expect(createPaymentIntentBodySchema.safeParse({ amount: formDollars(typed) }).success).toBe(false);
      expect(setBudgetBodySchema.safeParse({ monthlyBudget: formDollars(typed) }).success).toBe(false);
    },
  );

  it('refuses a file where text was expected', () => {
    expect(formDollars(new File(['16'], 'amount.txt'))).toBeUndefined();
  });
});

describe('clean text', () => {
  it.each([
    ['plain', true],
    ['emoji 🚀 (a surrogate pair)', true],
    ['nul \u0000', false],
    ['high \ud800 alone', false],
    ['low \udc00 alone', false],
    ['reversed pair \udc00\ud800', false],
    ['trailing high \ud83d', false],
  ])('%j is clean: %s', (text, clean) => expect(isCleanText(text)).toBe(clean));
});

describe('errors keep their status across copies of the module (Next.js bundles it per entry)', () => {
  it('an AppError made by another copy is recognised by its brand and answered with its status', async () => {
    // A second, separate instance of lib/http/errors.ts, as a page bundle and a route bundle have.
    const copyPath = '@/lib/http/errors.ts?copy';
    const other = (await import(/* @vite-ignore */ copyPath)) as typeof ErrorsModule;
    expect(other.AppError).not.toBe(AppError);
    const foreign = new other.AppError('unauthorized', 'Invalid access token');
    expect(isAppError(foreign)).toBe(true);
    expect(foreign instanceof AppError).toBe(true);
    const response = errorResponse(foreign);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: { code: 'unauthorized', message: 'Invalid access token' } });
  });

  it('a look-alike without the brand, or with an unknown code, is not an AppError (500, nothing leaked)', async () => {
    const lookalike = Object.assign(new Error('secret internals'), { name: 'AppError', code: 'unauthorized' });
    expect(isAppError(lookalike)).toBe(false);
    const response = errorResponse(lookalike);
    expect(response.status).toBe(500);
    expect(JSON.stringify(await response.json())).not.toContain('secret');
  });
});

it('the server-action body limit in next.config.js is the one the proxy enforces', async () => {
  const configPath = '@/next.config.js';
  const config = ((await import(/* @vite-ignore */ configPath)) as { default: unknown }).default as {
    experimental: { serverActions: { bodySizeLimit: string }; proxyClientMaxBodySize: string };
  };
  expect(config.experimental.serverActions.bodySizeLimit).toBe('1mb');
  expect(config.experimental.proxyClientMaxBodySize).toBe('1mb');
  expect(SERVER_ACTION_BODY_LIMIT_BYTES).toBe(1024 * 1024);
});
