// Disputes as Stripe's test mode makes them: a payment with a dispute test card
// (pm_card_createDispute, 4000 0000 0000 0259...) succeeds and is then disputed;
// evidence `winning_evidence` / `losing_evidence` closes it won / lost. A local
// control (`POST /_local/charges/:id/dispute`) disputes any succeeded charge.
import type Stripe from 'stripe';
import type { Engine } from '../engine.js';
import type { Route } from '../http/router.js';
import { invalidParam, invalidRequest, resourceMissing } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { LIST_PARAMS, matchesCreated, newestFirst, paginate } from '../core/list.js';
import { mergeMetadata, type Params } from '../core/params.js';
import { cardByFingerprint } from '../cards.js';

const REASONS = [
  'bank_cannot_process',
  'check_returned',
  'credit_not_processed',
  'customer_initiated',
  'debit_not_authorized',
  'duplicate',
  'fraudulent',
  'general',
  'incorrect_account_details',
  'insufficient_funds',
  'noncompliant',
  'product_not_received',
  'product_unacceptable',
  'subscription_canceled',
  'unrecognized',
];

/** What Stripe charges for a dispute (returned when it is won). */
const DISPUTE_FEE = 1500;
const EVIDENCE_DAYS = 7;

const OPEN = ['needs_response', 'warning_needs_response', 'under_review', 'warning_under_review'];
const CLOSED = ['won', 'lost', 'warning_closed'];

const EVIDENCE_FIELDS = [
  'access_activity_log',
  'billing_address',
  'cancellation_policy',
  'cancellation_policy_disclosure',
  'cancellation_rebuttal',
  'customer_communication',
  'customer_email_address',
  'customer_name',
  'customer_purchase_ip',
  'customer_signature',
  'duplicate_charge_documentation',
  'duplicate_charge_explanation',
  'duplicate_charge_id',
  'product_description',
  'receipt',
  'refund_policy',
  'refund_policy_disclosure',
  'refund_refusal_explanation',
  'service_date',
  'service_documentation',
  'shipping_address',
  'shipping_carrier',
  'shipping_date',
  'shipping_documentation',
  'shipping_tracking_number',
  'uncategorized_file',
  'uncategorized_text',
] as const;

type EvidenceField = (typeof EVIDENCE_FIELDS)[number];

function disputesState(engine: Engine): Record<string, Stripe.Dispute> {
  return engine.state.disputes;
}

export function requireDispute(engine: Engine, id: string): Stripe.Dispute {
  const dispute = disputesState(engine)[id];
  if (!dispute) throw resourceMissing('dispute', id);
  return dispute;
}

function customerOf(charge: Stripe.Charge): string | null {
  return typeof charge.customer === 'string' ? charge.customer : (charge.customer?.id ?? null);
}

function balanceTransaction(_engine: Engine, dispute: Stripe.Dispute, sign: 1 | -1, at: number): Stripe.BalanceTransaction {
  // Withdrawal: the amount leaves and the dispute fee is charged; a won dispute returns both.
  const amount = sign * dispute.amount;
  const fee = -sign * DISPUTE_FEE;
  return {
    id: newId('txn'),
    object: 'balance_transaction',
    amount,
    available_on: at,
    balance_type: 'payments',
    created: at,
    currency: dispute.currency,
    description: `${sign < 0 ? 'Chargeback withdrawal' : 'Chargeback reversal'} for ${typeof dispute.charge === 'string' ? dispute.charge : dispute.charge.id}`,
    exchange_rate: null,
    fee,
    fee_details: [{ amount: fee, application: null, currency: dispute.currency, description: 'Dispute fee', type: 'stripe_fee' }],
    net: amount - fee,
    reporting_category: sign < 0 ? 'dispute' : 'dispute_reversal',
    source: dispute.id,
    status: 'available',
    type: 'adjustment',
  };
}

function emptyEvidence(): Stripe.Dispute.Evidence {
  const evidence = Object.fromEntries(EVIDENCE_FIELDS.map((f) => [f, null])) as Record<EvidenceField, null>;
  return { ...evidence, enhanced_evidence: {} };
}

export interface DisputeInput {
  amount?: number;
  reason?: string;
  inquiry?: boolean;
  /** Compliance case (the `noncompliant` test card). */
  compliance?: boolean;
}

/**
 * Opens a dispute on a succeeded charge: `charge.dispute.created`, then (unless
 * it is an inquiry) `charge.dispute.funds_withdrawn`. Refused, changing nothing,
 * for a charge that did not succeed, is already disputed or fully refunded.
 */
