import { purgeAppliedRollupBatches } from '../server/services/rollups.js';
import { defineHandler } from './handler.js';

export const purgeRollupBatchesHandler = defineHandler('maintenance.purge-rollup-batches', async (rt) => {
  await purgeAppliedRollupBatches(rt);
});
