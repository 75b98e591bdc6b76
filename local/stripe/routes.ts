import type { Route } from './http/router.js';
import { invoiceItemRoutes } from './billing/invoice-items.js';
import { invoiceRoutes } from './billing/invoice-routes.js';
import { scheduleRoutes } from './billing/schedules.js';
import { subscriptionRoutes } from './billing/subscriptions.js';
import { catalogRoutes } from './resources/catalog.js';
import { chargeRoutes } from './resources/charges.js';
import { customerRoutes } from './resources/customers.js';
import { disputeRoutes } from './resources/disputes.js';
import { eventRoutes } from './resources/events.js';
import { paymentIntentRoutes } from './resources/payment-intents.js';
import { paymentMethodRoutes } from './resources/payment-methods.js';
import { setupIntentRoutes } from './resources/setup-intents.js';
import { testClockRoutes } from './resources/test-clocks.js';
import { webhookEndpointRoutes } from './resources/webhook-endpoints.js';

/** Every /v1 route the local Stripe answers. */
export const ROUTES: Route[] = [
  ...customerRoutes,
  ...catalogRoutes,
  ...paymentMethodRoutes,
  ...paymentIntentRoutes,
  ...setupIntentRoutes,
  ...chargeRoutes,
  ...disputeRoutes,
  ...subscriptionRoutes,
  ...scheduleRoutes,
  ...invoiceRoutes,
  ...invoiceItemRoutes,
  ...eventRoutes,
  ...webhookEndpointRoutes,
  ...testClockRoutes,
];
