import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { deleteOtherSessions, deleteSession, findSessionByTokenHash, insertSession, type SessionAuth } from '../../db/queries/sessions.js';
import { withCreator } from '../../db/tenant.js';
import type { Runtime } from '../runtime.js';

export type { SessionAuth };
export { isValidCsrfToken } from './csrf.js';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export type SessionGrant = { creatorId: string; sessionToken: string; expiresAt: Date };

export async function createSession(
  rt: Runtime,
  input: { creatorId: string; ip: string | null; userAgent: string | null },
): Promise<SessionGrant> {
  const sessionToken = randomBytes(32).toString('base64url');
  const expiresAt = new Date(rt.now().getTime() + rt.env.SESSION_TTL_HOURS * 3_600_000);
  await withCreator(rt.db, input.creatorId, (tx) =>
    insertSession(tx, {
      creatorId: input.creatorId,
      sessionId: randomUUID(),
      tokenHash: hashToken(sessionToken),
      csrfSecret: randomBytes(24).toString('base64url'),
      expiresAt,
      ip: input.ip,
      userAgent: input.userAgent?.slice(0, 500) ?? null,
    }),
  );
  return { creatorId: input.creatorId, sessionToken, expiresAt };
}

/** The session behind a cookie token, or null when unknown or expired. */
export async function authenticateSession(rt: Runtime, token: string): Promise<SessionAuth | null> {
  if (token.length < 20 || token.length > 100) return null;
  return findSessionByTokenHash(rt.db, hashToken(token));
}

export async function endSession(rt: Runtime, session: { creatorId: string; sessionId: string }): Promise<void> {
  await withCreator(rt.db, session.creatorId, (tx) => deleteSession(tx, session.sessionId));
}

/** "Sign out everywhere else": every other session of the creator ends; answers how many. */
export async function endOtherSessions(rt: Runtime, session: { creatorId: string; sessionId: string }): Promise<number> {
  return withCreator(rt.db, session.creatorId, (tx) => deleteOtherSessions(tx, session.creatorId, session.sessionId));
}
