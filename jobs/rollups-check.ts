import { checkConsistency } from '../server/services/rollups.js';
import { defineHandler } from './handler.js';

/** Disagreements are logged and counted by the service; the job itself succeeds. */
export const checkConsistencyHandler = defineHandler('rollups.check-consistency', async (rt) => {
  await checkConsistency(rt);
});
