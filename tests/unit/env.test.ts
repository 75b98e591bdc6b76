import { describe, expect, it } from 'vitest';
import { LOCAL_SECRETS, parseEnv } from '@/lib/env';

// What a deployment must set: the public local defaults never reach a production start that
// talks to a real Supabase project or a real Stripe account.
const realSecrets = {
  NEXT_PUBLIC_SUPABASE_ANON_KEY: 'sb_publishable_project_key_value',
  SUPABASE_SERVICE_ROLE_KEY: 'sb_secret_project_key_value',
  STRIPE_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
  TASK_RUNNER_API_KEY: 'tr_0123456789abcdef0123',
};
const realSupabase = { NEXT_PUBLIC_SUPABASE_URL: 'https://abcdefgh.supabase.co' };
const realStripe = { STRIPE_SECRET_KEY: 'sk_test_0123456789' };

describe('production refuses local defaults', () => {
  it('accepts a production start with every secret set', () => {
    const env = parseEnv({ NODE_ENV: 'production', ...realSupabase, ...realStripe, ...realSecrets });
    expect(env.STRIPE_WEBHOOK_SECRET).toBe(realSecrets.STRIPE_WEBHOOK_SECRET);
  });

  const cases = Object.keys(LOCAL_SECRETS) as Array<keyof typeof LOCAL_SECRETS>;
  for (const name of cases) {
    for (const [label, services] of [
      ['real Supabase', realSupabase],
      ['real Stripe', realStripe],
    ] as const) {
      it(`refuses the local ${name} against a ${label}, unset or given explicitly`, () => {
        const unset = { NODE_ENV: 'production', ...services, ...realSecrets, [name]: undefined };
        const explicit = { NODE_ENV: 'production', ...services, ...realSecrets, [name]: LOCAL_SECRETS[name] };
        for (const source of [unset, explicit]) {
          expect(() => parseEnv(source)).toThrow(new RegExp(`^Invalid configuration: ${name} `));
        }
      });
    }
  }

  it('keeps the local defaults for development and for a production build on the local twins', () => {
    expect(parseEnv({ NODE_ENV: 'development', ...realStripe }).STRIPE_WEBHOOK_SECRET).toBe(LOCAL_SECRETS.STRIPE_WEBHOOK_SECRET);
    expect(parseEnv({ NODE_ENV: 'production' }).SUPABASE_SERVICE_ROLE_KEY).toBe(LOCAL_SECRETS.SUPABASE_SERVICE_ROLE_KEY);
  });

  it('refuses the local task-runner key whenever Supabase is not local, even in development', () => {
    expect(() => parseEnv({ NODE_ENV: 'development', ...realSupabase })).toThrow(/TASK_RUNNER_API_KEY/);
  });

  it('treats empty strings as unset and validates the new settings', () => {
    expect(parseEnv({ DATABASE_POOLER: '', SUPABASE_JWT_SECRET: '' })).toMatchObject({
      DATABASE_POOLER: undefined,
      SUPABASE_JWT_SECRET: undefined,
    });
    expect(() => parseEnv({ DATABASE_POOLER: 'session' })).toThrow(/DATABASE_POOLER/);
    expect(() => parseEnv({ SUPABASE_JWT_SECRET: 'short' })).toThrow(/SUPABASE_JWT_SECRET/);
  });
});

describe('npm start checks the configuration as production', () => {
  it('stops a production start with the local webhook secret, naming the variable', async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync('node_modules/.bin/tsx', ['scripts/dev.ts', '--production'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'development', ...realSupabase, ...realStripe, ...realSecrets, STRIPE_WEBHOOK_SECRET: '' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/Invalid configuration: STRIPE_WEBHOOK_SECRET is the public local default/);
  });
});
