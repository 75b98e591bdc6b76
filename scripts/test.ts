// npm test – everything, in order: type-check, lint, format check, unit and integration tests (vitest, on PostgreSQL
// 15 and PGlite), the production build, and the browser tests (Playwright, Debian's Chromium).
// First it makes sure the two system packages the tests need are there: Debian's Chromium and the
// PostgreSQL 15 server. As root on a machine with apt it installs what is missing; otherwise it
// stops with one line saying what to install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1', DEBIAN_FRONTEND: 'noninteractive' };

const requirements = [
  { what: 'Chromium', path: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', aptPackage: 'chromium', override: 'CHROMIUM_PATH' },
  {
    what: 'the PostgreSQL 15 server',
    path: path.join(process.env.POSTGRES_BIN_DIR ?? '/usr/lib/postgresql/15/bin', 'initdb'),
    aptPackage: 'postgresql-15',
    override: 'POSTGRES_BIN_DIR',
  },
];

function run(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'inherit', env }).status === 0;
}

const missing = requirements.filter((requirement) => !existsSync(requirement.path));
if (missing.length > 0) {
  const packages = missing.map((requirement) => requirement.aptPackage);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  if (isRoot && hasApt) {
    console.log(`\n=== installing ${packages.join(' ')} (apt-get)`);
    // Wait for another apt run (unattended upgrades, a parallel job) instead of failing at once.
    const wait = ['-o', 'DPkg::Lock::Timeout=300'];
    if (!run('apt-get', [...wait, 'update', '-qq']) || !run('apt-get', [...wait, 'install', '-y', '-qq', ...packages])) {
      console.error(`npm test: apt-get could not install ${packages.join(' ')}; install them and run npm test again.`);
      process.exit(1);
    }
  }
  const stillMissing = missing.filter((requirement) => !existsSync(requirement.path));
  if (stillMissing.length > 0) {
    console.error(
      `npm test needs ${stillMissing.map((r) => `${r.what} (${r.path})`).join(' and ')}: ` +
        `run \`sudo apt-get install -y ${stillMissing.map((r) => r.aptPackage).join(' ')}\` ` +
        `(or point ${stillMissing.map((r) => r.override).join(' / ')} at an installed copy), then npm test again.`,
    );
    process.exit(1);
  }
}

const steps: Array<[string, string, string[]]> = [
  ['type-check', 'node_modules/.bin/tsc', ['--noEmit']],
  ['lint', 'node_modules/.bin/eslint', ['.']],
  ['format check', 'node_modules/.bin/prettier', ['--check', '.']],
  ['unit and integration tests', 'node_modules/.bin/vitest', ['run']],
  ['production build', 'node_modules/.bin/next', ['build']],
  ['browser tests', 'node_modules/.bin/playwright', ['test']],
];

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
