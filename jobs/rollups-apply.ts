import { applyRollupBatches } from '../server/services/rollups.js';
import type { JobHandler } from './handler.js';

/**
 * The job id is the batch id: pg-boss delivers at least once, the rollups change once.
 * Waiting jobs are applied together (up to 50 committed groups per creator transaction).
 */
const apply: NonNullable<JobHandler<'rollups.apply'>['many']>['run'] = (rt, jobs) =>
  applyRollupBatches(
    rt,
    jobs.map(({ payload, job }) => ({ payload, batchId: job.id })),
  ).then(() => undefined);

export const applyRollupHandler: JobHandler<'rollups.apply'> = {
  queue: 'rollups.apply',
  run: (rt, payload, job) => apply(rt, [{ payload, job }]),
  many: { batchSize: 50, run: apply },
};
