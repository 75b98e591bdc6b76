import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportSPKI, importJWK, SignJWT, UnsecuredJWT, type JWK, type JWTPayload } from 'jose';
import { createTokenVerifier } from '@/lib/auth/verify';
import { startTestAuth, type TestAuth } from '@/tests/helpers/auth';

// Both kinds of Supabase access token against the real verifier: asymmetric ones (ES256 from the
// local auth server's JWKS) and legacy HS256 ones signed with the project's JWT secret.
const SECRET = 'legacy-project-jwt-secret-0123456789abcdef';
let auth: TestAuth;
let issuer: string;
beforeAll(async () => {
  auth = await startTestAuth();
  issuer = `${auth.url}/auth/v1`;
});
afterAll(() => auth?.close());

const now = () => Math.floor(Date.now() / 1000);
const claims = (overrides: JWTPayload = {}): JWTPayload => ({
  sub: randomUUID(),
  aud: 'authenticated',
  role: 'authenticated',
  iss: issuer,
  iat: now(),
  exp: now() + 3600,
  email: 'legacy@example.test',
  ...overrides,
});
const hs256 = (payload: JWTPayload, secret: string | Uint8Array) =>
  new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(typeof secret === 'string' ? new TextEncoder().encode(secret) : secret);

async function rejection(verify: ReturnType<typeof createTokenVerifier>, token: string) {
  const error = await verify(token).then(
    () => null,
    (caught: unknown) => caught as { code?: string; message?: string },
  );
  return error && { code: error.code, message: error.message };
}
const invalid = { code: 'unauthorized', message: 'Invalid access token' };
const expired = { code: 'unauthorized', message: 'Session expired' };

describe.each([
  { name: 'with SUPABASE_JWT_SECRET', secret: SECRET },
  { name: 'without SUPABASE_JWT_SECRET', secret: undefined },
])('access tokens $name', ({ secret }) => {
  const verifier = () => createTokenVerifier(auth.url, secret);

  it('accepts a valid asymmetric token from the JWKS', async () => {
    const payload = claims();
    await expect(verifier()(await auth.signWithServerKey(payload))).resolves.toMatchObject({ sub: payload.sub, role: 'authenticated' });
  });

  it('rejects asymmetric tokens that are expired, foreign-signed, of another issuer or another role', async () => {
    const verify = verifier();
    expect(await rejection(verify, await auth.signWithServerKey(claims({ exp: now() - 10 })))).toEqual(expired);
    expect(await rejection(verify, await auth.signWithForeignKey(claims()))).toEqual(invalid);
    expect(await rejection(verify, await auth.signWithServerKey(claims({ iss: 'https://attacker.example/auth/v1' })))).toEqual(invalid);
    expect(await rejection(verify, await auth.signWithServerKey(claims({ role: 'service_role' })))).toEqual(invalid);
  });

  it(secret ? 'accepts a valid HS256 token signed with the secret' : 'rejects every HS256 token', async () => {
    const payload = claims();
    const token = await hs256(payload, SECRET);
    if (secret) await expect(verifier()(token)).resolves.toMatchObject({ sub: payload.sub, email: 'legacy@example.test' });
    else expect(await rejection(verifier(), token)).toEqual(invalid);
  });

  it('rejects HS256 tokens that are expired, wrongly signed, of another issuer, audience or role', async () => {
    const verify = verifier();
    expect(await rejection(verify, await hs256(claims({ exp: now() - 10 }), SECRET))).toEqual(secret ? expired : invalid);
    expect(await rejection(verify, await hs256(claims(), `${SECRET}-but-not-quite`))).toEqual(invalid);
    expect(await rejection(verify, await hs256(claims({ iss: 'https://attacker.example/auth/v1' }), SECRET))).toEqual(invalid);
    expect(await rejection(verify, await hs256(claims({ aud: 'anon' }), SECRET))).toEqual(invalid);
    expect(await rejection(verify, await hs256(claims({ role: 'anon' }), SECRET))).toEqual(invalid);
  });

  it('rejects an unsigned token (alg: none)', async () => {
    const token = new UnsecuredJWT(claims()).encode();
    expect(await rejection(verifier(), token)).toEqual(invalid);
  });

  it("rejects an HS256 token keyed with the public key's bytes (algorithm confusion)", async () => {
    const jwks = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const publicKey = jwks.keys[0];
    if (!publicKey) throw new Error('the JWKS has no key');
    const pem = await exportSPKI((await importJWK(publicKey, 'ES256', { extractable: true })) as CryptoKey);
    const verify = verifier();
    // Whatever bytes an attacker derives from the public key, the verifier never uses them.
    for (const bytes of [pem, JSON.stringify(publicKey), JSON.stringify(jwks)]) {
      expect(await rejection(verify, await hs256(claims(), bytes))).toEqual(invalid);
    }
  });
});
