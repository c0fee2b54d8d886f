import { sql } from 'drizzle-orm';
import { fromDrizzle, type DrizzleTransactionLike, type PgBoss } from 'pg-boss';
import { z } from 'zod';

/**
 * Every queue: its name (`domain.action`), payload schema and retry policy. Handlers
 * live one per file in jobs/; jobs/worker.ts binds them. A failed job is retried with
 * exponential backoff, then copied to the dead-letter queue.
 */
export const DEAD_LETTER_QUEUE = 'jobs.dead-letter';

const ZCreatorJob = z.object({ creatorId: z.uuid() });

export const QUEUES = {
  /** Adds a committed group's events to the hourly and daily rollups (once per job id). */
  'rollups.apply': {
    payload: ZCreatorJob.extend({ eventIds: z.array(z.uuid()).min(1), from: z.iso.datetime(), to: z.iso.datetime() }),
    // Found by polling: a NOTIFY per ingest commit cost the commit a lock (ADR 0011). One job per
    // committed group: kept an hour once done, not pg-boss's 7 days (at 100 commits a second
    // that would be 60 million rows of event ids).
    options: { notify: false, heartbeatSeconds: 10, retryLimit: 10, retryDelay: 2, retryBackoff: true, expireInSeconds: 300, deleteAfterSeconds: 3600 },
  },
  /** Compares period counters, rollups and raw events; records disagreements. */
  'rollups.check-consistency': {
    payload: z.object({}).strict(),
    options: { retryLimit: 2, retryDelay: 60, retryBackoff: true, expireInSeconds: 1800 },
    schedule: '*/30 * * * *',
  },
  /** A new alert: creates its emails and webhook messages (once each) and queues their delivery. */
  'alerts.notify': {
    payload: ZCreatorJob.extend({ alertId: z.uuid() }),
    options: { notify: true, heartbeatSeconds: 10, retryLimit: 10, retryDelay: 2, retryBackoff: true, expireInSeconds: 120 },
  },
  /** Marks alerts of closed periods resolved. */
  'alerts.resolve-closed': {
    payload: z.object({}).strict(),
    options: { retryLimit: 3, retryDelay: 60, retryBackoff: true, expireInSeconds: 600 },
    schedule: '5 * * * *',
  },
  /** One attempt to send an email; an SMTP failure schedules the next attempt itself (up to 3 days). */
  'email.send': {
    /** attempt: which attempt the job is for (absent: the first, and in jobs queued before it was added). */
    payload: ZCreatorJob.extend({ emailId: z.uuid(), attempt: z.number().int().positive().optional() }),
    options: { notify: true, heartbeatSeconds: 10, retryLimit: 8, retryDelay: 10, retryBackoff: true, expireInSeconds: 120 },
  },
  /** One delivery attempt of a webhook message; failures schedule the next attempt themselves (up to 3 days). */
  'webhooks.deliver': {
    /** attempt: which attempt of the message the job is for (its attempts + 1 when queued); absent in jobs queued before it was added. */
    payload: ZCreatorJob.extend({ messageId: z.string().min(1), attempt: z.number().int().positive().optional() }),
    options: { notify: true, heartbeatSeconds: 10, retryLimit: 3, retryDelay: 5, retryBackoff: true, expireInSeconds: 120 },
  },
  /** Reports a creator's unreported usage to Stripe (meter events, exactly once through the ledger). */
  'billing.report': {
    payload: ZCreatorJob,
    options: { notify: true, heartbeatSeconds: 30, retryLimit: 10, retryDelay: 30, retryBackoff: true, expireInSeconds: 1800 },
  },
  /** Every minute: queues billing.report for creators whose report interval has passed. */
  'billing.schedule': {
    payload: z.object({}).strict(),
    options: { retryLimit: 1, retryDelay: 30, retryBackoff: false, expireInSeconds: 120 },
    schedule: '* * * * *',
  },
  /** Compares Stripe's meter event summaries with the ledger for one creator; settles unknown rows. */
  'billing.reconcile': {
    payload: ZCreatorJob,
    // Fanned out nightly by billing.reconcile-all: woken by NOTIFY rather than polled twice a second all day.
    options: { notify: true, retryLimit: 5, retryDelay: 300, retryBackoff: true, expireInSeconds: 3600 },
  },
  /** Nightly: queues billing.reconcile for every creator with Stripe configured. */
  'billing.reconcile-all': {
    payload: z.object({}).strict(),
    options: { retryLimit: 2, retryDelay: 300, retryBackoff: true, expireInSeconds: 600 },
    schedule: '40 2 * * *',
  },
  'maintenance.purge-sessions': {
    payload: z.object({}).strict(),
    options: { retryLimit: 3, retryDelay: 30, retryBackoff: true, expireInSeconds: 300 },
    /** Hourly, at minute 17 (away from the top of the hour). */
    schedule: '17 * * * *',
  },
  /** Daily: forgets rollup batches applied over a week ago whose job can no longer run again. */
  'maintenance.purge-rollup-batches': {
    payload: z.object({}).strict(),
    options: { retryLimit: 3, retryDelay: 300, retryBackoff: true, expireInSeconds: 1800 },
    schedule: '27 3 * * *',
  },
  'maintenance.ensure-partitions': {
    payload: z.object({}).strict(),
    options: { retryLimit: 5, retryDelay: 60, retryBackoff: true, expireInSeconds: 600 },
    /** Daily: keeps monthly usage_events partitions 13 months ahead. */
    schedule: '7 3 * * *',
  },
} as const satisfies Record<
  string,
  {
    payload: z.ZodType;
    /** notify: creating a job wakes workers at once (LISTEN/NOTIFY) instead of at their next poll.
     * heartbeatSeconds: a worker that dies mid-job is noticed within seconds, not at expiry.
     * deleteAfterSeconds: how long a finished job stays in pg-boss's table (its default: 7 days). */
    options: { retryLimit: number; retryDelay: number; retryBackoff: boolean; expireInSeconds: number; notify?: boolean; heartbeatSeconds?: number; deleteAfterSeconds?: number };
    schedule?: string;
  }
