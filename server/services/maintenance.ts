import { sql } from 'drizzle-orm';
import { oldestReadyJobAges } from '../../db/queries/jobs.js';
import { deleteExpiredSessions } from '../../db/queries/sessions.js';
import { BOSS_SCHEMA } from '../../jobs/boss.js';
import type { Runtime } from '../runtime.js';

/** Expired sessions of every creator; runs on the owner connection (a system job, no tenant). */
export async function purgeExpiredSessions(rt: Runtime): Promise<number> {
  const removed = await deleteExpiredSessions(rt.ownerDb, rt.now());
  if (removed > 0) rt.log.info({ removed }, 'expired sessions purged');
  return removed;
}

/**
 * Monthly partitions of usage_events from 3 months back to 13 ahead (owner connection). A
 * month whose events arrived before its partition (they wait in the default partition) gets
 * them moved into it; a month that cannot be made is logged, and the others are made anyway.
 */
export async function ensureEventPartitions(rt: Runtime): Promise<number> {
  const now = rt.now();
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 3, 1));
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 13, 1));
  const [row] = await rt.ownerDb.execute<{ created: number; failed: string[] | null }>(
    sql`select created, failed from app_ensure_usage_event_partitions(${from.toISOString()}::timestamptz, ${to.toISOString()}::timestamptz)`,
  );
  const created = Number(row?.created ?? 0);
  if (created > 0) rt.log.info({ created }, 'usage_events partitions created');
  const failed = row?.failed ?? [];
  if (failed.length > 0) rt.log.error({ failed }, 'usage_events partitions not created (their events stay in usage_events_default; retried at the next run)');
  return created;
}

/** Per queue, seconds its oldest job that could run now has waited (queues with none absent). */
export function jobQueueLag(rt: Runtime): Promise<Map<string, number>> {
  return oldestReadyJobAges(rt.ownerDb, BOSS_SCHEMA);
}
