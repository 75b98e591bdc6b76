// npm run runner-keys -- create <name> | list | revoke <key id>
// Operators' named API keys of the AI task runner. A new key is printed once; only its SHA-256
// digest is stored. Revoking takes effect in every running app process within half a second.
import {
  createTaskRunnerKey,
  createTaskRunnerKeyBodySchema,
  listTaskRunnerKeys,
  revokeTaskRunnerKey,
  revokeTaskRunnerKeyBodySchema,
} from '@/lib/auth/task-runner-keys';
import { getDatabase } from '@/lib/db';
import { AppError } from '@/lib/http/errors';

const [command, ...rest] = process.argv.slice(2);
const usage = 'usage: npm run runner-keys -- create <name> | list | revoke <key id>';
const db = await getDatabase();
try {
  if (command === 'create') {
    const { name } = createTaskRunnerKeyBodySchema.parse({ name: rest.join(' ') });
    const made = await createTaskRunnerKey(db, name, `cli:${process.env.USER ?? 'unknown'}`);
    console.log(`Created key "${made.name}" (${made.id}). Copy it now, it is not shown again:`);
    console.log(made.key);
  } else if (command === 'list') {
    const keys = await listTaskRunnerKeys(db);
    if (keys.length === 0) console.log('No task-runner keys.');
    for (const key of keys) {
      const state = key.revokedAt ? `revoked ${key.revokedAt}` : 'live';
      console.log(`${key.id}  ${key.keyPrefix}…  ${key.name}  ${state}  created ${key.createdAt}  last used ${key.lastUsedAt ?? 'never'}`);
    }
  } else if (command === 'revoke' && rest.length === 1) {
    const { id } = revokeTaskRunnerKeyBodySchema.parse({ id: rest[0] });
    const key = await revokeTaskRunnerKey(db, id);
    console.log(`Revoked key "${key.name}" (${key.id}) at ${key.revokedAt}.`);
  } else {
    console.error(usage);
    process.exitCode = 2;
  }
} catch (error) {
  if (error instanceof AppError || (error instanceof Error && error.name === 'ZodError')) {
    console.error(error instanceof AppError ? error.message : usage);
    process.exitCode = 1;
  } else throw error;
} finally {
  await db.close();
}
