// npm run bench:pages – first-load JavaScript of each page, gzipped, from the production build's
// own figures (.next/diagnostics/route-bundle-stats.json; run `next build` first, `npm test` does).
// Stripe.js is not part of it (it is loaded from Stripe, or from the local stand-in). The baseline
// is the smallest page of the same build (what Next.js and React cost on their own), so the
// ratio shows what the page itself adds, whatever the machine. Target: the billing dashboard at
// most 150 KB gzipped.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const STATS = '.next/diagnostics/route-bundle-stats.json';
const TARGET_ROUTE = '/billing';
const TARGET_KB = 150;

interface RouteStats {
  route: string;
  firstLoadUncompressedJsBytes: number;
  firstLoadChunkPaths: string[];
}

let stats: RouteStats[];
try {
  stats = JSON.parse(readFileSync(STATS, 'utf8')) as RouteStats[];
} catch {
  console.error(`${STATS} not found: run \`npx next build\` first.`);
  process.exit(2);
}

const gzipped = new Map<string, number>();
const gzipSize = (file: string) => {
  if (!gzipped.has(file)) gzipped.set(file, gzipSync(readFileSync(file), { level: 9 }).length);
  return gzipped.get(file)!;
};

const rows = stats
  .filter((entry) => !entry.route.startsWith('/api/'))
  .map((entry) => ({
    route: entry.route,
    rawKb: entry.firstLoadUncompressedJsBytes / 1024,
    gzipKb: entry.firstLoadChunkPaths.reduce((sum, file) => sum + gzipSize(file), 0) / 1024,
  }))
  .sort((a, b) => a.route.localeCompare(b.route));
const baseline = rows.reduce((smallest, row) => (row.gzipKb < smallest.gzipKb ? row : smallest), rows[0]!);

console.log('first-load JavaScript per page (gzip -9), without Stripe.js');
for (const row of rows) {
  console.log(
    `  ${row.route.padEnd(22)} ${row.gzipKb.toFixed(1).padStart(7)} KB gzipped  (${row.rawKb.toFixed(0)} KB raw)   ${(row.gzipKb / baseline.gzipKb).toFixed(2)}x the baseline`,
  );
}
console.log(`baseline: ${baseline.route}, the smallest page: ${baseline.gzipKb.toFixed(1)} KB gzipped`);
const target = rows.find((row) => row.route === TARGET_ROUTE);
if (!target) {
  console.error(`${TARGET_ROUTE} is not in the build`);
  process.exit(2);
}
const pass = target.gzipKb <= TARGET_KB;
console.log(`${pass ? 'PASS' : 'FAIL'}: ${TARGET_ROUTE} ${target.gzipKb.toFixed(1)} KB gzipped (target <= ${TARGET_KB} KB)`);
if (!pass) process.exitCode = 1;
