import { applyRollupBatch } from '../server/services/rollups.js';
import { defineHandler } from './handler.js';

/** The job id is the batch id: pg-boss delivers at least once, the rollups change once. */
export const applyRollupHandler = defineHandler('rollups.apply', async (rt, payload, job) => {
  await applyRollupBatch(rt, payload, job.id);
});
