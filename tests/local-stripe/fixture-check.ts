// Runs a Stripe CLI fixture file against a fresh local Stripe and checks what
// `stripe trigger` promises: every call succeeds (or fails with its
// expected_error_type) and each event the file is for reaches the webhook
// endpoint with a signature the SDK's constructEvent accepts.
import { expect } from 'vitest';
import Stripe from 'stripe';
import { eventsOfFixture, readFixtureFile, runFixture, type FixtureResult } from '../../local/stripe/fixture-runner.js';
import { startHarness, WEBHOOK_SECRET } from './helpers.js';

const verifier = new Stripe('sk_test_verifier');

export async function checkFixtureFile(path: string): Promise<{ result: FixtureResult; events: Stripe.Event[] }> {
  const h = await startHarness();
  try {
    const data = readFixtureFile(path);
    const result = await runFixture(data, { apiBase: h.local.url, apiKey: 'sk_test_fixtures' });
    expect(result.steps.map((s) => s.name)).toEqual(data.fixtures.map((f) => f.name));
    for (const [i, step] of result.steps.entries()) {
      const expected = data.fixtures[i]?.expected_error_type;
      expect(step.errorType, `${step.name}: ${step.method} ${step.path}`).toBe(expected);
    }
    const events: Stripe.Event[] = [];
    for (const type of eventsOfFixture(path, data)) {
      const received = await h.receiver.waitForType(type);
      const header = received.headers['stripe-signature'];
      expect(typeof header).toBe('string');
      const event = verifier.webhooks.constructEvent(received.body, String(header), WEBHOOK_SECRET);
      expect(event.type).toBe(type);
      events.push(event);
    }
    return { result, events };
  } finally {
    await h.close();
  }
}
