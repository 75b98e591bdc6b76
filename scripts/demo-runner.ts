// npm run demo:runner [-- --agents 4 --pace 1 --email demo@example.test]
// Alongside `npm run dev`: simulated AI agents of a few kinds run tasks for a demo account through
// the task-runner client (clients/task-runner), so a user signed in as that account watches usage,
// holds, the charts, the limit and the shortfall payment move on /billing.
//
// The demo account is signed up on the local auth server on first run (then signed in), and
// made known to the app by one request with its own token. The agents authenticate with
// RUNNER_API_KEY if set, else the local bootstrap key TASK_RUNNER_API_KEY.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createClient, type WebSocketLikeConstructor } from '@supabase/supabase-js';
import ws from 'ws';
import { createTaskRunnerClient, type TaskUsage } from '@/clients/task-runner';
import { parseEnv } from '@/lib/env';

if (existsSync('.env')) process.loadEnvFile('.env');
const config = parseEnv(process.env);
const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '4' },
    pace: { type: 'string', default: '1' },
    email: { type: 'string', default: 'demo@example.test' },
    password: { type: 'string', default: 'demo-password-1' },
    url: { type: 'string', default: `http://127.0.0.1:${config.PORT}` },
  },
});
const agents = Math.min(Math.max(Number(values.agents) || 4, 1), 32);
const pace = Math.min(Math.max(Number(values.pace) || 1, 0.1), 20); // tasks per agent: ~pace every 3 s

// Kinds of agents: tokens and seconds per task, and how often one fails (its hold is released).
const KINDS = [
  { agent: 'planner', tokens: [20, 80], seconds: [1, 3], failRate: 0.03 },
  { agent: 'researcher', tokens: [80, 300], seconds: [3, 8], failRate: 0.08 },
  { agent: 'writer', tokens: [50, 200], seconds: [2, 5], failRate: 0.03 },
  { agent: 'reviewer', tokens: [10, 60], seconds: [1, 2], failRate: 0.02 },
] as const;

const between = ([low, high]: readonly [number, number]) => low + Math.random() * (high - low);
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

async function demoAccount(): Promise<{ userId: string; accessToken: string }> {
  const supabase = createClient(config.NEXT_PUBLIC_SUPABASE_URL, config.NEXT_PUBLIC_SUPABASE_ANON_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: ws as unknown as WebSocketLikeConstructor }, // Node 20 has no global WebSocket
  });
  const credentials = { email: values.email, password: values.password };
  let session = (await supabase.auth.signInWithPassword(credentials)).data.session;
  if (!session) {
    const { data, error } = await supabase.auth.signUp(credentials);
    if (error || !data.session) throw new Error(`Could not sign up ${values.email}: ${error?.message ?? 'no session'}`);
    session = data.session;
    console.log(`[demo] signed up ${values.email} (password ${values.password})`);
  }
  // The app creates a user's row on their first verified request.
  const response = await fetch(`${values.url}/api/payments/billing`, { headers: { authorization: `Bearer ${session.access_token}` } });
  if (!response.ok) throw new Error(`The app at ${values.url} answered ${response.status}: is \`npm run dev\` running?`);
  return { userId: session.user.id, accessToken: session.access_token };
}

async function main() {
  const { userId } = await demoAccount();
  const billing = createTaskRunnerClient({
    url: values.url,
    apiKey: process.env.RUNNER_API_KEY || config.TASK_RUNNER_API_KEY,
    batchSize: 20,
    flushIntervalMs: 1_000,
  });
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort(new Error('stopped')));
  process.once('SIGTERM', () => stop.abort(new Error('stopped')));
  console.log(`[demo] ${agents} agents working for ${values.email}; sign in as them on ${values.url}/billing and watch. Ctrl-C stops.`);

  let spentMicros = 0;
  let shortNoticeAt = 0;
  await Promise.all(
    Array.from({ length: agents }, async (_, n) => {
      const kind = KINDS[n % KINDS.length]!;
      while (!stop.signal.aborted) {
        await sleep((1_000 + Math.random() * 4_000) / pace, stop.signal);
        if (stop.signal.aborted) break;
        const tokens = Math.round(between(kind.tokens));
        const executionMs = Math.round(between(kind.seconds) * 1_000);
        // Estimate on the generous side of the kind's range (Starter: $0.001/token, $0.10/min).
        const estimatedCost = Math.round((kind.tokens[1] * 0.001 + (kind.seconds[1] / 60) * 0.1) * 1e6) / 1e6;
        try {
          const outcome = await billing.runTask(
            { userId, estimatedCost, agent: kind.agent, signal: stop.signal },
            async (): Promise<TaskUsage> => {
              await sleep(executionMs, stop.signal);
              if (Math.random() < kind.failRate) throw new Error(`${kind.agent} failed`);
              return { tokens, executionMs };
            },
          );
          if (outcome.status === 'requiresPayment') {
            if (Date.now() - shortNoticeAt > 15_000) {
              shortNoticeAt = Date.now();
              const amount = outcome.paymentIntent ? `$${(outcome.paymentIntent.amountCents / 100).toFixed(2)}` : 'a top-up';
              console.log(
                `[demo] allowance short by ${outcome.shortfallCents}¢: tasks wait until ${values.email} pays ${amount} on /billing`,
              );
            }
            await sleep(10_000, stop.signal);
            continue;
          }
          if (outcome.status === 'rechargePending') {
            console.log(`[demo] ${kind.agent}: short by ${outcome.shortfallCents}¢, auto-recharge on its way; trying again shortly`);
            await sleep(2_000, stop.signal);
            continue;
          }
          spentMicros += outcome.usage.costMicros;
          console.log(
            `[demo] ${kind.agent}: ${tokens} tokens, ${(executionMs / 1000).toFixed(1)} s, $${(outcome.usage.costMicros / 1e6).toFixed(4)} (total $${(spentMicros / 1e6).toFixed(2)})`,
          );
        } catch (error) {
          if (stop.signal.aborted) break;
          console.log(`[demo] ${kind.agent}: task failed, hold released (${error instanceof Error ? error.message : String(error)})`);
        }
      }
    }),
  );
  await billing.close();
  console.log(`[demo] stopped; this run spent $${(spentMicros / 1e6).toFixed(2)}`);
}

await main();
