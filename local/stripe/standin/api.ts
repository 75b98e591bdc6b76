// The stand-in's calls to the local Stripe: form-encoded like Stripe.js, with
// the publishable key, answering `{ data }` or `{ error }` (never throwing).

export interface StripeJsError {
  type: string;
  code?: string;
  decline_code?: string;
  message?: string;
  param?: string;
  payment_intent?: unknown;
  setup_intent?: unknown;
  [key: string]: unknown;
}

export type ApiResult<T> = { data: T; error?: undefined } | { data?: undefined; error: StripeJsError };

type FormInput = { [key: string]: unknown };

function encodeForm(data: FormInput, prefix: string, out: string[]): string[] {
  for (const [k, v] of Object.entries(data)) {
    const key = prefix ? `${prefix}[${k}]` : k;
    if (v === undefined || v === null) continue;
    if (typeof v === 'object') encodeForm(v as FormInput, key, out);
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a primitive here: objects recurse above
    else out.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(v))}`);
  }
  return out;
}

export function apiBase(): string {
  let base = '__LOCAL_STRIPE_API_BASE__';
  if (base.startsWith('__')) {
    // Served without substitution: use the origin the script came from.
    try {
      const script = document.currentScript as HTMLScriptElement | null;
      base = new URL(script?.src ?? '').origin;
    } catch {
      base = 'http://127.0.0.1:12111';
    }
  }
  const override = (window as unknown as { __LOCAL_STRIPE_API_BASE__?: unknown }).__LOCAL_STRIPE_API_BASE__;
  return typeof override === 'string' ? override : base;
}

export class Api {
  constructor(
    private readonly base: string,
    private readonly key: string,
  ) {}

  async call<T>(method: 'GET' | 'POST', path: string, params?: FormInput): Promise<ApiResult<T>> {
    const body = params ? encodeForm(params, '', []).join('&') : '';
    const url = `${this.base}${path}${method === 'GET' && body ? `?${body}` : ''}`;
    try {
      const res = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${this.key}`, 'Content-Type': 'application/x-www-form-urlencoded' },
        ...(method === 'GET' ? {} : { body }),
      });
      const json = (await res.json()) as { error?: StripeJsError } & T;
      if (res.ok) return { data: json };
      return { error: json.error ?? { type: 'api_error', message: 'Request failed' } };
    } catch (e) {
      return {
        error: { type: 'api_connection_error', message: `Could not reach the local Stripe: ${e instanceof Error ? e.message : String(e)}` },
      };
    }
  }

  /** The 3-D Secure outcome the challenge dialog chose, for a PaymentIntent or SetupIntent. */
  async completeChallenge<T>(intentId: string, clientSecret: string, outcome: 'succeed' | 'fail'): Promise<ApiResult<T>> {
    try {
      const res = await fetch(`${this.base}/_local/3ds/${intentId}/complete`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.key}` },
        body: JSON.stringify({ client_secret: clientSecret, outcome }),
      });
      const json = (await res.json()) as { error?: StripeJsError } & T;
      return res.ok ? { data: json } : { error: json.error ?? { type: 'api_error', message: 'Request failed' } };
    } catch (e) {
      return {
        error: { type: 'api_connection_error', message: `Could not reach the local Stripe: ${e instanceof Error ? e.message : String(e)}` },
      };
    }
  }
}

export function intentIdOf(clientSecret: string): string {
  return String(clientSecret).split('_secret_')[0] ?? '';
}

export function integrationError(message: string): Error {
  const e = new Error(message);
  e.name = 'IntegrationError';
  return e;
}
