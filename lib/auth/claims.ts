import { z } from 'zod';

// The claims of a Supabase access token that the server relies on. Extra claims are kept so the
// database sees exactly what Supabase issued (request.jwt.claims).
export const jwtClaimsSchema = z.looseObject({
  sub: z.uuid(),
  aud: z.union([z.string(), z.array(z.string())]),
  role: z.string(),
  exp: z.number(),
  email: z.string().optional(),
  /** The Supabase Auth session (auth.sessions.id) the token belongs to. */
  session_id: z.uuid().optional(),
  app_metadata: z.looseObject({ role: z.string().optional() }).optional(),
  user_metadata: z.record(z.string(), z.unknown()).optional(),
});

export type JwtClaims = z.infer<typeof jwtClaimsSchema>;
