import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

// Read per request so edits to the stand-in show up without a restart.
const SCRIPT = new URL('./stripe.js', import.meta.url);

/** Serves the Stripe.js stand-in with this server's address baked in. */
export function serveStandIn(_req: IncomingMessage, res: ServerResponse, baseUrl: string): void {
  const source = readFileSync(SCRIPT, 'utf8').replace('__LOCAL_STRIPE_API_BASE__', baseUrl);
  res.writeHead(200, {
    'Content-Type': 'application/javascript; charset=utf-8',
    'Cache-Control': 'no-store',
  });
  res.end(source);
}
