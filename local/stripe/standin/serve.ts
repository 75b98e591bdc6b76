import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ENTRY = fileURLToPath(new URL('./index.ts', import.meta.url));
/** The placeholder `api.ts` starts from; replaced by the serving server's address. */
const PLACEHOLDER = JSON.stringify('__LOCAL_STRIPE_API_BASE__');

let bundle: Promise<string> | null = null;

/**
 * The stand-in (standin/index.ts, with the card rules of cards.ts) bundled
 * into one browser script by esbuild: once per process, when the first
 * local Stripe starts. Edits to the stand-in need a restart.
 */
export function standInBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    charset: 'utf8',
    legalComments: 'none',
  }).then((r) => {
    const text = r.outputFiles[0]?.text ?? '';
    if (!text.includes(PLACEHOLDER)) throw new Error('stand-in bundle lost its API base placeholder');
    return text;
  });
  bundle.catch(() => {
    bundle = null;
  });
  return bundle;
}

/** Serves the Stripe.js stand-in with this server's address baked in. */
export async function serveStandIn(_req: IncomingMessage, res: ServerResponse, baseUrl: string): Promise<void> {
  const source = (await standInBundle()).replace(PLACEHOLDER, JSON.stringify(baseUrl));
  res.writeHead(200, {
    'Content-Type': 'application/javascript; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  res.end(source);
}
