import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { invalidRequest, resourceMissing } from '../core/errors.js';
import { newId, randomToken } from '../core/ids.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata } from '../core/params.js';
import type { Decline } from '../cards.js';
import { blocksRefund } from './disputes.js';
import { receiptUrl } from '../documents/documents.js';

/** The charge a confirmation attempt produces (succeeded, or failed with `decline`). */
export function createCharge(engine: Engine, pi: Stripe.PaymentIntent, pm: Stripe.PaymentMethod, decline: Decline | null): Stripe.Charge {
  const customer = typeof pi.customer === 'string' ? pi.customer : (pi.customer?.id ?? null);
  const card = pm.card;
  const charge: Stripe.Charge = {
    id: newId('ch'),
    object: 'charge',
    amount: pi.amount,
    amount_captured: decline ? 0 : pi.amount,
    amount_refunded: 0,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: decline ? null : newId('txn'),
    billing_details: pm.billing_details,
    calculated_statement_descriptor: 'LOCAL STRIPE',
    captured: !decline,
    created: engine.now(customer),
    currency: pi.currency,
    customer,
    description: pi.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: decline?.code ?? null,
    failure_message: decline?.message ?? null,
    fraud_details: {},
    livemode: false,
    metadata: pi.metadata,
    on_behalf_of: null,
    outcome: decline
      ? {
          advice_code: null,
          network_advice_code: null,
          network_decline_code: null,
          network_status: 'declined_by_network',
          reason: decline.decline_code,
          risk_level: 'normal',
          seller_message: 'The bank did not return any further details with this decline.',
          type: 'issuer_declined',
        }
      : {
          advice_code: null,
          network_advice_code: null,
          network_decline_code: null,
          network_status: 'approved_by_network',
          reason: null,
          risk_level: 'normal',
          seller_message: 'Payment complete.',
          type: 'authorized',
        },
    paid: !decline,
    payment_intent: pi.id,
    payment_method: pm.id,
    payment_method_details: card
      ? {
          type: 'card',
          card: {
            amount_authorized: decline ? null : pi.amount,
            authorization_code: decline ? null : randomToken(6),
            brand: card.brand,
            checks: card.checks,
            country: card.country,
            electronic_commerce_indicator: null,
            exp_month: card.exp_month,
            exp_year: card.exp_year,
            fingerprint: card.fingerprint ?? null,
            funding: card.funding,
            installments: null,
            last4: card.last4,
            mandate: null,
            network: card.brand,
            network_transaction_id: null,
            regulated_status: card.regulated_status,
            three_d_secure: null,
            transaction_link_id: null,
            wallet: null,
          },
        }
      : null,
    receipt_email: pi.receipt_email,
    receipt_number: null,
    receipt_url: null,
    refunded: false,
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: pi.statement_descriptor,
    statement_descriptor_suffix: pi.statement_descriptor_suffix,
    status: decline ? 'failed' : 'succeeded',
    transfer_data: null,
    transfer_group: null,
  };
  if (!decline) charge.receipt_url = receiptUrl(engine, charge.id);
  engine.state.charges[charge.id] = charge;
  engine.store.touch();
  return charge;
}

function requireCharge(engine: Engine, id: string, param = 'id'): Stripe.Charge {
  const charge = engine.state.charges[id];
  if (!charge) throw resourceMissing('charge', id, param);
  return charge;
}

function chargeToRefund(engine: Engine, chargeId: string | undefined, piId: string | undefined): Stripe.Charge {
  if (chargeId !== undefined) return requireCharge(engine, chargeId, 'charge');
  if (piId === undefined) {
    throw invalidRequest('One of the following params should be provided for this request: payment_intent or charge.', {
      code: 'parameter_missing',
    });
  }
  const pi = engine.state.paymentIntents[piId];
  if (!pi) throw resourceMissing('payment_intent', piId, 'payment_intent');
  const charge = typeof pi.latest_charge === 'string' ? engine.state.charges[pi.latest_charge] : undefined;
  if (pi.status !== 'succeeded' || !charge) {
    throw invalidRequest(`This PaymentIntent (${pi.id}) does not have a successful charge to refund.`, {
      param: 'payment_intent',
    });
  }
  return charge;
}

