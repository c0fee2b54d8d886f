import { checkConsistencyScheduled } from '../server/services/rollups.js';
import { defineHandler } from './handler.js';

/** Disagreements are logged and counted by the service; the job itself succeeds (also when another run is still going). */
export const checkConsistencyHandler = defineHandler('rollups.check-consistency', async (rt) => {
  await checkConsistencyScheduled(rt);
});
