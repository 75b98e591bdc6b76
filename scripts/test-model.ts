// npm run test:model -- [--runs N] [--seed S] [--steps K]: the money model test, longer than in npm test.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '500' }, seed: { type: 'string' }, steps: { type: 'string', default: '20' } },
});
for (const [name, value] of Object.entries(values)) {
  if (value !== undefined && !/^\d+$/.test(value)) {
    console.error(`--${name} must be a whole number`);
    process.exit(2);
  }
}
const seed = values.seed ?? String(Date.now() % 2_147_483_647);
console.log(`money model: ${values.runs} sequences of up to ${values.steps} steps, seed ${seed}`);
const result = spawnSync('node_modules/.bin/vitest', ['run', 'tests/model/money-model.test.ts'], {
  stdio: 'inherit',
  env: {
    ...process.env,
    MODEL_RUNS: values.runs,
    MODEL_SEED: seed,
    MODEL_MAX_STEPS: values.steps,
    MODEL_TIMEOUT_MS: String(24 * 3_600_000),
  },
});
process.exit(result.status ?? 1);
