import { AppError } from '@/lib/http/errors';

// SQLSTATEs raised by our SQL functions (see the usage functions migration) and the constraint
// violations a bad request can cause, as AppErrors. Anything else is rethrown untouched.
export function translateDatabaseError(error: unknown): never {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : '';
  if (code === 'BL404') throw new AppError('not_found', capitalise(message), { cause: error });
  if (code === 'BL422') throw new AppError('unprocessable', capitalise(message), { cause: error });
  if (code === 'BL409') {
    const kind = message.startsWith('idempotency key') ? 'idempotency_conflict' : 'conflict';
    throw new AppError(kind, capitalise(message), { cause: error });
  }
  // The only foreign key a usage call can break is user_usage -> users: the named user is unknown.
  if (code === '23503') throw new AppError('not_found', 'User not found', { cause: error });
  throw error;
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