>;

export type QueueName = keyof typeof QUEUES;

/**
 * Enqueues a job inside the caller's transaction (pg-boss's drizzle adapter): it exists
 * if and only if that transaction commits.
 *
 * `startInMs` delays it by a wait, not to a time: pg-boss starts jobs by the database's
 * clock, and a time computed by this server's clock would be early or late by the two
 * clocks' difference — a run that then finds its row "not due yet" by the server's clock
 * would do nothing and schedule nothing (a webhook left pending for good). A wait is the
 * same on both clocks.
 */
export async function enqueueInTx<Q extends QueueName>(
  boss: PgBoss,
  tx: DrizzleTransactionLike,
  queue: Q,
  payload: QueuePayload<Q>,
  options: { startInMs?: number; singletonKey?: string } = {},
): Promise<void> {
  const { startInMs, ...rest } = options;
  // pg-boss reads a numeric startAfter as seconds after the database's now (fractions allowed).
  const startAfter = startInMs !== undefined && startInMs > 0 ? startInMs / 1000 : undefined;
  await boss.send(queue, QUEUES[queue].payload.parse(payload) as object, { ...rest, ...(startAfter ? { startAfter } : {}), db: fromDrizzle(tx, sql) });
}
/**
 * Enqueues many jobs of one queue inside the caller's transaction, a thousand per statement
 * (pg-boss's insert: the queue's own retry and expiry settings apply, as with send). A
 * change that owes an alert to every customer of a meter holds its creator's configuration
 * lock while it enqueues (db/tenant.ts): one statement per job held it for seconds.
 */
export async function enqueueManyInTx<Q extends QueueName>(boss: PgBoss, tx: DrizzleTransactionLike, queue: Q, payloads: Array<QueuePayload<Q>>): Promise<void> {
  for (let i = 0; i < payloads.length; i += 1000) {
    const jobs = payloads.slice(i, i + 1000).map((payload) => ({ data: QUEUES[queue].payload.parse(payload) as object }));
    await boss.insert(queue, jobs, { db: fromDrizzle(tx, sql) });
  }
}

export type QueuePayload<Q extends QueueName> = z.infer<(typeof QUEUES)[Q]['payload']>;
export const QUEUE_NAMES = Object.keys(QUEUES) as QueueName[];
