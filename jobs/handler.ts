import type { Job } from 'pg-boss';
import { AppError } from '../server/errors.js';
import type { Runtime } from '../server/runtime.js';
import { QUEUES, type QueueName, type QueuePayload } from './queues.js';

export type JobHandler<Q extends QueueName> = {
  queue: Q;
  run: (rt: Runtime, payload: QueuePayload<Q>, job: Job<unknown>) => Promise<void>;
  /**
   * Jobs of the queue handled together: a worker takes up to `batchSize` waiting jobs at
   * once and hands them to `many.run` in one call. If it throws, each job is run again
   * alone, and only those that fail alone are retried (or dead-lettered when no retry can
   * help): it must be idempotent per job.
   */
  many?: { batchSize: number; run: (rt: Runtime, jobs: Array<{ payload: QueuePayload<Q>; job: Job<unknown> }>) => Promise<void> };
  /** Jobs of the queue this process runs at once (default 3). */
  localConcurrency?: number;
  /** Fetch again at once, without waiting for the next poll, while fetches come back full. */
  burstWhenBatchFull?: boolean;
  /**
   * Bursts drained at once (a queue whose jobs reach people): a worker takes up to `batchSize`
   * waiting jobs, runs them side by side, each settled alone (retried or dead-lettered on its
   * own), and fetches again at once while fetches come back full. Without it a worker takes one
   * job and then waits for a NOTIFY or its 5 s poll: a backlog that no new job's NOTIFY wakes
   * (300 alerts crossing together, or what was queued when the server restarted) drained at
   * 3 jobs per 5 s.
   */
  drain?: { batchSize: number };
};

/** What the queues that reach people (alerts, emails, webhooks) take: a burst drains at 15 jobs at a time per process. */
export const DRAIN: HandlerOptions = { drain: { batchSize: 5 } };

type HandlerOptions = { drain?: { batchSize: number }; localConcurrency?: number };

export const defineHandler = <Q extends QueueName>(queue: Q, run: JobHandler<Q>['run'], options: HandlerOptions = {}): JobHandler<Q> => ({
  queue,
  run,
  ...options,
});

/**
 * Thrown for failures no retry can fix (a payload that does not parse, a 4xx-class
 * AppError): the job goes to the dead-letter queue at once instead of retrying.
 */
export class PermanentJobError extends Error {}

export function isRetryable(error: unknown): boolean {
  if (error instanceof PermanentJobError) return false;
  if (error instanceof AppError) return error.status >= 500;
  return true;
}

export function parsePayload<Q extends QueueName>(queue: Q, data: unknown): QueuePayload<Q> {
  const result = QUEUES[queue].payload.safeParse(data);
  if (!result.success) throw new PermanentJobError(`Invalid payload for ${queue}: ${result.error.message}`);
  return result.data as QueuePayload<Q>;
}
