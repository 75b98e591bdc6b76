import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { jwtClaimsSchema, type JwtClaims } from '@/lib/auth/claims';
import { AppError } from '@/lib/http/errors';

// Verifies a Supabase access token: signature against the project's JWKS (Supabase's published
// keys, or the local auth server's), issuer, audience `authenticated`, expiry and role.
export type TokenVerifier = (token: string) => Promise<JwtClaims>;

export function createTokenVerifier(supabaseUrl: string): TokenVerifier {
  const issuer = `${supabaseUrl.replace(/\/+$/, '')}/auth/v1`;
  const keys: JWTVerifyGetKey = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`), {
    cooldownDuration: 30_000,
  });
  return async (token) => {
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, keys, { issuer, audience: 'authenticated', algorithms: ['ES256', 'RS256'] }));
    } catch (error) {
      if (error instanceof joseErrors.JWKSTimeout || (error instanceof TypeError && /fetch/i.test(error.message))) {
        throw new AppError('service_unavailable', 'Sign-in service is unavailable', { cause: error });
      }
      const reason = error instanceof joseErrors.JWTExpired ? 'Session expired' : 'Invalid access token';
      throw new AppError('unauthorized', reason, { cause: error });
    }
    const claims = jwtClaimsSchema.safeParse(payload);
    if (!claims.success || claims.data.role !== 'authenticated') {
      throw new AppError('unauthorized', 'Invalid access token');
    }
    return claims.data;
  };
}
