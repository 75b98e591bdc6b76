// A typed client of the billing API for AI task runners. Plain TypeScript over fetch: no Next.js,
// no imports from the app, so a runner can copy or import this one file.
//
//   const billing = createTaskRunnerClient({ url: 'http://127.0.0.1:3000', apiKey: process.env.BILLING_KEY! });
//   const outcome = await billing.runTask({ userId, estimatedCost: 0.25, agent: 'planner' }, async (task) => {
//     ...; return { tokens: 1200, executionMs: 5300 };
//   });
//   if (outcome.status === 'requiresPayment') showPayment(outcome.paymentIntent.clientSecret);
//   if (outcome.status === 'rechargePending') retryShortly(); // the user's auto-recharge is landing
//   await billing.close();
//
// Every call has a timeout. Network errors, timeouts and 5xx answers are retried with exponential
// backoff and jitter, sending the same body again, so the same idempotency keys: the server
// counts a retried reservation or event once. A 4xx answer is never retried.
// Commits are queued and sent through POST /api/usage/events in batches: when `batchSize` events
// wait, every `flushIntervalMs`, and on flush() / close().

export interface TaskRunnerClientOptions {
  /** The billing app's base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  /** A task-runner API key (`npm run runner-keys -- create <name>`). */
  apiKey: string;
  /** Per attempt, in ms. Default 10 000. */
  timeoutMs?: number;
  /** Attempts after the first one, for network errors, timeouts and 5xx. Default 4. */
  retries?: number;
  /** First backoff delay in ms (doubled on each retry, with jitter). Default 100. */
  backoffMs?: number;
  /** Send queued commits when this many wait. Default 100, at most 500. */
  batchSize?: number;
  /** Send queued commits at least this often, in ms. Default 200. */
  flushIntervalMs?: number;
  /** For tests and other runtimes. Default: the global fetch. */
  fetch?: typeof fetch;
}

export interface PaymentIntentInfo {
  id: string;
  clientSecret: string;
  amountCents: number;
  amount: number;
  status: string;
}

export interface UsageCheck {
  allowed: boolean;
  estimatedCostMicros: number;
  remainingMicros: number;
  remainingCents: number;
  shortfallMicros: number;
  shortfallCents: number;
  planId: string;
  periodEnd: string;
  requiresPayment: boolean;
  /** A PaymentIntent for the shortfall, when short (null if the user made too many lately). */
  paymentIntent: PaymentIntentInfo | null;
  /** The user's auto-recharge is on its way: when short, ask again shortly rather than asking them to pay. */
  rechargePending: boolean;
  /** requires_action: the user's bank wants them to confirm the recharge (the payment above is it). */
  rechargeStatus: 'pending' | 'processing' | 'requires_action' | null;
}

export interface Reservation {
  allowed: boolean;
  reservationId: string | null;
  duplicate: boolean;
  amountMicros: number;
  remainingMicros: number;
  shortfallMicros: number;
  shortfallCents: number;
  expiresAt: string | null;
  /** On a refused reservation: the user's auto-recharge is on its way, so it may fit once it lands (false when allowed). */
  rechargePending: boolean;
}

export interface UsageEvent {
  userId: string;
  reservationId?: string;
  agent: string;
  tokens: number;
  executionMs: number;
  idempotencyKey: string;
}

export type UsageEventResult =
  { status: 'recorded' | 'duplicate'; eventId: string; costMicros: number } | { status: 'rejected'; code: string; message: string };

export interface TaskUsage {
  tokens: number;
  executionMs: number;
}

export interface RunTaskInput {
  userId: string;
  /** Estimated cost in dollars (up to six decimals). */
  estimatedCost: number;
  agent: string;
  /** Stable id of this task; retried runs of the same task must pass the same one. Default: random. */
  taskId?: string;
  /** Aborting it stops waiting for the task and releases the reservation. */
  signal?: AbortSignal;
}

export interface RunningTask {
  taskId: string;
  reservationId: string;
  userId: string;
  signal: AbortSignal;
}

export type RunTaskOutcome<T> =
  | {
      status: 'completed';
      taskId: string;
      reservationId: string;
      result: T;
      usage: { eventId: string; costMicros: number; duplicate: boolean };
    }
  | { status: 'requiresPayment'; taskId: string; shortfallCents: number; paymentIntent: PaymentIntentInfo | null }
  /** Short, but the user's auto-recharge is being charged: the task did not run; run it again shortly. */
  | { status: 'rechargePending'; taskId: string; shortfallCents: number };

/** An answer the API refused (4xx), or a failure that outlasted the retries. */
export class TaskRunnerApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** HTTP status, or 0 when no answer came (network error, timeout). */
    readonly status: number,
  ) {
    super(message);
    this.name = 'TaskRunnerApiError';
  }
}

export interface TaskRunnerClient {
  check(userId: string, estimatedCost: number): Promise<UsageCheck>;
  reserve(input: { userId: string; estimatedCost: number; idempotencyKey: string }): Promise<Reservation>;
  release(userId: string, reservationId: string): Promise<{ reservationId: string; status: string; duplicate: boolean }>;
  /** Queues one event; resolves with its result once its batch is answered. */
  commit(event: UsageEvent): Promise<UsageEventResult>;
  runTask<T extends TaskUsage>(input: RunTaskInput, task: (task: RunningTask) => Promise<T>): Promise<RunTaskOutcome<T>>;
  /** Sends every queued commit now. */
  flush(): Promise<void>;
  /** Sends what is queued and stops the timer; later commits are refused. */
  close(): Promise<void>;
}

