import type { PgBoss } from 'pg-boss';
import type { Runtime } from '../server/runtime.js';
import { reconcileAllBillingHandler, reconcileBillingHandler, reportBillingHandler, scheduleBillingHandler } from './billing-report.js';
import { isRetryable, parsePayload, type JobHandler } from './handler.js';
import { notifyAlertHandler } from './alerts-notify.js';
import { resolveAlertsHandler } from './alerts-resolve.js';
import { sendEmailHandler } from './email-send.js';
import { ensurePartitionsHandler } from './ensure-partitions.js';
import { purgeSessionsHandler } from './purge-sessions.js';
import { DEAD_LETTER_QUEUE, type QueueName } from './queues.js';
import { applyRollupHandler } from './rollups-apply.js';
import { checkConsistencyHandler } from './rollups-check.js';
import { deliverWebhookHandler } from './webhooks-deliver.js';

export const HANDLERS: Array<JobHandler<QueueName>> = [purgeSessionsHandler, ensurePartitionsHandler, resolveAlertsHandler, sendEmailHandler, deliverWebhookHandler, applyRollupHandler, checkConsistencyHandler, notifyAlertHandler, reportBillingHandler, scheduleBillingHandler, reconcileBillingHandler, reconcileAllBillingHandler];

/** Binds every handler to its queue. Safe in several processes at once: pg-boss hands each job to one. */
export async function startWorkers(rt: Runtime, boss: PgBoss): Promise<void> {
  for (const handler of HANDLERS) {
    // Several local workers per queue: one NOTIFY wakes them all, so jobs enqueued together
    // (an alert's emails) run together instead of waiting for the next poll.
    await boss.work(handler.queue, { batchSize: 1, localConcurrency: 3, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 5 }, async (jobs) => {
      for (const job of jobs) {
        try {
          await handler.run(rt, parsePayload(handler.queue, job.data), job);
        } catch (error) {
          rt.log.error({ err: error, queue: handler.queue, jobId: job.id }, 'job failed');
          if (!isRetryable(error)) {
            // Not worth a retry: park it in the dead-letter queue and complete it here.
            await boss.send(DEAD_LETTER_QUEUE, { queue: handler.queue, jobId: job.id, data: job.data, error: (error as Error).message });
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
