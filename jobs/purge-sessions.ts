import { purgeExpiredSessions } from '../server/services/maintenance.js';
import { defineHandler } from './handler.js';

export const purgeSessionsHandler = defineHandler('maintenance.purge-sessions', async (rt) => {
  await purgeExpiredSessions(rt);
});
