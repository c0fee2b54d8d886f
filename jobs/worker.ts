import type { Job, JobResult, PgBoss } from 'pg-boss';
import type { Runtime } from '../server/runtime.js';
import { pgError } from '../server/services/db-errors.js';
import { reconcileAllBillingHandler, reconcileBillingHandler, reportBillingHandler, scheduleBillingHandler } from './billing-report.js';
import { isRetryable, parsePayload, type JobHandler } from './handler.js';
import { notifyAlertHandler } from './alerts-notify.js';
import { resolveAlertsHandler } from './alerts-resolve.js';
import { sendEmailHandler } from './email-send.js';
import { ensurePartitionsHandler } from './ensure-partitions.js';
import { purgeRollupBatchesHandler } from './purge-rollup-batches.js';
import { purgeSessionsHandler } from './purge-sessions.js';
import { DEAD_LETTER_QUEUE, QUEUES, type QueueName, type QueuePayload } from './queues.js';
import { applyRollupHandler } from './rollups-apply.js';
import { checkConsistencyHandler } from './rollups-check.js';
import { deliverWebhookHandler } from './webhooks-deliver.js';

export const HANDLERS: Array<JobHandler<QueueName>> = [purgeSessionsHandler, purgeRollupBatchesHandler, ensurePartitionsHandler, resolveAlertsHandler, sendEmailHandler, deliverWebhookHandler, applyRollupHandler, checkConsistencyHandler, notifyAlertHandler, reportBillingHandler, scheduleBillingHandler, reconcileBillingHandler, reconcileAllBillingHandler];

/** Binds every handler to its queue. Safe in several processes at once: pg-boss hands each job to one. */
export async function startWorkers(rt: Runtime, boss: PgBoss): Promise<void> {
  for (const handler of HANDLERS) await workQueue(rt, boss, handler);
}

type Parsed = { payload: QueuePayload<QueueName>; job: Job<unknown> };

/** A failure in its own words: the Postgres error under the ORM's "Failed query: …" wrapper, if there is one. */
const failureMessage = (error: unknown): string => (pgError(error) as { message?: string } | null)?.message ?? (error as Error).message;

/** Runs one handler's jobs as pg-boss hands them over. */
async function workQueue(rt: Runtime, boss: PgBoss, handler: JobHandler<QueueName>): Promise<void> {
  // Not worth a retry: park it in the dead-letter queue (it is then completed here).
  const deadLetter = (job: Job<unknown>, error: unknown) => boss.send(DEAD_LETTER_QUEUE, { queue: handler.queue, jobId: job.id, data: job.data, error: (error as Error).message });
  /** What becomes of a job that failed: retried by pg-boss, or parked when no retry can help. */
  const settleFailed = async (job: Job<unknown>, error: unknown): Promise<JobResult> => {
    rt.log.error({ err: error, queue: handler.queue, jobId: job.id }, 'job failed');
    if (isRetryable(error)) return { id: job.id, status: 'failed', output: { message: failureMessage(error) } };
    await deadLetter(job, error);
    return { id: job.id, status: 'completed' };
  };
  // Several local workers per queue (unless the handler says otherwise): one NOTIFY wakes
  // them all, so jobs enqueued together (an alert's emails) run together instead of
  // waiting for the next poll. A scheduled queue gets a job a minute at most: one worker
  // looking every 5 s is plenty (three looking every 0.5 s, on seven such queues, were
  // ≈ 40 of an idle server's 60 queries a second).
  const scheduled = 'schedule' in QUEUES[handler.queue];
  const options = {
    batchSize: handler.many?.batchSize ?? 1,
    localConcurrency: handler.localConcurrency ?? (scheduled ? 1 : 3),
    burstWhenBatchFull: handler.burstWhenBatchFull ?? false,
    pollingIntervalSeconds: scheduled ? 5 : 0.5,
    notifyPollingIntervalSeconds: 5,
  };
  const many = handler.many;
  if (!many && handler.drain) {
    await boss.work(handler.queue, { ...options, batchSize: handler.drain.batchSize, burstWhenBatchFull: true, perJobResults: true }, (jobs) =>
      Promise.all(
        jobs.map(async (job): Promise<JobResult> => {
          try {
            await handler.run(rt, parsePayload(handler.queue, job.data), job);
            return { id: job.id, status: 'completed' };
          } catch (error) {
            return settleFailed(job, error);
          }
        }),
      ),
    );
    return;
  }
  if (!many) {
    await boss.work(handler.queue, options, async (jobs) => {
      for (const job of jobs) {
        try {
          await handler.run(rt, parsePayload(handler.queue, job.data), job);
        } catch (error) {
          // pg-boss fails (and retries) the job when the handler throws.
          if ((await settleFailed(job, error)).status === 'failed') throw error;
        }
      }
    });
    return;
  }
  // Jobs taken together settle one by one: a batch that fails is run again job by job, so
  // that only a job that cannot run is retried (and, its retries spent, dead-lettered), not
  // every job that happened to be fetched with it.
  await boss.work(handler.queue, { ...options, perJobResults: true }, async (jobs) => {
    const results: JobResult[] = [];
    const parsed: Parsed[] = [];
    for (const job of jobs) {
      try {
        parsed.push({ payload: parsePayload(handler.queue, job.data), job });
      } catch (error) {
        results.push(await settleFailed(job, error));
      }
    }
    if (parsed.length === 0) return results;
    try {
      await many.run(rt, parsed);
      return [...results, ...parsed.map(({ job }): JobResult => ({ id: job.id, status: 'completed' }))];
    } catch (error) {
      if (parsed.length === 1) return [...results, await settleFailed(parsed[0]!.job, error)];
      rt.log.warn({ err: error, queue: handler.queue, jobs: parsed.length }, 'a batch of jobs failed; running them one by one');
    }
    for (const one of parsed) {
      try {
        await many.run(rt, [one]);
        results.push({ id: one.job.id, status: 'completed' });
      } catch (error) {
        results.push(await settleFailed(one.job, error));
      }
    }
    return results;
  });
}

/**
 * Stops every queue's workers at once: none fetches another job from now on. Running jobs are
 * not waited for here (one queue at a time, each wait unbounded, while the queues not yet
 * stopped went on fetching): boss.stop's graceful timeout bounds that wait.
 */
export async function stopWorkers(boss: PgBoss): Promise<void> {
  await Promise.all(HANDLERS.map((handler) => boss.offWork(handler.queue, { wait: false })));
}