export function openDispute(engine: Engine, charge: Stripe.Charge, input: DisputeInput = {}, multiple = false): Stripe.Dispute {
  if (charge.status !== 'succeeded') {
    throw invalidRequest(`Charge ${charge.id} did not succeed, so it cannot be disputed.`, { param: 'charge' });
  }
  if (charge.disputed && !multiple)
    throw invalidRequest(`Charge ${charge.id} is already disputed.`, { code: 'charge_disputed', param: 'charge' });
  const disputable = charge.amount - charge.amount_refunded;
  if (disputable <= 0)
    throw invalidRequest(`Charge ${charge.id} has been fully refunded, so it cannot be disputed.`, { code: 'charge_already_refunded' });
  const amount = input.amount ?? disputable;
  if (!Number.isInteger(amount) || amount <= 0 || amount > disputable) {
    throw invalidParam('amount', `The dispute amount must be a whole number of cents between 1 and ${disputable}.`);
  }
  if (input.reason !== undefined && !REASONS.includes(input.reason)) {
    throw invalidParam('reason', `Invalid reason: must be one of ${REASONS.join(', ')}.`);
  }
  const now = engine.now(customerOf(charge));
  const inquiry = input.inquiry ?? false;
  const card = charge.payment_method_details?.card;
  const dispute: Stripe.Dispute = {
    id: newId('dp'),
    object: 'dispute',
    amount,
    balance_transactions: [],
    charge: charge.id,
    created: now,
    currency: charge.currency,
    enhanced_eligibility_types: [],
    evidence: emptyEvidence(),
    evidence_details: {
      due_by: now + EVIDENCE_DAYS * 86_400,
      enhanced_eligibility: {},
      has_evidence: false,
      past_due: false,
      submission_count: 0,
      submission_method: 'not_submitted',
    },
    intended_submission_method: null,
    is_charge_refundable: inquiry,
    livemode: false,
    metadata: {},
    payment_intent: typeof charge.payment_intent === 'string' ? charge.payment_intent : (charge.payment_intent?.id ?? null),
    payment_method_details: {
      type: 'card',
      card: {
        brand: card?.brand ?? 'visa',
        case_type: inquiry ? 'inquiry' : input.compliance ? 'compliance' : 'chargeback',
        network: card?.network ?? 'visa',
        network_reason_code: inquiry ? null : '10.4',
      },
    },
    reason: input.reason ?? 'fraudulent',
    status: inquiry ? 'warning_needs_response' : 'needs_response',
  };
  disputesState(engine)[dispute.id] = dispute;
  charge.disputed = true;
  engine.store.touch();
  engine.emit('charge.dispute.created', dispute);
  if (!inquiry) {
    dispute.balance_transactions.push(balanceTransaction(engine, dispute, -1, now));
    engine.emit('charge.dispute.funds_withdrawn', dispute);
  }
  return dispute;
}

/**
 * Called when a charge succeeds: payments with a dispute test card are disputed
 * right after (`createMultipleDisputes` twice). The early-fraud-warning card
 * (`createIssuerFraudRecord`) is not disputed: early fraud warnings are not modelled.
 */
export function disputeIfTestCard(engine: Engine, charge: Stripe.Charge, pm: Stripe.PaymentMethod): void {
  const rule = cardByFingerprint(pm.card?.fingerprint)?.dispute;
  if (!rule || 'earlyFraudWarning' in rule) return;
  const input: DisputeInput = { reason: rule.reason, inquiry: rule.inquiry === true, compliance: rule.reason === 'noncompliant' };
  openDispute(engine, charge, input);
  if ('multiple' in rule) openDispute(engine, charge, input, true);
}

/** Whether a dispute keeps the charge from being refunded (an open or lost chargeback). */
export function blocksRefund(engine: Engine, chargeId: string): boolean {
  return Object.values(disputesState(engine)).some((d) => d.charge === chargeId && !d.is_charge_refundable && d.status !== 'won');
}

function close(engine: Engine, dispute: Stripe.Dispute, won: boolean): void {
  const inquiry = dispute.payment_method_details?.card?.case_type === 'inquiry';
  dispute.status = inquiry ? 'warning_closed' : won ? 'won' : 'lost';
  dispute.is_charge_refundable = inquiry;
  engine.store.touch();
  engine.emit('charge.dispute.closed', dispute);
  if (won && !inquiry) {
    const now = engine.now(typeof dispute.charge === 'string' ? customerOfCharge(engine, dispute.charge) : null);
    dispute.balance_transactions.push(balanceTransaction(engine, dispute, 1, now));
    engine.store.touch();
    engine.emit('charge.dispute.funds_reinstated', dispute);
  }
}

function customerOfCharge(engine: Engine, chargeId: string): string | null {
  const charge = engine.state.charges[chargeId];
  return charge ? customerOf(charge) : null;
}

