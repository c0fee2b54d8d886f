import { notifyAlert } from '../server/services/notifications.js';
import { defineHandler, DRAIN } from './handler.js';

export const notifyAlertHandler = defineHandler('alerts.notify', async (rt, payload) => {
  await notifyAlert(rt, payload.creatorId, payload.alertId);
}, DRAIN);
