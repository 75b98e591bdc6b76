// Lookups shared by several resources, kept apart so that resources which use
// each other (customers <-> payment methods) need not import each other both ways.
import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import { resourceMissing } from '../core/errors.js';

export function requireCustomer(engine: Engine, id: string, param = 'id'): Stripe.Customer {
  const customer = engine.state.customers[id];
  if (!customer) throw resourceMissing('customer', id, param);
  return customer;
}