function alreadyClosed(dispute: Stripe.Dispute): never {
  throw invalidRequest(`This dispute (${dispute.id}) is already closed (status: ${dispute.status}).`, { code: 'dispute_already_closed' });
}

/**
 * `disputes.update`: stores evidence and metadata; with `submit` (the default)
 * the evidence goes to the bank, and Stripe's test texts decide at once:
 * `winning_evidence` wins, `losing_evidence` loses, anything else stays under review.
 */
function updateDispute(engine: Engine, dispute: Stripe.Dispute, p: Params): Stripe.Dispute {
  p.only(['evidence', 'metadata', 'submit', 'expand', 'intended_submission_method']);
  const evidenceParams = p.obj('evidence');
  // Validate everything before changing anything.
  const evidence: Partial<Record<EvidenceField, string | null>> = {};
  if (evidenceParams) {
    evidenceParams.only([...EVIDENCE_FIELDS, 'enhanced_evidence']);
    for (const field of EVIDENCE_FIELDS) {
      if (evidenceParams.has(field)) evidence[field] = evidenceParams.str(field) ?? null;
    }
  }
  const submit = p.bool('submit') ?? true;
  const method = p.oneOf('intended_submission_method', ['manual', 'prefer_manual', 'prefer_smart_disputes', 'smart_disputes'] as const);
  const metadata = p.metadata();
  const submitting = submit && (evidenceParams !== undefined || p.has('submit'));
  if (CLOSED.includes(dispute.status) && (evidenceParams !== undefined || submitting)) alreadyClosed(dispute);
  if (submitting && dispute.evidence_details.submission_count > 0 && !dispute.status.includes('needs_response')) {
    throw invalidRequest(`The evidence of dispute ${dispute.id} has already been submitted.`, { code: 'dispute_already_submitted' });
  }

  const before = structuredClone(dispute);
  Object.assign(dispute.evidence, evidence);
  dispute.metadata = mergeMetadata(dispute.metadata, metadata);
  if (method !== undefined) dispute.intended_submission_method = method;
  dispute.evidence_details.has_evidence = EVIDENCE_FIELDS.some((f) => dispute.evidence[f] !== null);
  if (submitting) {
    dispute.evidence_details.submission_count += 1;
    dispute.evidence_details.submission_method = 'manual';
    dispute.status = dispute.status === 'warning_needs_response' ? 'warning_under_review' : 'under_review';
  }
  engine.store.touch();
  const prev: Record<string, unknown> = {};
  for (const key of ['evidence', 'evidence_details', 'metadata', 'status', 'intended_submission_method'] as const) {
    if (JSON.stringify(before[key]) !== JSON.stringify(dispute[key])) prev[key] = before[key];
  }
  if (Object.keys(prev).length > 0) engine.emit('charge.dispute.updated', dispute, prev);
  if (submitting) {
    const text = dispute.evidence.uncategorized_text ?? '';
    if (text.includes('winning_evidence')) close(engine, dispute, true);
    else if (text.includes('losing_evidence')) close(engine, dispute, false);
  }
  return dispute;
}

/** `disputes.close`: accepting the dispute, which is then lost. */
function closeDispute(engine: Engine, dispute: Stripe.Dispute): Stripe.Dispute {
  if (!OPEN.includes(dispute.status)) alreadyClosed(dispute);
  close(engine, dispute, false);
  return dispute;
}

export const disputeRoutes: Route[] = [
  {
    method: 'GET',
    path: '/v1/disputes',
    handler: ({ engine, params }) => {
      params.only([...LIST_PARAMS, 'charge', 'payment_intent', 'created']);
      const charge = params.str('charge');
      const pi = params.str('payment_intent');
      const items = newestFirst(disputesState(engine)).filter(
        (d) =>
          (charge === undefined || d.charge === charge) &&
          (pi === undefined || d.payment_intent === pi) &&
          matchesCreated(params, d.created),
      );
      return paginate(engine, items, params, '/v1/disputes');
    },
  },
  {
    method: 'GET',
    path: '/v1/disputes/:id',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      return engine.render(requireDispute(engine, path.id ?? ''), expand);
    },
  },
  {
    method: 'POST',
    path: '/v1/disputes/:id',
    handler: ({ engine, path, params, expand }) =>
      engine.render(updateDispute(engine, requireDispute(engine, path.id ?? ''), params), expand),
  },
  {
    method: 'POST',
    path: '/v1/disputes/:id/close',
    handler: ({ engine, path, params, expand }) => {
      params.only(['expand']);
      return engine.render(closeDispute(engine, requireDispute(engine, path.id ?? '')), expand);
    },
  },
];
