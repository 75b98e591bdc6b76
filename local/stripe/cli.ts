// A `stripe` CLI stand-in for the local Stripe:
//   tsx local/stripe/cli.ts trigger payment_intent.succeeded [--customer cus_...] [--amount 2000] [--price price_...]
//                                [--override name:path=value]... [--skip name]...   (runs local/stripe/fixtures/EVENT.json)
//   tsx local/stripe/cli.ts fixtures FILE... [--override name:path=value]... [--skip name]...   (like `stripe fixtures`)
//   tsx local/stripe/cli.ts listen                      (log of webhook deliveries, like `stripe listen`)
//   tsx local/stripe/cli.ts fault 500|429|timeout [--count N] [--path /v1/...] [--method POST]
//   tsx local/stripe/cli.ts faults clear
//   tsx local/stripe/cli.ts chaos [--duplicate] [--reorder]
//   tsx local/stripe/cli.ts resend evt_...
//   tsx local/stripe/cli.ts advance 1month|7days|2h|90   (every customer without a test clock)
//   tsx local/stripe/cli.ts clock
//   tsx local/stripe/cli.ts dispute ch_... [--amount cents] [--reason fraudulent] [--inquiry]
// The server is found at STRIPE_API_BASE (default http://127.0.0.1:12111) or --api.
import { advanceClock, clearFaults, clock, deliveries, disputeCharge, injectFault, resendEvent, setWebhookChaos } from './client.js';
import { durationSeconds } from './billing/wall-clock.js';
import { DEFAULT_API_BASE } from './config.js';
import { readFixtureFile, runFixture, type FixtureStep } from './fixture-runner.js';
import { applyOverrides, runTriggerFixture, triggerEvents } from './triggers.js';
import { formatDelivery } from './webhooks/format.js';

interface Parsed {
  positional: string[];
  flags: Record<string, string | true>;
  /** Every value of a repeatable flag (`--override a --override b`). */
  all: Record<string, string[]>;
}

function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  const all: Record<string, string[]> = {};
  const set = (name: string, value: string | true): void => {
    flags[name] = value;
    if (typeof value === 'string') all[name] = [...(all[name] ?? []), value];
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const next = argv[i + 1];
    if (eq !== -1) set(name, arg.slice(eq + 1));
    else if (next !== undefined && !next.startsWith('--')) {
      set(name, next);
      i++;
    } else set(name, true);
  }
  return { positional, flags, all };
}

function flag(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

const USAGE = `usage: cli.ts <trigger|fixtures|listen|fault|faults|chaos|resend|advance|clock|dispute> ...
  trigger <event> [--customer cus_...] [--amount cents] [--price price_...] [--override name:path=value]... [--skip name]...
      events: ${triggerEvents().join(', ')}
  fixtures <file.json>... [--override name:path=value]... [--skip name]...
  listen
  fault <500|429|timeout> [--count N] [--path /v1/...] [--method GET|POST|DELETE] [--after-processing]
  faults clear
  chaos [--duplicate] [--reorder]        (no flags: back to normal delivery)
  resend <evt_...>
  advance <duration>                     (1month, 7days, 2h, 30m, 90s, 1y: every customer without a test clock)
  clock                                  (the offset advance has built up)
  dispute <ch_...> [--amount cents] [--reason fraudulent|product_not_received|...] [--inquiry]`;

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

function logStep(step: FixtureStep): void {
  const outcome = step.errorType ? `failed as expected (${step.errorType})` : String(step.status);
  console.log(`Running fixture for: ${step.name} (${step.method} ${step.path} -> ${outcome})`);
}

async function main(argv: string[]): Promise<void> {
  const p = parseArgs(argv);
  const apiKey = flag(p, 'api-key') ?? 'sk_test_local';
  const api = flag(p, 'api') ?? (process.env.STRIPE_API_BASE?.trim() || DEFAULT_API_BASE);
  const [command, arg] = p.positional;
  switch (command) {
    case 'trigger': {
      if (!arg) throw new Error(USAGE);
      const amount = flag(p, 'amount');
      const customer = flag(p, 'customer');
      const price = flag(p, 'price');
      console.log(`Setting up fixture for: ${arg}`);
      await runTriggerFixture(
        api,
        arg,
        {
          ...(customer ? { customer } : {}),
          ...(amount ? { amount: Number(amount) } : {}),
          ...(price ? { price } : {}),
          overrides: p.all.override ?? [],
          skip: p.all.skip ?? [],
        },
        apiKey,
      ).then((r) => r.steps.forEach(logStep));
      console.log('Trigger succeeded! Check `cli.ts listen` for the events.');
      return;
    }
    case 'fixtures': {
      const files = p.positional.slice(1);
      if (files.length === 0) throw new Error(USAGE);
      for (const file of files) {
        console.log(`Running fixture file: ${file}`);
        const data = applyOverrides(readFixtureFile(file), p.all.override ?? []);
        await runFixture(data, { apiBase: api, apiKey, skip: p.all.skip ?? [], onStep: logStep });
      }
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
      console.log(
        `Clock now ${new Date(r.now * 1000).toISOString()} (offset ${r.offset}s); ${r.ran} billing action(s), ${r.events.length} event(s), deliveries ok=${r.deliveries.ok} failed=${r.deliveries.failed}`,
      );
      for (const e of r.events) console.log(`  ${e.type} [${e.id}]`);
      return;
    }
    case 'dispute': {
      if (!arg) throw new Error(USAGE);
      const amount = flag(p, 'amount');
      const reason = flag(p, 'reason');
      const d = await disputeCharge(api, arg, {
        ...(amount ? { amount: Number(amount) } : {}),
        ...(reason ? { reason } : {}),
        ...(p.flags.inquiry === true ? { inquiry: true } : {}),
      });
      console.log(`Dispute ${d.id} on ${arg}: ${d.amount} ${d.currency} (${d.reason}), status ${d.status}`);
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
