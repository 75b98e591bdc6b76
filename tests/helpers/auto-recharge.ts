import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import type { Actor } from '@/lib/auth/actor';
import { ensureCustomerId } from '@/lib/payments/customers';
import { stripe } from '@/lib/stripe/client';
import { api } from '@/tests/helpers/http';
import type { PaymentsHarness } from '@/tests/helpers/payments-harness';
import { PUT as putSettings } from '@/app/api/payments/auto-recharge/route';
import { POST as commit } from '@/pages/api/usage/commit';

// What the auto-recharge test files share: a user with a Stripe customer, a default card, the
// settings route, the runner's commits, and what the database and Stripe hold afterwards.
// Starter: $10 allowance, $0.001 a token, so 1,000 tokens = $1.

export interface AutoRechargeTestUser {
  userId: string;
  accessToken: string;
  actor: Actor;
  customerId: string;
}

export interface RechargeRow {
  id: string;
  status: string;
  amount_cents: number;
  payment_intent_id: string | null;
  failure_code: string | null;
}

export function autoRechargeKit(h: PaymentsHarness, runnerKey: string) {
  const runner = { token: runnerKey };
  type TestUser = AutoRechargeTestUser;

  async function newUser(): Promise<TestUser> {
    const signed = await h.auth.signUp();
    await h.db.query('insert into users (id, email) values ($1, $2)', [signed.userId, signed.email]);
    const actor: Actor = {
      kind: 'user',
      userId: signed.userId,
      claims: { sub: signed.userId, aud: 'authenticated', role: 'authenticated', exp: Math.floor(Date.now() / 1000) + 3600 },
    };
    return { userId: signed.userId, accessToken: signed.accessToken, actor, customerId: await ensureCustomerId(h.db, signed.userId) };
  }

  /** Saves a test card and makes it the customer's default, as the payment-methods page does. */
  async function defaultCard(user: TestUser, testCard: string): Promise<string> {
    const card = await stripe().paymentMethods.attach(testCard, { customer: user.customerId });
    await stripe().customers.update(user.customerId, { invoice_settings: { default_payment_method: card.id } });
    return card.id;
  }

  const settings = (user: TestUser, body: Record<string, unknown>) =>
    api(putSettings, 'PUT', '/api/payments/auto-recharge', { token: user.accessToken, body });

  async function turnOn(user: TestUser, threshold: number, amount: number, monthlyCap: number) {
    const saved = await settings(user, { enabled: true, threshold, amount, monthlyCap });
    expect(saved.status).toBe(200);
    return saved.body.data;
  }

  /** A task of `dollars` (Starter rates) committed by the task runner. */
  const commitTask = (user: TestUser, dollars: number, key = randomUUID()) =>
    api(commit, 'POST', '/api/usage/commit', {
      ...runner,
      body: { userId: user.userId, agent: 'writer', tokens: Math.round(dollars * 1000), executionMs: 0, idempotencyKey: key },
    });

  async function recharges(user: TestUser): Promise<RechargeRow[]> {
    const { rows } = await h.db.query<RechargeRow>(
      'select id, status, amount_cents, payment_intent_id, failure_code from auto_recharges where user_id = $1 order by created_at',
      [user.userId],
    );
    return rows;
  }

  /** The PaymentIntents at Stripe that auto-recharge made for the user. */
  async function intentsAtStripe(user: TestUser) {
    return (await stripe().paymentIntents.list({ customer: user.customerId, limit: 100 })).data.filter(
      (intent) => intent.metadata.autoRechargeId,
    );
  }

  async function remainingCents(user: TestUser): Promise<number> {
    const { rows } = await h.db.query<{ r: string }>('select remaining_micros::text as r from app_private.usage_snapshot($1)', [
      user.userId,
    ]);
    return Number(rows[0]!.r) / 10_000;
  }

  return { runner, newUser, defaultCard, settings, turnOn, commitTask, recharges, intentsAtStripe, remainingCents };
}
