import { route } from '@/lib/http/route';
import { upsertCustomer } from '@/lib/payments/customers';
import { createCustomerBodySchema } from '@/lib/payments/schemas';

// POST /api/payments/customers – get or create the user's Stripe customer
export const POST = route({ auth: 'user', body: createCustomerBodySchema }, ({ db, actor, body }) =>
  upsertCustomer(db, actor.userId, body),
);
