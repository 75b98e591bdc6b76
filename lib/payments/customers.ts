import type { Database } from '@/lib/db';
import { AppError } from '@/lib/http/errors';
import type { CreateCustomerBody } from '@/lib/payments/schemas';
import { customerKey } from '@/lib/payments/idempotency';
import { enforceRateLimit } from '@/lib/payments/rate-limit';
import { stripe } from '@/lib/stripe/client';
import { stripeCall } from '@/lib/stripe/errors';

// One Stripe customer per user, even under concurrent calls: the create carries the idempotency
// key `customer:<userId>:<hour>` (lib/payments/idempotency.ts) with parameters that depend only on the stored user, so every
// concurrent or retried call gets the same customer back, and the first write of its id wins.

export interface CustomerAnswer {
  customerId: string;
  email: string;
  name: string | null;
  created: boolean;
}

interface UserRow {
  email: string;
  billing_email: string | null;
  name: string | null;
  stripe_customer_id: string | null;
}

async function readUser(db: Database, userId: string): Promise<UserRow> {
  const { rows } = await db.query<UserRow>('select email, billing_email, name, stripe_customer_id from public.users where id = $1', [
    userId,
  ]);
  if (!rows[0]) throw new AppError('not_found', 'User not found');
  return rows[0];
}

/** The user's Stripe customer id, created on first need. */
export async function ensureCustomerId(db: Database, userId: string): Promise<string> {
  const user = await readUser(db, userId);
  if (user.stripe_customer_id) return user.stripe_customer_id;
  const customer = await stripeCall(() =>
    stripe().customers.create({ email: user.email || undefined, metadata: { userId } }, { idempotencyKey: customerKey(userId) }),
  );
  const { rows } = await db.query<{ stripe_customer_id: string }>(
    `update public.users set stripe_customer_id = coalesce(stripe_customer_id, $2) where id = $1
     returning stripe_customer_id`,
    [userId, customer.id],
  );
  return rows[0]?.stripe_customer_id ?? customer.id;
}

/**
 * POST /api/payments/customers: get or create the customer, with the billing email and name
 * given. Stripe is written only when they differ from what we last sent (a hundred identical
 * calls make one write), and such writes are rate-limited per user.
 */
export async function upsertCustomer(db: Database, userId: string, body: CreateCustomerBody): Promise<CustomerAnswer> {
  const before = await readUser(db, userId);
  const customerId = await ensureCustomerId(db, userId);
  const unchanged = before.billing_email === body.email && (body.name === undefined || body.name === before.name);
  if (unchanged) return { customerId, email: body.email, name: before.name, created: false };
  await enforceRateLimit(db, userId, 'customer_update');
  const updated = await stripeCall(() =>
    stripe().customers.update(customerId, { email: body.email, ...(body.name ? { name: body.name } : {}) }),
  );
  await db.query(
    `update public.users set billing_email = $2, name = coalesce($3, name)
     where id = $1 and (billing_email is distinct from $2 or ($3::text is not null and name is distinct from $3))`,
    [userId, body.email, body.name ?? null],
  );
  return { customerId, email: updated.email ?? body.email, name: updated.name ?? null, created: before.stripe_customer_id === null };
}
