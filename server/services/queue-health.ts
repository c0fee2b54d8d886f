import type { Runtime } from '../runtime.js';

/** One pg-boss queue's backlog: jobs waiting, running, and failed (still retained). */
export type QueueHealth = { name: string; queued: number; active: number; failed: number };

/**
 * Depth and failures of every job queue, by name, for the dashboard. The counts are the
 * system's, shared by all creators: they hold no tenant data (no payloads, no ids), only
 * how far behind the workers are.
 */
export async function getQueueHealth(rt: Runtime): Promise<QueueHealth[]> {
  const queues = await rt.boss.getQueues();
  return queues
    // pg-boss's own internal queues (e.g. __pgboss__send-it) are not work of ours.
    .filter((queue) => !queue.name.startsWith('__pgboss'))
    .map((queue) => ({ name: queue.name, queued: queue.queuedCount, active: queue.activeCount, failed: queue.failedCount }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
