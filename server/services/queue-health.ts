import { creatorJobCounts } from '../../db/queries/jobs.js';
import { BOSS_SCHEMA } from '../../jobs/boss.js';
import { QUEUE_NAMES, QUEUES } from '../../jobs/queues.js';
import type { Runtime } from '../runtime.js';

/** One pg-boss queue's backlog: jobs waiting, running, and failed (still retained). */
export type QueueHealth = { name: string; queued: number; active: number; failed: number };

/** Queues whose jobs work for one creator (their payload names it); the rest are the system's own. */
const CREATOR_QUEUES = QUEUE_NAMES.filter((name) => 'shape' in QUEUES[name].payload && 'creatorId' in (QUEUES[name].payload as { shape: object }).shape).sort();

/**
 * Depth and failures of the creator's own jobs, by queue, for the dashboard: how far behind
 * the workers are with this creator's rollups, alerts, emails, webhooks and Stripe reports.
 * Counts of the whole system (every creator's jobs) would tell one creator how busy the
 * others are; the operator has them on /metrics.
 */
export async function getQueueHealth(rt: Runtime, creatorId: string): Promise<QueueHealth[]> {
  const counts = await creatorJobCounts(rt.ownerDb, BOSS_SCHEMA, CREATOR_QUEUES, creatorId);
  return CREATOR_QUEUES.map((name) => ({ name, ...(counts.get(name) ?? { queued: 0, active: 0, failed: 0 }) }));
}
