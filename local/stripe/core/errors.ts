// Stripe's error body: `{ error: { type, code?, decline_code?, param?, message, ... } }`.
// Every failure a handler can produce is a StripeApiError carrying that body
// and the HTTP status Stripe would use.

export type StripeErrorType = 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error';

export interface StripeErrorBody {
  type: StripeErrorType;
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  doc_url?: string;
  charge?: string;
  payment_intent?: unknown;
  setup_intent?: unknown;
  payment_method?: unknown;
  advice_code?: string;
}

export class StripeApiError extends Error {
  readonly status: number;
  readonly body: StripeErrorBody;
  /** Extra response headers, e.g. `Stripe-Should-Retry`. */
  readonly headers: Record<string, string>;
  /**
   * The request's changes stand despite the error. Only a decline sets it:
   * Stripe records a declined payment attempt (failed charge, intent back to
   * `requires_payment_method`, `payment_intent.payment_failed`) and answers 402.
   * Every other refusal leaves nothing behind.
   */
  keepChanges = false;

  constructor(status: number, body: StripeErrorBody, headers: Record<string, string> = {}) {
    super(body.message);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

const DOCS = 'https://stripe.com/docs/error-codes';

export function invalidRequest(message: string, extra: Partial<StripeErrorBody> = {}): StripeApiError {
  return new StripeApiError(400, { type: 'invalid_request_error', message, ...extra });
}

export function missingParam(param: string): StripeApiError {
  return invalidRequest(`Missing required param: ${param}.`, {
    code: 'parameter_missing',
    param,
    doc_url: `${DOCS}/parameter-missing`,
  });
}

export function unknownParam(param: string): StripeApiError {
  return invalidRequest(`Received unknown parameter: ${param}`, {
    code: 'parameter_unknown',
    param,
    doc_url: `${DOCS}/parameter-unknown`,
  });
}

export function invalidParam(param: string, message: string, code = 'parameter_invalid'): StripeApiError {
  return invalidRequest(message, { code, param });
}

/** `resource` is Stripe's human name: "customer", "PaymentIntent", "price". */
export function resourceMissing(resource: string, id: string, param = 'id'): StripeApiError {
  return new StripeApiError(404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    param,
    message: `No such ${resource}: '${id}'`,
    doc_url: `${DOCS}/resource-missing`,
  });
}

export function unexpectedState(message: string, code = 'payment_intent_unexpected_state'): StripeApiError {
  return invalidRequest(message, { code, doc_url: `${DOCS}/${code.replace(/_/g, '-')}` });
}

export function unrecognizedUrl(method: string, path: string): StripeApiError {
  return new StripeApiError(404, {
    type: 'invalid_request_error',
    message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
  });
}

export function authError(message: string): StripeApiError {
  return new StripeApiError(401, { type: 'invalid_request_error', message });
}

export function idempotencyMismatch(key: string): StripeApiError {
  return new StripeApiError(400, {
    type: 'idempotency_error',
    message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
  });
}

export function apiError(message = 'An unknown error occurred while processing this request.'): StripeApiError {
  return new StripeApiError(500, { type: 'api_error', message }, { 'Stripe-Should-Retry': 'true' });
}

export function rateLimited(): StripeApiError {
  return new StripeApiError(429, {
    type: 'invalid_request_error',
    code: 'rate_limit',
    message: 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
    doc_url: `${DOCS}/rate-limit`,
  });
}
