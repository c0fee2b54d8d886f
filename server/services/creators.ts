import { randomUUID } from 'node:crypto';
import { findCreatorByEmail, findCreatorById, findLoginByEmail, findPasswordHash, insertCreator, updatePasswordHash, type Creator } from '../../db/queries/creators.js';
import { deleteOtherSessions } from '../../db/queries/sessions.js';
import { withCreator } from '../../db/tenant.js';
import { AppError, conflict, notFound, validationError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { TChangePasswordInput, TLoginInput, TSignupInput } from '../schemas/auth.js';
import { isUniqueViolation } from './db-errors.js';
import { hashPassword, verifyAgainstDummy, verifyPassword } from './passwords.js';
import { createSession, type SessionAuth, type SessionGrant } from './sessions.js';

export type { Creator };

type ClientInfo = { ip: string; userAgent: string | null };

export const EMAIL_TAKEN_DETAIL = 'An account with this email already exists. Log in instead.';

/** Inserts a creator; the row is visible only to itself (RLS), so the insert runs as it. */
async function insertNewCreator(rt: Runtime, input: { email: string; name: string; passwordHash: string }): Promise<Creator> {
  const id = randomUUID();
  try {
    return await withCreator(rt.db, id, (tx) => insertCreator(tx, { id, ...input }));
  } catch (error) {
    if (isUniqueViolation(error, 'creators_email_key')) throw conflict('email_taken', EMAIL_TAKEN_DETAIL, 'email');
    throw error;
  }
}

export async function signUp(rt: Runtime, input: TSignupInput, client: ClientInfo): Promise<SessionGrant> {
  await rt.authLimiter.consume({ action: 'signup', email: input.email, ip: client.ip });
  const creator = await insertNewCreator(rt, { email: input.email, name: input.name, passwordHash: await hashPassword(input.password) });
  rt.log.info({ creatorId: creator.id }, 'creator signed up');
  return createSession(rt, { creatorId: creator.id, ip: client.ip, userAgent: client.userAgent });
}

export const INVALID_CREDENTIALS_DETAIL = 'Email or password is incorrect.';

export async function logIn(rt: Runtime, input: TLoginInput, client: ClientInfo): Promise<SessionGrant> {
  await rt.authLimiter.consume({ action: 'login', email: input.email, ip: client.ip });
  const login = await findLoginByEmail(rt.db, input.email);
  // Unknown email and wrong password cost the same time and read the same.
  const ok = login ? await verifyPassword(login.passwordHash, input.password) : await verifyAgainstDummy(input.password);
  if (!login || !ok) throw new AppError('unauthorized', { code: 'invalid_credentials', detail: INVALID_CREDENTIALS_DETAIL });
  await rt.authLimiter.refund({ action: 'login', email: input.email, ip: client.ip });
  return createSession(rt, { creatorId: login.creatorId, ip: client.ip, userAgent: client.userAgent });
}

/**
 * A logged-in creator's new password: the current one must verify (a session left open on a
 * shared machine must not be enough to take the account), guessed at no faster than a login
 * (the same limiter, per email and IP). Every other session ends with the old password: one
 * opened by whoever knew it is signed out. API keys are not touched (they are revoked apart).
 */
export async function changePassword(rt: Runtime, session: SessionAuth, input: TChangePasswordInput, client: ClientInfo): Promise<{ sessionsEnded: number }> {
  const creator = await getCreator(rt, session.creatorId);
  await rt.authLimiter.consume({ action: 'login', email: creator.email, ip: client.ip });
  const current = await withCreator(rt.db, session.creatorId, (tx) => findPasswordHash(tx, session.creatorId));
  if (current === null || !(await verifyPassword(current, input.current_password))) {
    throw validationError([{ field: 'current_password', message: 'is not your current password' }]);
  }
  await rt.authLimiter.refund({ action: 'login', email: creator.email, ip: client.ip });
  const passwordHash = await hashPassword(input.new_password);
  const sessionsEnded = await withCreator(rt.db, session.creatorId, async (tx) => {
    await updatePasswordHash(tx, session.creatorId, passwordHash);
    return deleteOtherSessions(tx, session.creatorId, session.sessionId);
  });
  rt.log.info({ creatorId: session.creatorId, sessionsEnded }, 'creator changed password');
  return { sessionsEnded };
}

export async function getCreator(rt: Runtime, creatorId: string): Promise<Creator> {
  const creator = await withCreator(rt.db, creatorId, (tx) => findCreatorById(tx, creatorId));
  if (!creator) throw notFound('Creator');
  return creator;
}

/** CLI and bootstrap: a creator without a password cannot log in to the dashboard. */
export async function createCreatorAccount(rt: Runtime, input: { email: string; name: string; password?: string }): Promise<Creator> {
  // '!' never parses as an argon2 hash, so no password verifies against it.
  const passwordHash = input.password ? await hashPassword(input.password) : '!';
  return insertNewCreator(rt, { email: input.email, name: input.name, passwordHash });
}

/** Owner look-up across creators, for the CLI. */
export async function getCreatorByEmailAsOwner(rt: Runtime, email: string): Promise<Creator> {
  const creator = await findCreatorByEmail(rt.ownerDb, email);
  if (!creator) throw notFound(`Creator ${email}`);
  return creator;
}
