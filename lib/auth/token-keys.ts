import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';

// Which key checks an access token's signature. Asymmetric tokens (ES256, RS256) are checked
// against the project's JWKS. Supabase projects made before asymmetric signing keys sign with
// HS256 and the project's JWT secret, which the JWKS never lists: those are accepted only when
// SUPABASE_JWT_SECRET is configured, and then only with that secret. The algorithm is chosen by
// this list, never by the token alone, so an HS256 token "signed" with a public key's bytes or an
// `alg: none` token fails.
export const ASYMMETRIC_ALGORITHMS = ['ES256', 'RS256'];

export interface TokenKeys {
  algorithms: string[];
  key: JWTVerifyGetKey;
}

export function supabaseTokenKeys(issuer: string, jwtSecret: string | undefined): TokenKeys {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`), { cooldownDuration: 30_000 });
  if (!jwtSecret) return { algorithms: ASYMMETRIC_ALGORITHMS, key: jwks };
  const secret = new TextEncoder().encode(jwtSecret);
  return {
    algorithms: [...ASYMMETRIC_ALGORITHMS, 'HS256'],
    key: (header, token) => (header.alg === 'HS256' ? secret : jwks(header, token)),
  };
}
