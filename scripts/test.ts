// npm test – everything, in order: type-check, unit and integration tests (vitest, on PostgreSQL
// 15 and PGlite), the production build, and the browser tests (Playwright, Debian's Chromium).
import { spawnSync } from 'node:child_process';

const steps: Array<[string, string, string[]]> = [
  ['type-check', 'node_modules/.bin/tsc', ['--noEmit']],
  ['unit and integration tests', 'node_modules/.bin/vitest', ['run']],
  ['production build', 'node_modules/.bin/next', ['build']],
  ['browser tests', 'node_modules/.bin/playwright', ['test']],
];

const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };
for (const [name, command, args] of steps) {
  const started = Date.now();
  console.log(`\n=== ${name}: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', env });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    console.error(`\n=== ${name} failed after ${seconds} s`);
    process.exit(result.status ?? 1);
  }
  console.log(`=== ${name} passed in ${seconds} s`);
}
