// Billing's side of the engine: it registers the hooks resources fire, so
// resources never import billing (the dependency runs billing -> resources).
import type { Engine } from '../engine.js';
import { runDue } from './cycle.js';
import { onInvoiceIntentFailed, onInvoiceIntentRequiresAction, onInvoiceIntentSucceeded, subscriptionOf } from './invoice-payments.js';
import { cancelSubscription, onSubscriptionInvoiceFailed, onSubscriptionInvoicePaid } from './subscriptions.js';

export function registerBilling(engine: Engine): void {
  engine.on('intentSucceeded', (pi, pm) => onInvoiceIntentSucceeded(engine, pi, pm));
  engine.on('intentFailed', (pi) => onInvoiceIntentFailed(engine, pi));
  engine.on('intentRequiresAction', (pi) => onInvoiceIntentRequiresAction(engine, pi));
  engine.on('invoicePaid', (invoice, pm) => {
    const sub = subscriptionOf(engine, invoice);
    if (sub) onSubscriptionInvoicePaid(engine, sub, invoice, pm);
  });
  engine.on('invoicePaymentFailed', (invoice) => {
    const sub = subscriptionOf(engine, invoice);
    if (sub) onSubscriptionInvoiceFailed(engine, sub, invoice);
  });
  engine.on('customerDeleting', (customer) => {
    for (const sub of Object.values(engine.state.subscriptions)) {
      if (sub.customer === customer.id && sub.status !== 'canceled' && sub.status !== 'incomplete_expired') {
        cancelSubscription(engine, sub, 'cancellation_requested');
      }
    }
  });
  engine.on('advanceTime', (inScope, until, setTime) => runDue(engine, inScope, until, setTime));
}
