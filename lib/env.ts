import { z } from 'zod';

// Typed configuration, validated once. Empty strings count as missing, so a blank line in .env
// falls back to the local default instead of becoming an empty key.
const emptyAsMissing = (value: unknown) => (value === '' ? undefined : value);
const optionalString = z.preprocess(emptyAsMissing, z.string().optional());
const stringWithDefault = (fallback: string) => z.preprocess(emptyAsMissing, z.string().default(fallback));
const urlWithDefault = (fallback: string) => z.preprocess(emptyAsMissing, z.url().default(fallback));

export const LOCAL_TASK_RUNNER_KEY = 'tr_local_dev_key';
// The public local defaults of secrets: fine on one machine, refused by a production start that
// talks to a real Supabase or Stripe (see parseEnv).
export const LOCAL_SECRETS = {
  NEXT_PUBLIC_SUPABASE_ANON_KEY: 'sb_publishable_local_dev_key',
  SUPABASE_SERVICE_ROLE_KEY: 'sb_secret_local_dev_key',
  STRIPE_WEBHOOK_SECRET: 'whsec_local_dev_secret',
  TASK_RUNNER_API_KEY: LOCAL_TASK_RUNNER_KEY,
} as const;

const envSchema = z.object({
  NODE_ENV: z.preprocess(emptyAsMissing, z.enum(['development', 'production', 'test']).default('development')),
  PORT: z.preprocess(emptyAsMissing, z.coerce.number().int().min(1).max(65535).default(3000)),
  // Postgres (Supabase's in production). Without it: embedded PGlite persisted under PGLITE_DATA_DIR.
  DATABASE_URL: optionalString,
  // `transaction` when DATABASE_URL is a transaction-mode pooler (PgBouncer before 1.21, Supabase's
  // pooler): statements are then sent unnamed, since the pooler cannot keep prepared ones. Unset:
  // `transaction` on port 6543 (Supabase's pooler), else `none`.
  DATABASE_POOLER: z.preprocess(emptyAsMissing, z.enum(['none', 'transaction']).optional()),
  PGLITE_DATA_DIR: stringWithDefault('.data/pglite'),
  // Supabase Auth. The defaults point at the local auth server started by `npm run dev`.
  NEXT_PUBLIC_SUPABASE_URL: urlWithDefault('http://127.0.0.1:54321'),
  NEXT_PUBLIC_SUPABASE_ANON_KEY: stringWithDefault(LOCAL_SECRETS.NEXT_PUBLIC_SUPABASE_ANON_KEY),
  SUPABASE_SERVICE_ROLE_KEY: stringWithDefault(LOCAL_SECRETS.SUPABASE_SERVICE_ROLE_KEY),
  // The project's legacy JWT secret: set it to accept HS256 access tokens (Supabase projects
  // made before asymmetric signing keys). Asymmetric tokens are always checked against the JWKS.
  SUPABASE_JWT_SECRET: z.preprocess(emptyAsMissing, z.string().min(32).optional()),
  // Stripe. Without STRIPE_SECRET_KEY the app talks to the local Stripe at STRIPE_API_BASE.
  STRIPE_SECRET_KEY: optionalString,
  STRIPE_PUBLISHABLE_KEY: stringWithDefault('pk_test_local'),
  STRIPE_WEBHOOK_SECRET: stringWithDefault(LOCAL_SECRETS.STRIPE_WEBHOOK_SECRET),
  STRIPE_API_BASE: urlWithDefault('http://127.0.0.1:12111'),
  STRIPE_STARTER_PRICE_ID: stringWithDefault('price_starter_plan_id'),
  STRIPE_PRO_PRICE_ID: stringWithDefault('price_pro_plan_id'),
  STRIPE_ENTERPRISE_PRICE_ID: stringWithDefault('price_enterprise_plan_id'),
  // How long one Stripe call may take, and how often the SDK retries it (same idempotency key).
  STRIPE_TIMEOUT_MS: z.preprocess(emptyAsMissing, z.coerce.number().int().min(100).max(80_000).default(10_000)),
  STRIPE_MAX_NETWORK_RETRIES: z.preprocess(emptyAsMissing, z.coerce.number().int().min(0).max(5).default(2)),
  // Server-to-server key of the AI task runner (Authorization: Bearer <key>).
  TASK_RUNNER_API_KEY: z.preprocess(emptyAsMissing, z.string().min(16).default(LOCAL_TASK_RUNNER_KEY)),
  // How long a usage reservation holds allowance before it lapses.
  RESERVATION_TTL_SECONDS: z.preprocess(emptyAsMissing, z.coerce.number().int().min(10).max(86_400).default(900)),
  // The most one task may cost; a commit above it is refused (422) and nothing is written
  // (maxTaskCostMicros below).
  MAX_TASK_COST_DOLLARS: z.preprocess(emptyAsMissing, z.coerce.number().int().min(1).max(1_000_000).default(1_000)),
});

export type Env = z.infer<typeof envSchema>;

/** Whether a service URL points at this machine (the local twins of Supabase and Stripe). */
export const isLoopback = (url: string) => /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/.test(url);

export function parseEnv(source: Record<string, string | undefined>): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration: ${fields.join('; ')}`);
  }
  const env = parsed.data;
  // The local defaults are public; refuse them once the app points at a real Supabase project.
  const realSupabase = !isLoopback(env.NEXT_PUBLIC_SUPABASE_URL);
  if (realSupabase && env.TASK_RUNNER_API_KEY === LOCAL_TASK_RUNNER_KEY) {
    throw new Error('Invalid configuration: TASK_RUNNER_API_KEY must be set when Supabase is not local');
  }
  // A production start against a real Supabase or Stripe refuses every public local secret. (A
  // production build run entirely on the local twins, as the browser tests do, keeps them.)
  if (env.NODE_ENV === 'production' && (realSupabase || env.STRIPE_SECRET_KEY)) {
    for (const [name, localValue] of Object.entries(LOCAL_SECRETS) as Array<[keyof typeof LOCAL_SECRETS, string]>) {
      if (env[name] === localValue) {
        throw new Error(`Invalid configuration: ${name} is the public local default; set this deployment's own value`);
      }
    }
  }
  return env;
}

let cached: Env | undefined;

export function env(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}

/** The per-task ceiling in micro-dollars, for single and batched commits alike. */
export const maxTaskCostMicros = (): number => env().MAX_TASK_COST_DOLLARS * 1_000_000;
