import type { Job, PgBoss } from 'pg-boss';
import type { Runtime } from '../server/runtime.js';
import { reconcileAllBillingHandler, reconcileBillingHandler, reportBillingHandler, scheduleBillingHandler } from './billing-report.js';
import { isRetryable, parsePayload, type JobHandler } from './handler.js';
import { notifyAlertHandler } from './alerts-notify.js';
import { resolveAlertsHandler } from './alerts-resolve.js';
import { sendEmailHandler } from './email-send.js';
import { ensurePartitionsHandler } from './ensure-partitions.js';
import { purgeRollupBatchesHandler } from './purge-rollup-batches.js';
import { purgeSessionsHandler } from './purge-sessions.js';
import { DEAD_LETTER_QUEUE, type QueueName, type QueuePayload } from './queues.js';
import { applyRollupHandler } from './rollups-apply.js';
import { checkConsistencyHandler } from './rollups-check.js';
import { deliverWebhookHandler } from './webhooks-deliver.js';

export const HANDLERS: Array<JobHandler<QueueName>> = [purgeSessionsHandler, purgeRollupBatchesHandler, ensurePartitionsHandler, resolveAlertsHandler, sendEmailHandler, deliverWebhookHandler, applyRollupHandler, checkConsistencyHandler, notifyAlertHandler, reportBillingHandler, scheduleBillingHandler, reconcileBillingHandler, reconcileAllBillingHandler];

/** Binds every handler to its queue. Safe in several processes at once: pg-boss hands each job to one. */
export async function startWorkers(rt: Runtime, boss: PgBoss): Promise<void> {
  for (const handler of HANDLERS) {
    // Not worth a retry: park it in the dead-letter queue (it is then completed here).
    const deadLetter = (job: Job<unknown>, error: unknown) => boss.send(DEAD_LETTER_QUEUE, { queue: handler.queue, jobId: job.id, data: job.data, error: (error as Error).message });
    // Several local workers per queue (unless the handler says otherwise): one NOTIFY wakes
    // them all, so jobs enqueued together (an alert's emails) run together instead of
    // waiting for the next poll.
    const options = { batchSize: handler.many?.batchSize ?? 1, localConcurrency: handler.localConcurrency ?? 3, burstWhenBatchFull: handler.burstWhenBatchFull ?? false, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 5 };
    await boss.work(handler.queue, options, async (jobs) => {
      if (handler.many) {
        const parsed: Array<{ payload: QueuePayload<QueueName>; job: Job<unknown> }> = [];
        for (const job of jobs) {
          try {
            parsed.push({ payload: parsePayload(handler.queue, job.data), job });
          } catch (error) {
            rt.log.error({ err: error, queue: handler.queue, jobId: job.id }, 'job failed');
            await deadLetter(job, error);
          }
        }
        if (parsed.length === 0) return;
        try {
          await handler.many.run(rt, parsed);
        } catch (error) {
          rt.log.error({ err: error, queue: handler.queue, jobIds: parsed.map((p) => p.job.id) }, 'jobs failed');
          if (isRetryable(error)) throw error; // pg-boss retries every job of the batch
          for (const { job } of parsed) await deadLetter(job, error);
        }
        return;
      }
      for (const job of jobs) {
        try {
          await handler.run(rt, parsePayload(handler.queue, job.data), job);
        } catch (error) {
          rt.log.error({ err: error, queue: handler.queue, jobId: job.id }, 'job failed');
          if (!isRetryable(error)) {
            await deadLetter(job, error);
            continue;
          }
          throw error;
        }
      }
    });
  }
}

export async function stopWorkers(boss: PgBoss): Promise<void> {
  for (const handler of HANDLERS) await boss.offWork(handler.queue);
}
