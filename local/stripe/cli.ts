// A `stripe` CLI stand-in for the local Stripe:
//   tsx local/stripe/cli.ts trigger payment_intent.succeeded [--customer cus_...] [--amount 2000] [--price price_...]
//   tsx local/stripe/cli.ts listen                      (log of webhook deliveries, like `stripe listen`)
//   tsx local/stripe/cli.ts fault 500|429|timeout [--count N] [--path /v1/...] [--method POST]
//   tsx local/stripe/cli.ts faults clear
//   tsx local/stripe/cli.ts chaos [--duplicate] [--reorder]
//   tsx local/stripe/cli.ts resend evt_...
//   tsx local/stripe/cli.ts advance 1month|7days|2h|90   (every customer without a test clock)
//   tsx local/stripe/cli.ts clock
// The server is found at STRIPE_API_BASE (default http://127.0.0.1:12111) or --api.
import { advanceClock, clearFaults, clock, deliveries, injectFault, resendEvent, setWebhookChaos, trigger } from './client.js';
import { durationSeconds } from './billing/wall-clock.js';
import { DEFAULT_API_BASE } from './config.js';
import { TRIGGERS } from './triggers.js';
import { formatDelivery } from './webhooks/format.js';

interface Parsed {
  positional: string[];
  flags: Record<string, string | true>;
}

function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2);
    const next = argv[i + 1];
    if (inline !== undefined) flags[name ?? ''] = inline;
    else if (next !== undefined && !next.startsWith('--')) {
      flags[name ?? ''] = next;
      i++;
    } else flags[name ?? ''] = true;
  }
  return { positional, flags };
}

function flag(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

const USAGE = `usage: cli.ts <trigger|listen|fault|faults|chaos|resend|advance|clock> ...
  trigger <event> [--customer cus_...] [--amount cents] [--price price_...]
      events: ${TRIGGERS.join(', ')}
  listen
  fault <500|429|timeout> [--count N] [--path /v1/...] [--method GET|POST|DELETE] [--after-processing]
  faults clear
  chaos [--duplicate] [--reorder]        (no flags: back to normal delivery)
  resend <evt_...>
  advance <duration>                     (1month, 7days, 2h, 30m, 90s, 1y: every customer without a test clock)
  clock                                  (the offset advance has built up)`;

async function listen(api: string): Promise<never> {
  // Like `stripe listen`, show only what happens from now on.
  let after = (await deliveries(api, 0, 0)).reduce((max, d) => Math.max(max, d.seq), 0);
  console.log(`Ready! Listening to webhook deliveries of ${api} (^C to quit)`);
  for (;;) {
    try {
      for (const d of await deliveries(api, after, 25_000)) {
        console.log(formatDelivery(d));
        after = Math.max(after, d.seq);
      }
    } catch (e) {
      console.error(`cannot reach ${api}: ${e instanceof Error ? e.message : String(e)}; retrying`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

async function main(argv: string[]): Promise<void> {
  const p = parseArgs(argv);
  const api = flag(p, 'api') ?? (process.env.STRIPE_API_BASE?.trim() || DEFAULT_API_BASE);
  const [command, arg] = p.positional;
  switch (command) {
    case 'trigger': {
      if (!arg) throw new Error(USAGE);
      const amount = flag(p, 'amount');
      const customer = flag(p, 'customer');
      const price = flag(p, 'price');
      const result = await trigger(api, arg, {
        ...(customer ? { customer } : {}),
        ...(amount ? { amount: Number(amount) } : {}),
        ...(price ? { price } : {}),
      });
      console.log(`Trigger succeeded for customer ${result.customer}; events:`);
      for (const e of result.events) console.log(`  ${e.type} [${e.id}]`);
      return;
    }
    case 'listen':
      return listen(api);
    case 'fault': {
      if (arg !== '500' && arg !== '429' && arg !== 'timeout') throw new Error(USAGE);
      const count = flag(p, 'count');
      const path = flag(p, 'path');
      const method = flag(p, 'method');
      await injectFault(api, {
        type: arg,
        ...(count ? { count: Number(count) } : {}),
        ...(path ? { path } : {}),
        ...(method === 'GET' || method === 'POST' || method === 'DELETE' ? { method } : {}),
        ...(p.flags['after-processing'] ? { afterProcessing: true } : {}),
      });
      console.log(`Next ${count ?? 1} matching call(s) will ${arg === 'timeout' ? 'time out' : `answer ${arg}`}.`);
      return;
    }
    case 'faults':
      if (arg !== 'clear') throw new Error(USAGE);
      await clearFaults(api);
      console.log('Faults cleared.');
      return;
    case 'chaos': {
      const chaos = await setWebhookChaos(api, { duplicate: p.flags.duplicate === true, reorder: p.flags.reorder === true });
      console.log(`Webhook delivery: duplicate=${chaos.duplicate} reorder=${chaos.reorder}`);
      return;
    }
    case 'resend':
      if (!arg) throw new Error(USAGE);
      await resendEvent(api, arg);
      console.log(`Resent ${arg}.`);
      return;
    case 'advance': {
      const { now } = await clock(api);
      const seconds = arg ? durationSeconds(arg, now) : null;
      if (seconds === null || seconds <= 0) throw new Error(USAGE);
      const r = await advanceClock(api, seconds);
      console.log(`Clock now ${new Date(r.now * 1000).toISOString()} (offset ${r.offset}s); ${r.ran} billing action(s), ${r.events.length} event(s), deliveries ok=${r.deliveries.ok} failed=${r.deliveries.failed}`);
      for (const e of r.events) console.log(`  ${e.type} [${e.id}]`);
      return;
    }
    case 'clock': {
      const c = await clock(api);
      console.log(`Clock ${new Date(c.now * 1000).toISOString()} (offset ${c.offset}s)`);
      return;
    }
    default:
      throw new Error(USAGE);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
