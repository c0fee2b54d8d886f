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
};

export const defineHandler = <Q extends QueueName>(queue: Q, run: JobHandler<Q>['run']): JobHandler<Q> => ({ queue, run });

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
