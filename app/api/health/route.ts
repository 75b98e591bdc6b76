import { getDatabase } from '@/lib/db';
import { API_HEADERS, errorResponse } from '@/lib/http/errors';

// GET /api/health – the app is up and its database answers (opens and migrates it on first use)
export async function GET(): Promise<Response> {
  try {
    const db = await getDatabase();
    await db.query('select 1');
    return Response.json({ data: { ok: true, database: db.kind } }, { headers: API_HEADERS });
  } catch (error) {
    return errorResponse(error);
  }
}
