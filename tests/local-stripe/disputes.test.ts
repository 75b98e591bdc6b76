// Disputes as Stripe's test mode makes them: dispute test cards, evidence that
// wins or loses, close (accept), list/retrieve, and the local control that
// disputes any succeeded charge.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type Stripe from 'stripe';
import { disputeCharge } from '../../local/stripe/client.js';
import { startHarness, stripeError, type Harness } from './helpers.js';

let h: Harness;
let customer: Stripe.Customer;
beforeAll(async () => {
  h = await startHarness();
  customer = await h.stripe.customers.create({ email: 'disputer@example.com' });
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.receiver.clear();
});

async function pay(card: string, amount = 2000): Promise<{ pi: Stripe.PaymentIntent; charge: Stripe.Charge }> {
  const pi = await h.stripe.paymentIntents.create({ amount, currency: 'usd', customer: customer.id, payment_method: card, confirm: true });
  expect(pi.status).toBe('succeeded');
  const charge = await h.stripe.charges.retrieve(String(pi.latest_charge));
  return { pi, charge };
}

function typesFor(disputeId: string): string[] {
  return h.local
    .events()
    .filter((e) => (e.data.object as { id?: string }).id === disputeId)
    .map((e) => e.type);
}

describe('a payment with pm_card_createDispute', () => {
  it('succeeds, then is disputed: dispute.created and funds_withdrawn, delivered signed', async () => {
    const { pi, charge } = await pay('pm_card_createDispute', 2500);
    expect(charge).toMatchObject({ status: 'succeeded', disputed: true, amount_refunded: 0, refunded: false, paid: true });
    const list = await h.stripe.disputes.list({ payment_intent: pi.id });
    expect(list.data).toHaveLength(1);
    const dispute = list.data[0] as Stripe.Dispute;
    expect(dispute).toMatchObject({
      object: 'dispute',
      amount: 2500,
      currency: 'usd',
      charge: charge.id,
      payment_intent: pi.id,
      reason: 'fraudulent',
      status: 'needs_response',
      is_charge_refundable: false,
      evidence_details: { has_evidence: false, submission_count: 0, past_due: false },
    });
    expect(dispute.balance_transactions.map((t) => [t.amount, t.fee, t.net])).toEqual([[-2500, 1500, -4000]]);
    expect(typesFor(dispute.id)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn']);
    // Order of the whole payment: the charge succeeds before it is disputed.
    const order = h.local
      .events()
      .filter((e) => e.type.startsWith('charge.') && [charge.id, dispute.id].includes((e.data.object as { id: string }).id))
      .map((e) => e.type);
    expect(order).toEqual(['charge.succeeded', 'charge.dispute.created', 'charge.dispute.funds_withdrawn']);
    const received = await h.receiver.waitForType('charge.dispute.funds_withdrawn', dispute.id);
    const verified = h.stripe.webhooks.constructEvent(
      received.body,
      String(received.headers['stripe-signature']),
      'whsec_test_secret_for_local_stripe',
    );
    expect(verified.type).toBe('charge.dispute.funds_withdrawn');

    const expanded = await h.stripe.disputes.retrieve(dispute.id, { expand: ['charge'] });
    expect((expanded.charge as Stripe.Charge).disputed).toBe(true);
  });

  it('a disputed charge cannot be refunded; the dispute changes nothing on error', async () => {
    const { pi } = await pay('pm_card_createDispute');
    const err = await stripeError(() => h.stripe.refunds.create({ payment_intent: pi.id }));
    expect(err.code).toBe('charge_disputed');
    expect(h.local.events('refund.created').filter((e) => (e.data.object as Stripe.Refund).payment_intent === pi.id)).toEqual([]);
  });

  it('the other dispute cards: product_not_received, and an inquiry that moves no funds', async () => {
    const { charge } = await pay('pm_card_createDisputeProductNotReceived');
    const [pnr] = (await h.stripe.disputes.list({ charge: charge.id })).data;
    expect(pnr?.reason).toBe('product_not_received');
    const inquiry = await pay('pm_card_createDisputeInquiry');
    const [inq] = (await h.stripe.disputes.list({ charge: inquiry.charge.id })).data;
    expect(inq).toMatchObject({ status: 'warning_needs_response', balance_transactions: [], is_charge_refundable: true });
    expect(typesFor(inq?.id ?? '')).toEqual(['charge.dispute.created']);
    const multiple = await pay('pm_card_createMultipleDisputes');
    expect((await h.stripe.disputes.list({ charge: multiple.charge.id })).data).toHaveLength(2);
    const compliance = await pay('pm_card_createComplianceDispute');
    const [comp] = (await h.stripe.disputes.list({ charge: compliance.charge.id })).data;
    expect(comp).toMatchObject({ reason: 'noncompliant', payment_method_details: { card: { case_type: 'compliance' } } });
    const warning = await pay('pm_card_createIssuerFraudRecord');
    expect(warning.charge.disputed).toBe(false);
  });

  it('4242 is not disputed', async () => {
    const { charge } = await pay('pm_card_visa');
    expect(charge.disputed).toBe(false);
    expect((await h.stripe.disputes.list({ charge: charge.id })).data).toEqual([]);
  });
});

describe('evidence decides', () => {
  it('winning_evidence: won, closed, funds reinstated', async () => {
    const { charge } = await pay('pm_card_createDispute', 3000);
    const [dispute] = (await h.stripe.disputes.list({ charge: charge.id })).data;
    const won = await h.stripe.disputes.update(dispute?.id ?? '', {
      evidence: { uncategorized_text: 'winning_evidence', customer_name: 'Pat' },
      metadata: { case: '1' },
    });
    expect(won).toMatchObject({
      status: 'won',
      metadata: { case: '1' },
      evidence: { uncategorized_text: 'winning_evidence', customer_name: 'Pat', product_description: null },
      evidence_details: { has_evidence: true, submission_count: 1, submission_method: 'manual' },
    });
    expect(won.balance_transactions.map((t) => t.net)).toEqual([-4500, 4500]);
    expect(typesFor(won.id)).toEqual([
      'charge.dispute.created',
      'charge.dispute.funds_withdrawn',
      'charge.dispute.updated',
      'charge.dispute.closed',
      'charge.dispute.funds_reinstated',
    ]);
    const updated = h.local.events('charge.dispute.updated').find((e) => (e.data.object as Stripe.Dispute).id === won.id);
    expect(updated?.data.previous_attributes).toMatchObject({ status: 'needs_response' });
    await h.receiver.waitForType('charge.dispute.funds_reinstated', won.id);
    // Closed: no more evidence, no close.
    const again = await stripeError(() => h.stripe.disputes.update(won.id, { evidence: { uncategorized_text: 'losing_evidence' } }));
    expect(again.code).toBe('dispute_already_closed');
    const closeWon = await stripeError(() => h.stripe.disputes.close(won.id));
    expect(closeWon.code).toBe('dispute_already_closed');
    expect((await h.stripe.disputes.retrieve(won.id)).status).toBe('won');
    // A won dispute gives the charge back: it may be refunded again.
    const refund = await h.stripe.refunds.create({ charge: charge.id, amount: 100 });
    expect(refund.status).toBe('succeeded');
  });

  it('losing_evidence: lost, closed, no funds back', async () => {
    const { charge } = await pay('pm_card_createDispute');
    const [dispute] = (await h.stripe.disputes.list({ charge: charge.id })).data;
    const lost = await h.stripe.disputes.update(dispute?.id ?? '', { evidence: { uncategorized_text: 'losing_evidence' } });
    expect(lost.status).toBe('lost');
    expect(lost.balance_transactions).toHaveLength(1);
    expect(typesFor(lost.id)).toEqual([
      'charge.dispute.created',
      'charge.dispute.funds_withdrawn',
      'charge.dispute.updated',
      'charge.dispute.closed',
    ]);
    const after = await h.stripe.charges.retrieve(charge.id);
    expect(after).toMatchObject({ disputed: true, amount_refunded: 0, refunded: false });
  });

  it('staged evidence (submit=false) stays open; other text stays under review', async () => {
    const { charge } = await pay('pm_card_createDispute');
    const [dispute] = (await h.stripe.disputes.list({ charge: charge.id })).data;
    const id = dispute?.id ?? '';
    const staged = await h.stripe.disputes.update(id, { evidence: { uncategorized_text: 'winning_evidence' }, submit: false });
    expect(staged).toMatchObject({ status: 'needs_response', evidence_details: { submission_count: 0, has_evidence: true } });
    const review = await h.stripe.disputes.update(id, { evidence: { uncategorized_text: 'here is our receipt' } });
    expect(review).toMatchObject({ status: 'under_review', evidence_details: { submission_count: 1 } });
    expect(typesFor(id)).not.toContain('charge.dispute.closed');
  });

  it('refuses unknown evidence fields and bad ids, changing nothing', async () => {
    const { charge } = await pay('pm_card_createDispute');
    const [dispute] = (await h.stripe.disputes.list({ charge: charge.id })).data;
    const id = dispute?.id ?? '';
    const before = h.local.events().length;
    const bad = await stripeError(() =>
      h.stripe.disputes.update(id, {
        evidence: { uncategorized_text: 'winning_evidence', favourite_colour: 'blue' } as Stripe.DisputeUpdateParams.Evidence,
      }),
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.param).toBe('evidence[favourite_colour]');
    expect(h.local.events().length).toBe(before);
    expect((await h.stripe.disputes.retrieve(id)).status).toBe('needs_response');
    const missing = await stripeError(() => h.stripe.disputes.retrieve('dp_nope'));
    expect(missing).toMatchObject({ statusCode: 404, code: 'resource_missing' });
    expect((await stripeError(() => h.stripe.disputes.close('dp_nope'))).statusCode).toBe(404);
  });
});

describe('disputes.close and list', () => {
  it('close accepts the dispute: lost', async () => {
    const { charge } = await pay('pm_card_createDispute');
    const [dispute] = (await h.stripe.disputes.list({ charge: charge.id })).data;
    const closed = await h.stripe.disputes.close(dispute?.id ?? '');
    expect(closed.status).toBe('lost');
    expect(typesFor(closed.id)).toEqual(['charge.dispute.created', 'charge.dispute.funds_withdrawn', 'charge.dispute.closed']);
    expect((await stripeError(() => h.stripe.disputes.close(closed.id))).code).toBe('dispute_already_closed');
  });

  it('lists newest first with pagination', async () => {
    const all = await h.stripe.disputes.list({ limit: 100 });
    expect(all.data.length).toBeGreaterThanOrEqual(8);
    const page = await h.stripe.disputes.list({ limit: 2 });
    expect(page.has_more).toBe(true);
    const next = await h.stripe.disputes.list({ limit: 2, starting_after: page.data[1]?.id ?? '' });
    expect(next.data[0]?.id).toBe(all.data[2]?.id);
  });
});

describe('POST /_local/charges/:id/dispute', () => {
  it('disputes any succeeded charge, partially if asked, once', async () => {
    const { charge } = await pay('pm_card_visa', 5000);
    await h.stripe.refunds.create({ charge: charge.id, amount: 1000 });
    const tooMuch = await fetch(`${h.local.url}/_local/charges/${charge.id}/dispute`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ amount: 4500 }),
    });
    expect(tooMuch.status).toBe(400);
    expect((await h.stripe.charges.retrieve(charge.id)).disputed).toBe(false);
    const dispute = await disputeCharge(h.local.url, charge.id, { reason: 'product_unacceptable' });
    expect(dispute).toMatchObject({ amount: 4000, reason: 'product_unacceptable', status: 'needs_response', charge: charge.id });
    expect((await h.stripe.charges.retrieve(charge.id)).disputed).toBe(true);
    await expect(disputeCharge(h.local.url, charge.id)).rejects.toThrow(/already disputed/);
    await h.receiver.waitForType('charge.dispute.funds_withdrawn', dispute.id);
  });

  it('refuses failed charges, unknown charges and bad reasons', async () => {
    const err = await stripeError(() =>
      h.stripe.paymentIntents.create({
        amount: 900,
        currency: 'usd',
        customer: customer.id,
        payment_method: 'pm_card_visa_chargeDeclined',
        confirm: true,
      }),
    );
    const failedCharge = String((err.raw as { charge?: string }).charge);
    await expect(disputeCharge(h.local.url, failedCharge)).rejects.toThrow(/400/);
    await expect(disputeCharge(h.local.url, 'ch_nope')).rejects.toThrow(/404/);
    const { charge } = await pay('pm_card_visa');
    await expect(disputeCharge(h.local.url, charge.id, { reason: 'bored' })).rejects.toThrow(/400/);
    expect((await h.stripe.charges.retrieve(charge.id)).disputed).toBe(false);
    // The in-process handle does the same.
    const d = h.local.disputeCharge(charge.id, { inquiry: true });
    expect(d.status).toBe('warning_needs_response');
  });
});
