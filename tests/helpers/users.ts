import { randomUUID } from 'node:crypto';
import type { Actor } from '@/lib/auth/actor';
import type { JwtClaims } from '@/lib/auth/claims';
import type { Database } from '@/lib/db';

// Test users are real rows; their claims are what a verified Supabase token would carry.
export async function createUser(db: Database, email = `${randomUUID()}@example.test`): Promise<Extract<Actor, { kind: 'user' }>> {
  const id = randomUUID();
  await db.query('insert into public.users (id, email) values ($1, $2)', [id, email]);
  const claims: JwtClaims = {
    sub: id,
    aud: 'authenticated',
    role: 'authenticated',
    exp: Math.floor(Date.now() / 1000) + 3600,
    email,
  };
  return { kind: 'user', userId: id, claims };
}

export const asTaskRunner = (userId: string): Actor => ({ kind: 'task-runner', userId, claims: null });
