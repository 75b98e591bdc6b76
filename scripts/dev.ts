// npm run dev – the whole product on one machine: the local Supabase Auth (unless a real
// Supabase URL is configured), the local Stripe (unless STRIPE_SECRET_KEY is set) and the
// Next.js app on PORT, with PGlite under .data/ unless DATABASE_URL is set. `--production`
// serves a `next build` with `next start` instead.
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import next from 'next';
import { getDatabase } from '@/lib/db';
import { parseEnv } from '@/lib/env';
import { startLocalAuth } from '@/local/auth/server';
import { sqlSessionMirror } from '@/local/auth/session-mirror';
import { optionsFromEnv as localStripeOptions } from '@/local/stripe/config';
import { startLocalStripe } from '@/local/stripe/server';

if (existsSync('.env')) process.loadEnvFile('.env');
const config = parseEnv(process.env);
const production = process.argv.includes('--production');
const stops: Array<() => Promise<void>> = [];

const supabaseUrl = new URL(config.NEXT_PUBLIC_SUPABASE_URL);
if (['127.0.0.1', 'localhost'].includes(supabaseUrl.hostname)) {
  const dataDir = path.resolve(process.env.LOCAL_DATA_DIR ?? '.data');
  mkdirSync(dataDir, { recursive: true });
  const auth = await startLocalAuth({
    port: Number(supabaseUrl.port || 80),
    host: supabaseUrl.hostname === 'localhost' ? '127.0.0.1' : supabaseUrl.hostname,
    publicUrl: config.NEXT_PUBLIC_SUPABASE_URL.replace(/\/+$/, ''),
    dataFile: path.join(dataDir, 'local-auth.json'),
    anonKey: config.NEXT_PUBLIC_SUPABASE_ANON_KEY,
    serviceRoleKey: config.SUPABASE_SERVICE_ROLE_KEY,
    // Supabase keeps sessions in the project's database, where the app checks them; the local
    // auth mirrors its own there. This process owns the database (PGlite allows one owner), and
    // the app runs in it too (below), so both use the one instance.
    sessionMirror: sqlSessionMirror(async (sql, params) => (await getDatabase()).query(sql, params)),
  });
  stops.push(auth.close);
  console.log(`[dev] local Supabase Auth at ${auth.url}`);
}

if (!config.STRIPE_SECRET_KEY) {
  const stripe = await startLocalStripe(localStripeOptions(process.env));
  stops.push(stripe.close);
  console.log(`[dev] local Stripe at ${stripe.url} (webhooks to this app)`);
}

// The app runs in this process (Next.js's own server API), so it shares the database with the
// local auth's session mirror: an embedded PGlite may be opened by one process only.
const app = next({ dev: !production, hostname: '127.0.0.1', port: config.PORT });
await app.prepare();
const handle = app.getRequestHandler();
const server = createServer((req, res) => void handle(req, res));
await new Promise<void>((resolve) => server.listen(config.PORT, '127.0.0.1', resolve));
stops.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
console.log(`[dev] app at http://127.0.0.1:${config.PORT}`);

let stopping = false;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  await Promise.allSettled([app.close(), ...stops.map((close) => close())]);
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