function createRefund(engine: Engine, params: Parameters<Route['handler']>[0]['params']): Stripe.Refund {
  params.only(['payment_intent', 'charge', 'amount', 'reason', 'metadata', 'expand', 'instructions_email']);
  const charge = chargeToRefund(engine, params.str('charge'), params.str('payment_intent'));
  const remaining = charge.amount - charge.amount_refunded;
  if (blocksRefund(engine, charge.id)) {
    throw invalidRequest(`Charge ${charge.id} has been charged back; cannot issue a refund.`, { code: 'charge_disputed' });
  }
  if (remaining <= 0) {
    throw invalidRequest(`Charge ${charge.id} has already been refunded.`, { code: 'charge_already_refunded' });
  }
  if (!charge.captured) {
    throw invalidRequest(`Charge ${charge.id} has not been captured; cancel its PaymentIntent to release the authorization.`, {
      code: 'charge_not_refundable',
    });
  }
  const amount = params.int('amount') ?? remaining;
  if (amount <= 0) throw invalidRequest('Invalid positive integer', { param: 'amount', code: 'parameter_invalid_integer' });
  if (amount > remaining) {
    throw invalidRequest(
      `Refund amount ($${(amount / 100).toFixed(2)}) is greater than unrefunded amount on charge ($${(remaining / 100).toFixed(2)})`,
      { param: 'amount', code: 'amount_too_large' },
    );
  }
  const customer = typeof charge.customer === 'string' ? charge.customer : null;
  const refund: Stripe.Refund = {
    id: newId('re'),
    object: 'refund',
    amount,
    balance_transaction: newId('txn'),
    charge: charge.id,
    created: engine.now(customer),
    currency: charge.currency,
    customer_account: null,
    customer,
    destination_details: {
      type: 'card',
      card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' },
    },
    metadata: mergeMetadata(null, params.metadata()),
    payment_intent: typeof charge.payment_intent === 'string' ? charge.payment_intent : null,
    payment_method: charge.payment_method,
    reason: params.oneOf('reason', ['duplicate', 'fraudulent', 'requested_by_customer'] as const) ?? null,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  };
  engine.state.refunds[refund.id] = refund;
  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded === charge.amount;
  engine.store.touch();
  engine.emit('refund.created', refund);
  engine.emit('charge.refunded', charge);
  return refund;
}

export const chargeRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/charges',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'customer', 'payment_intent', 'created']);
      const customer = params.str('customer');
      const pi = params.str('payment_intent');
      const items = newestFirst(engine.state.charges).filter(
        (c) =>
          (customer === undefined || c.customer === customer) &&
          (pi === undefined || c.payment_intent === pi) &&
          matchesCreated(params, c.created),
      );
      return paginate(engine, items, params, '/v1/charges');
    },
  },
  {
    method: 'GET',
    path: '/v1/charges/:id',
    handler: ({ engine, path, expand }) => engine.render(requireCharge(engine, path.id ?? ''), expand),
  },
  { method: 'POST', path: '/v1/refunds', handler: ({ engine, params, expand }) => engine.render(createRefund(engine, params), expand) },
  {
    method: 'GET',
    path: '/v1/refunds',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'charge', 'payment_intent', 'created']);
      const charge = params.str('charge');
      const pi = params.str('payment_intent');
      const items = newestFirst(engine.state.refunds).filter(
        (r) => (charge === undefined || r.charge === charge) && (pi === undefined || r.payment_intent === pi),
      );
      return paginate(engine, items, params, '/v1/refunds');
    },
  },
  {
    method: 'GET',
    path: '/v1/refunds/:id',
    handler: ({ engine, path, expand }) => {
      const refund = engine.state.refunds[path.id ?? ''];
      if (!refund) throw resourceMissing('refund', path.id ?? '');
      return engine.render(refund, expand);
    },
  },
];
