// One error class, one code-to-status table, one serializer. Domain code throws AppError with a
// code; the route wrapper turns it into `{ error: { code, message } }` with the table's status.
// Anything else becomes a 500 whose body never carries internals.

export const ERROR_STATUS = {
  invalid_json: 400,
  invalid_signature: 400,
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  idempotency_conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
  internal_error: 500,
  payment_provider_error: 502,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

// Next.js bundles this module more than once (the page bundle, the route bundle, server
// actions), and an object made by one copy fails `instanceof` in another. AppErrors therefore
// carry a brand registered in the process-wide symbol registry; `isAppError` checks the brand
// and the code, never the class.
const APP_ERROR_BRAND = Symbol.for('billing.AppError');

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options?.details;
    Object.defineProperty(this, APP_ERROR_BRAND, { value: true });
  }

  /** `instanceof` that also recognises AppErrors made by another copy of this module. */
  static [Symbol.hasInstance](value: unknown): boolean {
    return isAppError(value);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** An AppError from any copy of this module (see APP_ERROR_BRAND). */
export function isAppError(value: unknown): value is AppError {
  if (typeof value !== 'object' || value === null || !(value as Record<symbol, unknown>)[APP_ERROR_BRAND]) return false;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' && Object.hasOwn(ERROR_STATUS, code);
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export function errorBody(error: AppError): ErrorBody {
  return {
    error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) },
  };
}

/** Every API answer: never cached (they carry client secrets and billing data), never sniffed. */
export const API_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

/** The status, headers and body of the answer to a thrown error, whatever the server writes it with. */
export function errorAnswer(error: unknown): { status: number; headers: Record<string, string>; body: ErrorBody } {
  if (isAppError(error)) {
    const retryAfter = (error.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
    const headers: Record<string, string> = { ...API_HEADERS };
    if (typeof retryAfter === 'number') headers['retry-after'] = String(retryAfter);
    // A status read from the table, not the getter: a copy from another bundle has the same code.
    return { status: ERROR_STATUS[error.code], headers, body: errorBody(error) };
  }
  console.error('unhandled error', error);
  const internal = new AppError('internal_error', 'Something went wrong on our side. Please try again.');
  return { status: internal.status, headers: { ...API_HEADERS }, body: errorBody(internal) };
}

export function errorResponse(error: unknown): Response {
  const { status, headers, body } = errorAnswer(error);
  return Response.json(body, { status, headers });
}
