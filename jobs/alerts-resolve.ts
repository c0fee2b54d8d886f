import { resolveAlertsOfClosedPeriods } from '../server/services/alerts.js';
import { defineHandler } from './handler.js';

export const resolveAlertsHandler = defineHandler('alerts.resolve-closed', async (rt) => {
  await resolveAlertsOfClosedPeriods(rt);
});
