import { and, eq, lt, ne, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { creatorSessions } from '../schema.js';

export type SessionAuth = { creatorId: string; sessionId: string; csrfSecret: string; expiresAt: Date };

export async function insertSession(
  tx: Queryable,
  input: { creatorId: string; sessionId: string; tokenHash: string; csrfSecret: string; expiresAt: Date; ip: string | null; userAgent: string | null },
): Promise<void> {
  await tx.insert(creatorSessions).values(input);
}

/** Works before the tenant is known, through a SECURITY DEFINER function. */
export async function findSessionByTokenHash(tx: Queryable, tokenHash: string): Promise<SessionAuth | null> {
  const rows = await tx.execute<{ creator_id: string; session_id: string; csrf_secret: string; expires_at: string | Date }>(
    sql`select creator_id, session_id, csrf_secret, expires_at from app_auth_session(${tokenHash})`,
  );
  const row = rows[0];
  return row
    ? { creatorId: row.creator_id, sessionId: row.session_id, csrfSecret: row.csrf_secret, expiresAt: new Date(row.expires_at) }
    : null;
}

export async function deleteSession(tx: Queryable, sessionId: string): Promise<void> {
  await tx.delete(creatorSessions).where(eq(creatorSessions.sessionId, sessionId));
}

/** Ends every session of the creator but `keepSessionId`; answers how many. */
export async function deleteOtherSessions(tx: Queryable, creatorId: string, keepSessionId: string): Promise<number> {
  const rows = await tx
    .delete(creatorSessions)
    .where(and(eq(creatorSessions.creatorId, creatorId), ne(creatorSessions.sessionId, keepSessionId)))
    .returning({ id: creatorSessions.sessionId });
  return rows.length;
}

/** Owner connection: removes expired sessions of every creator. */
export async function deleteExpiredSessions(tx: Queryable, now: Date): Promise<number> {
  const rows = await tx.delete(creatorSessions).where(and(lt(creatorSessions.expiresAt, now))).returning({ id: creatorSessions.sessionId });
  return rows.length;
}
