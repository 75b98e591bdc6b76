// Errors in the shape GoTrue answers with since API version 2024-01-01:
// `{ code: <http status>, error_code: '<slug>', msg: '<text>' }`. auth-js turns `error_code`
// into `AuthApiError.code` (and `session_not_found` / `weak_password` into their own classes).

export class GoTrueError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    /** Extra top-level fields GoTrue adds for some errors (e.g. `weak_password`). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'GoTrueError';
  }

  toBody(): Record<string, unknown> {
    return { code: this.status, error_code: this.errorCode, msg: this.message, ...this.extra };
  }
}

export const MIN_PASSWORD_LENGTH = 6;

export const errors = {
  badJson: (detail: string) => new GoTrueError(400, 'bad_json', `Could not parse request body as JSON: ${detail}`),
  validation: (message: string, status = 400) => new GoTrueError(status, 'validation_failed', message),
  invalidEmail: () => errors.validation('Unable to validate email address: invalid format'),
  invalidCredentials: () => new GoTrueError(400, 'invalid_credentials', 'Invalid login credentials'),
  emailNotConfirmed: () => new GoTrueError(400, 'email_not_confirmed', 'Email not confirmed'),
  userAlreadyExists: () => new GoTrueError(422, 'user_already_exists', 'User already registered'),
  emailExists: () => new GoTrueError(422, 'email_exists', 'A user with this email address has already been registered'),
  weakPassword: () =>
    new GoTrueError(422, 'weak_password', `Password should be at least ${MIN_PASSWORD_LENGTH} characters.`, {
      weak_password: { reasons: ['length'] },
    }),
  samePassword: () => new GoTrueError(422, 'same_password', 'New password should be different from the old password.'),
  phoneDisabled: () => new GoTrueError(400, 'phone_provider_disabled', 'Phone logins are disabled'),
  refreshTokenNotFound: () => new GoTrueError(400, 'refresh_token_not_found', 'Invalid Refresh Token: Refresh Token Not Found'),
  refreshTokenAlreadyUsed: () => new GoTrueError(400, 'refresh_token_already_used', 'Invalid Refresh Token: Already Used'),
  noAuthorization: () => new GoTrueError(401, 'no_authorization', 'This endpoint requires a valid Bearer token'),
  badJwt: (detail: string) => new GoTrueError(403, 'bad_jwt', `invalid JWT: unable to parse or verify signature, ${detail}`),
  sessionNotFound: () => new GoTrueError(403, 'session_not_found', 'Session from session_id claim in JWT does not exist'),
  userFromJwtNotFound: () => new GoTrueError(403, 'user_not_found', 'User from sub claim in JWT does not exist'),
  notAdmin: () => new GoTrueError(403, 'not_admin', 'User not allowed'),
  userNotFound: () => new GoTrueError(404, 'user_not_found', 'User not found'),
  notFound: () => new GoTrueError(404, 'not_found', 'Not Found'),
  methodNotAllowed: () => new GoTrueError(405, 'method_not_allowed', 'Method Not Allowed'),
  unexpected: () => new GoTrueError(500, 'unexpected_failure', 'Unexpected failure'),
};
