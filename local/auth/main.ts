// CLI: `tsx local/auth/main.ts` starts the local Supabase Auth server from the environment.
//   LOCAL_AUTH_PORT                 default 54321
//   LOCAL_AUTH_HOST                 default 127.0.0.1
//   LOCAL_AUTH_PUBLIC_URL           default http://<host>:<port> (the `iss` is <url>/auth/v1)
//   NEXT_PUBLIC_SUPABASE_ANON_KEY   default sb_publishable_local_dev_key
//   SUPABASE_SERVICE_ROLE_KEY       default sb_secret_local_dev_key
// Users, sessions and the signing key persist in <repo>/.data/local-auth.json.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalAuth } from './server';

const env = (name: string): string | undefined => process.env[name]?.trim() || undefined;

async function main(): Promise<void> {
  const dataFile = fileURLToPath(new URL('../../.data/local-auth.json', import.meta.url));
  mkdirSync(dirname(dataFile), { recursive: true });
  const port = Number(env('LOCAL_AUTH_PORT') ?? 54321);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`LOCAL_AUTH_PORT is not a port: ${port}`);

  const server = await startLocalAuth({
    port,
    host: env('LOCAL_AUTH_HOST'),
    publicUrl: env('LOCAL_AUTH_PUBLIC_URL'),
    dataFile,
    anonKey: env('NEXT_PUBLIC_SUPABASE_ANON_KEY') ?? 'sb_publishable_local_dev_key',
    serviceRoleKey: env('SUPABASE_SERVICE_ROLE_KEY') ?? 'sb_secret_local_dev_key',
  });
  console.log(`[local-auth] Supabase Auth ready at ${server.url} (API under /auth/v1, data in ${dataFile})`);

  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error('[local-auth] failed to start:', err);
  process.exit(1);
});
