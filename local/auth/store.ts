// The auth server's state (users, sessions, refresh tokens, signing key), kept in memory and,
// when a data file is given, written through to JSON after every change.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { JsonObject } from './http';
import { generateSigningKey, type StoredSigningKey } from './keys';
import type { SessionMirror } from './session-mirror';

export interface UserRecord {
  id: string;
  /** Always lower-case: emails are case-insensitive. */
  email: string;
  passwordHash: string | null;
  emailConfirmedAt: string | null;
  lastSignInAt: string | null;
  appMetadata: JsonObject;
  userMetadata: JsonObject;
  identityId: string;
  createdAt: string;
  updatedAt: string;
}

export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: string;
  updatedAt: string;
  /** Unix seconds of the password sign-in that opened the session (the `amr` timestamp). */
  authenticatedAt: number;
  activeRefreshToken: string;
}

// Stored in clear text as GoTrue does: anyone who can read this file also holds the
// private signing key, so hashing the refresh tokens would protect nothing.
export interface RefreshTokenRecord {
  token: string;
  sessionId: string;
  parent: string | null;
  /** Epoch milliseconds when the token was rotated; null while it is the active one. */
  revokedAt: number | null;
}

interface AuthData {
  version: 1;
  signingKey: StoredSigningKey;
  users: UserRecord[];
  sessions: SessionRecord[];
  refreshTokens: RefreshTokenRecord[];
}

export class AuthStore {
  readonly users = new Map<string, UserRecord>();
  readonly sessions = new Map<string, SessionRecord>();
  readonly refreshTokens = new Map<string, RefreshTokenRecord>();

  /** Mirror writes not yet awaited; `flush()` waits for them before a reply goes out. */
  private pending: Promise<void>[] = [];
  /** Where sessions are mirrored for the app (auth.sessions); set by the server. */
  mirror: SessionMirror | undefined;

  private constructor(
    readonly signingKey: StoredSigningKey,
    private readonly dataFile: string | undefined,
  ) {}

  addSession(session: SessionRecord): void {
    this.sessions.set(session.id, session);
    if (this.mirror) this.pending.push(this.mirror.opened(session));
  }

  /** Waits for the mirror to have every session change made so far. */
  async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    await Promise.all(pending);
  }

  /** Loads the data file if it exists; otherwise starts empty with a new signing key. */
  static async open(dataFile?: string): Promise<AuthStore> {
    const data = dataFile && existsSync(dataFile) ? readDataFile(dataFile) : undefined;
    const store = new AuthStore(data?.signingKey ?? (await generateSigningKey()), dataFile);
    for (const user of data?.users ?? []) store.users.set(user.id, user);
    for (const session of data?.sessions ?? []) store.sessions.set(session.id, session);
    for (const token of data?.refreshTokens ?? []) store.refreshTokens.set(token.token, token);
    if (!data) store.save(); // persist the new key at once so restarts keep it
    return store;
  }

  findUserByEmail(email: string): UserRecord | undefined {
    const wanted = email.toLowerCase();
    for (const user of this.users.values()) if (user.email === wanted) return user;
    return undefined;
  }

  /** Ends a session: it and all its refresh tokens are forgotten. */
  deleteSession(sessionId: string): void {
    this.sessions.delete(sessionId);
    if (this.mirror) this.pending.push(this.mirror.ended([sessionId]));
    for (const [token, record] of this.refreshTokens) {
      if (record.sessionId === sessionId) this.refreshTokens.delete(token);
    }
  }

  sessionsOf(userId: string): SessionRecord[] {
    return [...this.sessions.values()].filter((s) => s.userId === userId);
  }

  deleteUser(userId: string): void {
    for (const session of this.sessionsOf(userId)) this.deleteSession(session.id);
    this.users.delete(userId);
  }

  /** Writes the whole state atomically (temp file + rename); a no-op when in-memory. */
  save(): void {
    if (!this.dataFile) return;
    const data: AuthData = {
      version: 1,
      signingKey: this.signingKey,
      users: [...this.users.values()],
      sessions: [...this.sessions.values()],
      refreshTokens: [...this.refreshTokens.values()],
    };
    mkdirSync(dirname(this.dataFile), { recursive: true });
    const temp = `${this.dataFile}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(data, null, 2), { mode: 0o600 });
    renameSync(temp, this.dataFile);
  }
}

function readDataFile(file: string): AuthData {
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isAuthData(parsed)) throw new Error(`local auth: ${file} is not a local auth data file (version 1)`);
  return parsed;
}

// A shape check of our own file, not a full validation: it was written by `save()`.
function isAuthData(value: unknown): value is AuthData {
  if (typeof value !== 'object' || value === null) return false;
  const v: Record<string, unknown> = { ...value };
  const key = v.signingKey;
  return (
    v.version === 1 &&
    typeof key === 'object' &&
    key !== null &&
    'kid' in key &&
    typeof key.kid === 'string' &&
    'privateJwk' in key &&
    typeof key.privateJwk === 'object' &&
    Array.isArray(v.users) &&
    Array.isArray(v.sessions) &&
    Array.isArray(v.refreshTokens)
  );
}
