import { deleteExpiredSessions } from '../../db/queries/sessions.js';
import type { Runtime } from '../runtime.js';

/** Expired sessions of every creator; runs on the owner connection (a system job, no tenant). */
export async function purgeExpiredSessions(rt: Runtime): Promise<number> {
  const removed = await deleteExpiredSessions(rt.ownerDb, rt.now());
  if (removed > 0) rt.log.info({ removed }, 'expired sessions purged');
  return removed;
}
