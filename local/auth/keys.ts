// The ES256 (P-256) signing key, its JWKS entry, and access-token signing/verification.
import { randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { errors } from './errors';

export interface StoredSigningKey {
  kid: string;
  /** Private JWK (with `d`); persisted so tokens survive a restart. */
  privateJwk: JWK;
}

export async function generateSigningKey(): Promise<StoredSigningKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid: randomUUID(), privateJwk: await exportJWK(privateKey) };
}

/** The public half as Supabase publishes it at `/auth/v1/.well-known/jwks.json`. */
export function publicJwk(key: StoredSigningKey): JWK {
  const { kty, crv, x, y } = key.privateJwk;
  return { kty, crv, x, y, kid: key.kid, alg: 'ES256', use: 'sig', key_ops: ['verify'], ext: true };
}

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  session_id: string;
}

export class TokenSigner {
  private constructor(
    private readonly key: StoredSigningKey,
    private readonly privateKey: CryptoKey,
    private readonly publicKey: CryptoKey,
  ) {}

  static async create(key: StoredSigningKey): Promise<TokenSigner> {
    const privateKey = await importJWK(key.privateJwk, 'ES256');
    const publicKey = await importJWK(publicJwk(key), 'ES256');
    if (!(privateKey instanceof CryptoKey) || !(publicKey instanceof CryptoKey)) {
      throw new Error('local auth: the stored signing key is not an EC key');
    }
    return new TokenSigner(key, privateKey, publicKey);
  }

  jwks(): { keys: JWK[] } {
    return { keys: [publicJwk(this.key)] };
  }

  /** Signs a payload whose `iss`, `aud`, `exp` and `iat` the caller has set. */
  sign(payload: JWTPayload): Promise<string> {
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: this.key.kid, typ: 'JWT' }).sign(this.privateKey);
  }

  /** Verifies signature, issuer, audience and expiry; failures become GoTrue's 403 bad_jwt. */
  async verify(token: string, issuer: string): Promise<AccessTokenClaims> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.publicKey, {
        issuer,
        audience: 'authenticated',
        algorithms: ['ES256'],
      }));
    } catch (err) {
      throw errors.badJwt(describeJoseError(err));
    }
    const { sub, session_id: sessionId } = payload;
    if (typeof sub !== 'string' || typeof sessionId !== 'string') {
      throw errors.badJwt('token is missing the sub or session_id claim');
    }
    return { ...payload, sub, session_id: sessionId };
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token has invalid claims: token is expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `token has invalid claims: ${err.claim}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature is invalid';
  return 'token is malformed';
}