const MAX_BATCH = 500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createTaskRunnerClient(options: TaskRunnerClientOptions): TaskRunnerClient {
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const retries = options.retries ?? 4;
  const backoffMs = options.backoffMs ?? 100;
  const batchSize = Math.min(Math.max(options.batchSize ?? 100, 1), MAX_BATCH);
  const flushIntervalMs = options.flushIntervalMs ?? 200;
  const doFetch = options.fetch ?? fetch;

  async function post<T>(path: string, body: unknown): Promise<T> {
    const payload = JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let failure: TaskRunnerApiError;
      try {
        const response = await doFetch(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
          body: payload,
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await response.text();
        const parsed = text ? (JSON.parse(text) as { data?: T; error?: { code: string; message: string } }) : {};
        if (response.ok && parsed.data !== undefined) return parsed.data;
        const error = parsed.error ?? { code: 'bad_response', message: `HTTP ${response.status}` };
        failure = new TaskRunnerApiError(error.code, error.message, response.status);
        if (response.status < 500) throw failure; // 4xx: the request itself is refused, never retried
      } catch (error) {
        if (error instanceof TaskRunnerApiError && error.status > 0 && error.status < 500) throw error;
        failure =
          error instanceof TaskRunnerApiError
            ? error
            : new TaskRunnerApiError(
                error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network_error',
                error instanceof Error ? error.message : String(error),
                0,
              );
      }
      if (attempt >= retries) throw failure;
      const delay = backoffMs * 2 ** attempt;
      await sleep(delay / 2 + Math.random() * delay);
    }
  }

  // The commit queue: each waiting event with the promise of its result.
  let queue: Array<{ event: UsageEvent; resolve: (result: UsageEventResult) => void; reject: (error: unknown) => void }> = [];
  const inFlight = new Set<Promise<void>>();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;

  function sendQueued(): Promise<void> {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    const sends: Promise<void>[] = [];
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(MAX_BATCH);
      const sending = post<{ results: UsageEventResult[] }>('/api/usage/events', { events: batch.map((item) => item.event) }).then(
        ({ results }) =>
          batch.forEach((item, i) => item.resolve(results[i] ?? { status: 'rejected', code: 'bad_response', message: 'No result' })),
        (error: unknown) => batch.forEach((item) => item.reject(error)),
      );
      const tracked = sending.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      sends.push(tracked);
    }
    return Promise.all(sends).then(() => undefined);
  }

  function commit(event: UsageEvent): Promise<UsageEventResult> {
    if (closed) return Promise.reject(new TaskRunnerApiError('closed', 'The client is closed', 0));
    return new Promise((resolve, reject) => {
      queue.push({ event, resolve, reject });
      if (queue.length >= batchSize) void sendQueued();
      else timer ??= setTimeout(() => void sendQueued(), flushIntervalMs);
    });
  }

  async function flush(): Promise<void> {
    await sendQueued();
    await Promise.all([...inFlight]);
  }

  const client: TaskRunnerClient = {
    check: (userId, estimatedCost) => post<UsageCheck>('/api/payments/check-usage-limit', { userId, estimatedCost }),
    reserve: (input) => post<Reservation>('/api/usage/reserve', input),
    release: (userId, reservationId) => post('/api/usage/release', { userId, reservationId }),
    commit,
    flush,
    async close() {
      closed = true;
      await flush();
    },

    async runTask<T extends TaskUsage>(input: RunTaskInput, task: (task: RunningTask) => Promise<T>): Promise<RunTaskOutcome<T>> {
      const taskId = input.taskId ?? crypto.randomUUID();
      input.signal?.throwIfAborted();
      const held = await client.reserve({ userId: input.userId, estimatedCost: input.estimatedCost, idempotencyKey: `${taskId}:reserve` });
      if (!held.allowed || !held.reservationId) {
        // Short: the task does not run; the user is shown a payment for the shortfall.
        const check = await client.check(input.userId, input.estimatedCost);
        if (!check.requiresPayment && check.rechargePending) {
          return { status: 'rechargePending', taskId, shortfallCents: check.shortfallCents };
        }
        return { status: 'requiresPayment', taskId, shortfallCents: check.shortfallCents, paymentIntent: check.paymentIntent };
      }
      const reservationId = held.reservationId;
      const controller = new AbortController();
      const stop = () => controller.abort(input.signal?.reason);
      input.signal?.addEventListener('abort', stop, { once: true });
      let usage: T;
      try {
        // An abort wins the race: the runner stops waiting and the hold is given back.
        const aborted = new Promise<never>((_, reject) => {
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rejects with the abort's own reason, as fetch does
          const fail = () => reject(controller.signal.reason);
          if (controller.signal.aborted) fail();
          controller.signal.addEventListener('abort', fail, { once: true });
        });
        aborted.catch(() => undefined); // an abort after the task finished is nobody's error
        usage = await Promise.race([task({ taskId, reservationId, userId: input.userId, signal: controller.signal }), aborted]);
      } catch (error) {
        await client.release(input.userId, reservationId).catch(() => undefined); // the hold lapses on its own otherwise
        throw error;
      } finally {
        input.signal?.removeEventListener('abort', stop);
      }
      const result = await commit({
        userId: input.userId,
        reservationId,
        agent: input.agent,
        tokens: usage.tokens,
        executionMs: usage.executionMs,
        idempotencyKey: `${taskId}:commit`,
      });
      if (result.status === 'rejected') throw new TaskRunnerApiError(result.code, result.message, 200);
      return {
        status: 'completed',
        taskId,
        reservationId,
        result: usage,
        usage: { eventId: result.eventId, costMicros: result.costMicros, duplicate: result.status === 'duplicate' },
      };
    },
  };
  return client;
}
