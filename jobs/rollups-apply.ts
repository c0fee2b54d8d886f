import { applyRollupBatches } from '../server/services/rollups.js';
import type { JobHandler } from './handler.js';

/**
 * The job id is the batch id: pg-boss delivers at least once, the rollups change once.
 * Waiting jobs are applied together (up to 100 committed groups per creator transaction),
 * by one worker per process, which finds them by polling (the queue does not notify):
 * parallel workers queued on each other's hour/day rows, and a NOTIFY per ingest commit
 * cost the commit a lock and woke the worker for one job (ADR 0011, amendment).
 */
const apply: NonNullable<JobHandler<'rollups.apply'>['many']>['run'] = (rt, jobs) =>
  applyRollupBatches(
    rt,
    jobs.map(({ payload, job }) => ({ payload, batchId: job.id })),
  ).then(() => undefined);

export const applyRollupHandler: JobHandler<'rollups.apply'> = {
  queue: 'rollups.apply',
  run: (rt, payload, job) => apply(rt, [{ payload, job }]),
  many: { batchSize: 100, run: apply },
  localConcurrency: 1,
  burstWhenBatchFull: true,
};
