// Stripe's own trigger fixtures (the Stripe CLI's `pkg/fixtures/triggers`, kept
// in ../shared/stripe-cli-fixtures beside the repo in CI and on developer
// machines, not in users' clones) must all pass through the fixture runner.
// REQUIRE_SHARED_FIXTURES=1 (set by .ci/run) turns a missing folder into a
// failure instead of a suite that runs nothing.
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFixtureFile } from './fixture-check.js';

// SHARED_FIXTURES_DIR (set by .ci/run when the folder is not beside this clone) points elsewhere.
const DIR = process.env.SHARED_FIXTURES_DIR || resolve(__dirname, '../../../shared/stripe-cli-fixtures');
const present = existsSync(DIR);
const files = present
  ? readdirSync(DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

describe('the shared Stripe CLI fixtures folder', () => {
  it('is there (all 31 fixture files) unless this is a clone without it and REQUIRE_SHARED_FIXTURES is unset', () => {
    const required = process.env.REQUIRE_SHARED_FIXTURES === '1';
    if (required || present) {
      expect(present, `${DIR} is missing`).toBe(true);
      expect(files.length).toBeGreaterThanOrEqual(31);
    } else {
      expect(required).toBe(false);
    }
  });
});

describe.runIf(present)("Stripe's trigger fixtures", () => {
  it.each(files)('%s: every call as expected, its event delivered and signed', async (name) => {
    await checkFixtureFile(join(DIR, name));
  });
});
