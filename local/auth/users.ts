// User rules (email format, password strength, metadata merge) and the GoTrue user JSON.
import { randomUUID } from 'node:crypto';
import { MIN_PASSWORD_LENGTH, errors } from './errors';
import type { JsonObject } from './http';
import type { UserRecord } from './store';

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Trims and lower-cases an email, rejecting a missing or malformed one (400 validation_failed). */
export function normalizeEmail(raw: string | undefined, missingMessage: string): string {
  const email = raw?.trim().toLowerCase() ?? '';
  if (email === '') throw errors.validation(missingMessage);
  if (email.length > 255 || !EMAIL_PATTERN.test(email)) throw errors.invalidEmail();
  return email;
}

export function assertStrongPassword(password: string): void {
  // GoTrue counts characters, not bytes.
  if ([...password].length < MIN_PASSWORD_LENGTH) throw errors.weakPassword();
}

/** Shallow merge as GoTrue does for metadata updates: a `null` value removes the key. */
export function mergeMetadata(current: JsonObject, patch: JsonObject): JsonObject {
  const merged: JsonObject = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

export interface NewUser {
  email: string;
  passwordHash: string | null;
  confirmed: boolean;
  appMetadata?: JsonObject;
  userMetadata?: JsonObject;
  id?: string;
}

export function newUserRecord(input: NewUser, now: string): UserRecord {
  return {
    id: input.id ?? randomUUID(),
    email: input.email,
    passwordHash: input.passwordHash,
    emailConfirmedAt: input.confirmed ? now : null,
    lastSignInAt: null,
    appMetadata: { provider: 'email', providers: ['email'], ...input.appMetadata },
    userMetadata: input.userMetadata ?? {},
    identityId: randomUUID(),
    createdAt: now,
    updatedAt: now,
  };
}

/** The fields GoTrue copies from the email identity into a signed-up user's metadata. */
export function identityData(user: Pick<UserRecord, 'id' | 'email' | 'emailConfirmedAt'>): JsonObject {
  return {
    email: user.email,
    email_verified: user.emailConfirmedAt !== null,
    phone_verified: false,
    sub: user.id,
  };
}

/** The user object GoTrue returns (null timestamps are omitted, as GoTrue's `omitempty`). */
export function toGoTrueUser(user: UserRecord): Record<string, unknown> {
  const identity = {
    identity_id: user.identityId,
    id: user.id,
    user_id: user.id,
    identity_data: identityData(user),
    provider: 'email',
    last_sign_in_at: user.lastSignInAt ?? undefined,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
    email: user.email,
  };
  return {
    id: user.id,
    aud: 'authenticated',
    role: 'authenticated',
    email: user.email,
    email_confirmed_at: user.emailConfirmedAt ?? undefined,
    phone: '',
    confirmed_at: user.emailConfirmedAt ?? undefined,
    last_sign_in_at: user.lastSignInAt ?? undefined,
    app_metadata: user.appMetadata,
    user_metadata: user.userMetadata,
    identities: [identity],
    created_at: user.createdAt,
    updated_at: user.updatedAt,
    is_anonymous: false,
  };
}
