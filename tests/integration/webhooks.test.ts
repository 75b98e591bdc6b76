import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import { paymentsHarness } from '@/tests/helpers/payments-harness';
import { deliverWebhook as deliver } from '@/tests/helpers/webhooks';
import { POST as checkUsageLimit } from '@/app/api/payments/check-usage-limit/route';
import { POST as postPaymentIntent } from '@/app/api/payments/payment-intent/route';
import { POST as postWebhook } from '@/app/api/payments/webhook/route';

// Webhook processing against the local Stripe's real signed events and PostgreSQL 15: the full
// pay-the-shortfall flows with test cards, forgery, duplicates, reordering, and a crash mid-event.

const h = paymentsHarness();

async function confirm(intentId: string, paymentMethod: string) {
  await stripe()
    .paymentIntents.confirm(intentId, { payment_method: paymentMethod })
    .catch((error: { type?: string }) => {
      if (error.type !== 'StripeCardError') throw error;
    });
  await h.local.idle();
}

const creditsOf = async (userId: string) =>
  (
    await h.db.query<{ n: number; total: number }>(
      'select count(*)::int as n, coalesce(sum(amount_micros), 0)::bigint as total from credit_grants where user_id = $1',
      [userId],
    )
  ).rows[0];

describe('paying a shortfall with test cards', () => {
  it('4242: over the limit -> requiresPayment -> pay -> webhook -> allowed, credited exactly the shortfall', async () => {
    const user = await h.auth.signUp();
    const check = () =>
      api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', { token: user.accessToken, body: { estimatedCost: 25 } });
    const short = await check();
    expect(short.body.data).toMatchObject({
      allowed: false,
      requiresPayment: true,
      shortfallCents: 1500,
      paymentIntent: { amountCents: 1500 },
    });
    await confirm(short.body.data.paymentIntent.id, 'pm_card_visa');
    const after = await check();
    expect(after.body.data).toMatchObject({ allowed: true, requiresPayment: false, paymentIntent: null, remainingCents: 2500 });
    expect(await creditsOf(user.userId)).toEqual({ n: 1, total: 15_000_000 });
    const attempt = await h.db.query('select status, amount_cents from payment_attempts where user_id = $1', [user.userId]);
    expect(attempt.rows).toEqual([{ status: 'succeeded', amount_cents: 1500 }]);
    const audit = await h.db.query("select action, amount_micros from audit_log where user_id = $1 and action = 'credit.granted'", [
      user.userId,
    ]);
    expect(audit.rows).toEqual([{ action: 'credit.granted', amount_micros: 15_000_000 }]);
  });

  it.each([
    ['4000 0000 0000 0002', 'pm_card_visa_chargeDeclined', 'generic_decline'],
    ['4000 0000 0000 9995', 'pm_card_visa_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
  ])(
    '%s: the decline is recorded and notified, nothing credited; a retry with 4242 then credits once',
    async (_card, paymentMethod, reason) => {
      const user = await h.auth.signUp();
      const short = await api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', {
        token: user.accessToken,
        body: { estimatedCost: 12 },
      });
      const intentId: string = short.body.data.paymentIntent.id;
      await confirm(intentId, paymentMethod);
      const attempt = await h.db.query('select status, failure_code from payment_attempts where payment_intent_id = $1', [intentId]);
      expect(attempt.rows).toEqual([{ status: 'failed', failure_code: reason }]);
      expect(await creditsOf(user.userId)).toEqual({ n: 0, total: 0 });
      const notes = await h.db.query<{ kind: string; title: string; data: { retryUrl: string; reason: string } }>(
        'select kind, title, data from notifications where user_id = $1',
        [user.userId],
      );
      expect(notes.rows).toEqual([
        {
          kind: 'payment_failed',
          title: 'Your payment of $2.00 did not go through',
          data: expect.objectContaining({ reason, retryUrl: `/billing/checkout?paymentIntent=${intentId}` }),
        },
      ]);
      const still = await api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', {
        token: user.accessToken,
        body: { estimatedCost: 12 },
      });
      expect(still.body.data).toMatchObject({ allowed: false, paymentIntent: { id: intentId, reused: true } });

      await confirm(intentId, 'pm_card_visa');
      expect(await creditsOf(user.userId)).toEqual({ n: 1, total: 2_000_000 });
      const after = await api(checkUsageLimit, 'POST', '/api/payments/check-usage-limit', {
        token: user.accessToken,
        body: { estimatedCost: 12 },
      });
      expect(after.body.data).toMatchObject({ allowed: true });
    },
  );
});

