// npm run migrate – apply pending migrations to DATABASE_URL (or the local PGlite folder).
import { getDatabase } from '@/lib/db';

const db = await getDatabase();
console.log(`migrations applied (${db.kind})`);
await db.close();
