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
  conflict: 409,
  idempotency_conflict: 409,
  unprocessable: 422,
  rate_limited: 429,
  internal_error: 500,
  payment_provider_error: 502,
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export function errorBody(error: AppError): ErrorBody {
  return {
    error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) },
  };
}

export function errorResponse(error: unknown): Response {
  if (error instanceof AppError) {
    const retryAfter = (error.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
    const headers = typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : undefined;
    return Response.json(errorBody(error), { status: error.status, headers });
  }
  console.error('unhandled error', error);
  const internal = new AppError('internal_error', 'Something went wrong on our side. Please try again.');
  return Response.json(errorBody(internal), { status: internal.status });
}
