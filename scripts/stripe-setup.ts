// npm run stripe:setup [-- --url https://your-app.example] – creates or updates the three plan
// products and monthly prices and the webhook endpoint on the Stripe account of
// STRIPE_SECRET_KEY (without it: the local Stripe at STRIPE_API_BASE), then prints the env lines
// to paste. Safe to run again: a second run changes nothing. A live key needs --live.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseEnv } from '@/lib/env';
import { stripe } from '@/lib/stripe/client';
import { setupStripe } from '@/lib/stripe/setup';

if (existsSync('.env')) process.loadEnvFile('.env');
const { values } = parseArgs({ options: { url: { type: 'string' }, live: { type: 'boolean', default: false } } });
const config = parseEnv(process.env);
const key = config.STRIPE_SECRET_KEY;
if (key?.startsWith('sk_live_') && !values.live) {
  console.error('STRIPE_SECRET_KEY is a live key: run again with --live if you mean it');
  process.exit(1);
}
console.log(key ? `Stripe account of STRIPE_SECRET_KEY (${key.slice(0, 8)}…)` : `local Stripe at ${config.STRIPE_API_BASE}`);

const result = await setupStripe(stripe(), values.url ?? process.env.APP_URL ?? null);
for (const action of result.actions) console.log(`  ${action}`);
for (const warning of result.warnings) console.log(`  warning: ${warning}`);
console.log(result.changed ? '\nChanged. Put these in the environment:\n' : '\nNothing to change. The environment should have:\n');
for (const line of result.env) console.log(line);
