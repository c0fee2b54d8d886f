import { ensureEventPartitions } from '../server/services/maintenance.js';
import { defineHandler } from './handler.js';

export const ensurePartitionsHandler = defineHandler('maintenance.ensure-partitions', async (rt) => {
  await ensureEventPartitions(rt);
});
