import { z } from 'zod';

/**
 * Every queue: its name (`domain.action`), payload schema and retry policy. Handlers
 * live one per file in jobs/; jobs/worker.ts binds them. A failed job is retried with
 * exponential backoff, then copied to the dead-letter queue.
 */
export const DEAD_LETTER_QUEUE = 'jobs.dead-letter';

export const QUEUES = {
  'maintenance.purge-sessions': {
    payload: z.object({}).strict(),
    options: { retryLimit: 3, retryDelay: 30, retryBackoff: true, expireInSeconds: 300 },
    /** Hourly, at minute 17 (away from the top of the hour). */
    schedule: '17 * * * *',
  },
  'maintenance.ensure-partitions': {
    payload: z.object({}).strict(),
    options: { retryLimit: 5, retryDelay: 60, retryBackoff: true, expireInSeconds: 600 },
    /** Daily: keeps monthly usage_events partitions 13 months ahead. */
    schedule: '7 3 * * *',
  },
} as const satisfies Record<
  string,
  { payload: z.ZodType; options: { retryLimit: number; retryDelay: number; retryBackoff: boolean; expireInSeconds: number }; schedule?: string }
>;

export type QueueName = keyof typeof QUEUES;
export type QueuePayload<Q extends QueueName> = z.infer<(typeof QUEUES)[Q]['payload']>;
export const QUEUE_NAMES = Object.keys(QUEUES) as QueueName[];
