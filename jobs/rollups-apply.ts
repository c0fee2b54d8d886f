import type { QueuePayload } from './queues.js';
import { applyRollupBatches } from '../server/services/rollups.js';
import type { JobHandler } from './handler.js';

/**
 * The job id is the batch id: pg-boss delivers at least once, the rollups change once.
 * Waiting jobs are applied together (up to 50 committed groups per creator transaction).
 */
export const applyRollupHandler: JobHandler<'rollups.apply'> = {
  queue: 'rollups.apply',
  run: async (rt, payload: QueuePayload<'rollups.apply'>, job) => {
    await applyRollupBatches(rt, [{ payload, batchId: job.id }]);
  },
  many: {
    batchSize: 50,
    run: async (rt, jobs) => {
      await applyRollupBatches(
        rt,
        jobs.map(({ payload, job }) => ({ payload, batchId: job.id })),
      );
    },
  },
};
