// npm run reconcile [-- --days 30] – heal drift between the database and Stripe (idempotent).
import { parseArgs } from 'node:util';
import { getDatabase } from '@/lib/db';
import { reconcile } from '@/lib/payments/reconcile';

const { values } = parseArgs({ options: { days: { type: 'string', default: '30' } } });
const days = Number(values.days);
if (!Number.isInteger(days) || days < 1 || days > 90) {
  console.error('--days must be a whole number from 1 to 90');
  process.exit(2);
}
const db = await getDatabase();
try {
  const report = await reconcile(db, new Date(Date.now() - days * 86_400_000));
  console.log(JSON.stringify(report, null, 2));
  process.exitCode = report.eventsFailed > 0 ? 1 : 0;
} finally {
  await db.close();
}
