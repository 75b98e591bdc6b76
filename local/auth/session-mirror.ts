// Supabase Auth keeps its sessions in the project's own database (`auth.sessions`), where the
// app checks on each request that a token's session still exists. The local auth server keeps
// its state in memory and a JSON file, so it mirrors every session it opens or ends into the
// app's database through this interface (the table comes from local/db/supabase-shims.sql).
import type { SessionRecord } from './store';

export interface SessionMirror {
  opened(session: SessionRecord): Promise<void>;
  ended(sessionIds: string[]): Promise<void>;
  /** Makes the table hold exactly these sessions (at start-up: the data file may be older). */
  sync(sessions: SessionRecord[]): Promise<void>;
}

type Query = (sql: string, params: unknown[]) => Promise<unknown>;

/** A mirror writing through `query` (a pg pool's, PGlite's or the app's Database). */
export function sqlSessionMirror(query: Query): SessionMirror {
  const insert = (session: SessionRecord) =>
    query(
      `insert into auth.sessions (id, user_id, created_at, updated_at) values ($1, $2, $3, $4)
       on conflict (id) do nothing`,
      [session.id, session.userId, session.createdAt, session.updatedAt],
    );
  return {
    opened: async (session) => void (await insert(session)),
    ended: async (sessionIds) => {
      if (sessionIds.length) await query('delete from auth.sessions where id = any($1::uuid[])', [sessionIds]);
    },
    sync: async (sessions) => {
      await query('delete from auth.sessions where not (id = any($1::uuid[]))', [sessions.map((session) => session.id)]);
      for (const session of sessions) await insert(session);
    },
  };
}
