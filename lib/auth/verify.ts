import { errors as joseErrors, jwtVerify } from 'jose';
import { jwtClaimsSchema, type JwtClaims } from '@/lib/auth/claims';
import { AppError } from '@/lib/http/errors';
import { supabaseTokenKeys } from '@/lib/auth/token-keys';

// Verifies a Supabase access token: signature against the project's JWKS (Supabase's published
// keys, or the local auth server's) or, for HS256, SUPABASE_JWT_SECRET when it is set
// (token-keys.ts); issuer, audience `authenticated`, expiry and role.
export type TokenVerifier = (token: string) => Promise<JwtClaims>;

export function createTokenVerifier(supabaseUrl: string, jwtSecret?: string): TokenVerifier {
  const issuer = `${supabaseUrl.replace(/\/+$/, '')}/auth/v1`;
  const { key, algorithms } = supabaseTokenKeys(issuer, jwtSecret);
  return async (token) => {
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, key, { issuer, audience: 'authenticated', algorithms }));
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
