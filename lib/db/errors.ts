import { AppError } from '@/lib/http/errors';

// SQLSTATEs raised by our SQL functions (see the usage functions migration) and the constraint
// violations a bad request can cause, as AppErrors; null for anything else.
export function databaseErrorAsAppError(error: unknown): AppError | null {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : '';
  if (code === 'BL404') return new AppError('not_found', capitalise(message), { cause: error });
  if (code === 'BL422') return new AppError('unprocessable', capitalise(message), { cause: error });
  if (code === 'BL409') {
    const kind = message.startsWith('idempotency key') ? 'idempotency_conflict' : 'conflict';
    return new AppError(kind, capitalise(message), { cause: error });
  }
  // The only foreign key a usage call can break is user_usage -> users: the named user is unknown.
  if (code === '23503') return new AppError('not_found', 'User not found', { cause: error });
  return null;
}

/** For `.catch`: the AppError the database error means, or the error itself, rethrown. */
export function translateDatabaseError(error: unknown): never {
  throw databaseErrorAsAppError(error) ?? error;
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
