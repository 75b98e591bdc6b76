import { fileURLToPath } from 'node:url';
import { DEFAULT_PLANS, type PlanSeed } from './resources/catalog.js';
import { DEFAULT_WEBHOOK_SECRET, type LocalStripeOptions } from './server.js';

export const DEFAULT_API_BASE = 'http://127.0.0.1:12111';

type Env = Record<string, string | undefined>;

/** Empty strings count as missing (a blank line in .env). */
function read(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function plansFromEnv(env: Env): PlanSeed[] {
  const names: Record<string, string> = {
    starter: 'STRIPE_STARTER_PRICE_ID',
    pro: 'STRIPE_PRO_PRICE_ID',
    enterprise: 'STRIPE_ENTERPRISE_PRICE_ID',
  };
  return DEFAULT_PLANS.map((plan) => {
    const override = read(env, names[plan.lookupKey] ?? '');
    return override ? { ...plan, priceId: override } : plan;
  });
}

/**
 * Server options from the environment: `STRIPE_API_BASE` (where to listen),
 * `STRIPE_WEBHOOK_URL`, `STRIPE_WEBHOOK_SECRET`, `LOCAL_STRIPE_DATA_DIR`
 * (default `${LOCAL_DATA_DIR:-<repo>/.data}/local-stripe`) and the plan price ids.
 */
export function optionsFromEnv(env: Env = process.env): LocalStripeOptions {
  const base = new URL(read(env, 'STRIPE_API_BASE') ?? DEFAULT_API_BASE);
  const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
  return {
    host: base.hostname,
    port: Number(base.port || 80),
    dataDir: read(env, 'LOCAL_STRIPE_DATA_DIR') ?? `${read(env, 'LOCAL_DATA_DIR') ?? `${repoRoot}.data`}/local-stripe`,
    webhookUrl: read(env, 'STRIPE_WEBHOOK_URL') ?? `http://127.0.0.1:${read(env, 'PORT') ?? '3000'}/api/payments/webhook`,
    webhookSecret: read(env, 'STRIPE_WEBHOOK_SECRET') ?? DEFAULT_WEBHOOK_SECRET,
    plans: plansFromEnv(env),
  };
}