describe('webhook route', () => {
  async function succeededEventWhilePaused() {
    const user = await h.auth.signUp();
    const created = await api(postPaymentIntent, 'POST', '/api/payments/payment-intent', { token: user.accessToken, body: { amount: 3 } });
    await h.local.idle();
    h.local.local.webhooks.pause();
    await stripe().paymentIntents.confirm(created.body.data.id, { payment_method: 'pm_card_visa' });
    const event = h.local.local
      .events('payment_intent.succeeded')
      .find((candidate) => (candidate.data.object as { id: string }).id === created.body.data.id)!;
    return { user, event };
  }
  const resume = async () => {
    h.local.local.webhooks.resume();
    await h.local.idle();
  };

  it('credits once when the same event arrives 10 times at once', async () => {
    const { user, event } = await succeededEventWhilePaused();
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, () => deliver(event)));
      expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
      expect(answers.map((answer) => answer.body.outcome).sort()).toEqual([...Array(9).fill('duplicate'), 'processed']);
    } finally {
      await resume();
    }
    expect(await creditsOf(user.userId)).toEqual({ n: 1, total: 3_000_000 });
  });

  it.each([
    ['a tampered body', { tamper: true }],
    ['a wrong secret', { secret: 'whsec_someone_else' }],
    ['a 10-minute-old timestamp', { timestamp: Math.floor(Date.now() / 1000) - 600 }],
  ])('rejects %s with 400 and writes nothing', async (_name, options) => {
    const { user, event } = await succeededEventWhilePaused();
    const before = await h.db.query<{ n: number }>('select count(*)::int as n from webhook_events');
    try {
      const answer = await deliver(event, options);
      expect(answer).toEqual({
        status: 400,
        body: { error: { code: 'invalid_signature', message: 'Webhook signature verification failed' } },
      });
      expect((await h.db.query('select count(*)::int as n from webhook_events')).rows).toEqual(before.rows);
      expect(await creditsOf(user.userId)).toEqual({ n: 0, total: 0 });
    } finally {
      await resume();
    }
  });

  it('rejects a missing signature header with 400', async () => {
    const response = await postWebhook(new Request('http://app.test/api/payments/webhook', { method: 'POST', body: '{}' }));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { code: 'invalid_signature', message: 'Missing Stripe-Signature header' } });
  });

  it('answers 200 to an event type it does not handle', async () => {
    const event = {
      id: `evt_${randomUUID().replaceAll('-', '')}`,
      object: 'event',
      type: 'customer.discount.created',
      created: Math.floor(Date.now() / 1000),
      data: { object: {} },
    };
    const answer = await deliver(JSON.stringify(event));
    expect(answer).toEqual({ status: 200, body: { received: true, eventId: event.id, outcome: 'ignored' } });
  });

  it('leaves no partial state when a handler fails mid-event; the retry then succeeds once', async () => {
    const { user, event } = await succeededEventWhilePaused();
    // A real database failure after the credit is written: the audit row is refused.
    await h.db.query("alter table audit_log add constraint crash_on_credit check (action <> 'credit.granted') not valid");
    try {
      const failed = await deliver(event);
      expect(failed.status).toBe(500);
      expect(failed.body).toEqual({ error: { code: 'internal_error', message: 'Something went wrong on our side. Please try again.' } });
      expect(await creditsOf(user.userId)).toEqual({ n: 0, total: 0 });
      expect((await h.db.query('select status from payment_attempts where user_id = $1', [user.userId])).rows).toEqual([
        { status: 'pending' },
      ]);
      const inbox = await h.db.query<{ status: string; attempts: number; last_error: string }>(
        'select status, attempts, last_error from webhook_events where id = $1',
        [event.id],
      );
      expect(inbox.rows[0]).toMatchObject({ status: 'failed', attempts: 1 });
      expect(inbox.rows[0]?.last_error).toContain('crash_on_credit');
    } finally {
      await h.db.query('alter table audit_log drop constraint crash_on_credit');
    }
    const retried = await deliver(event);
    expect(retried.body).toMatchObject({ outcome: 'processed' });
    await resume();
    expect(await creditsOf(user.userId)).toEqual({ n: 1, total: 3_000_000 });
    expect((await h.db.query('select status, attempts from webhook_events where id = $1', [event.id])).rows).toEqual([
      { status: 'processed', attempts: 2 },
    ]);
  });
});
