import { deliverWebhook } from '../server/services/webhooks.js';
import { defineHandler, DRAIN } from './handler.js';

/**
 * One delivery attempt. The endpoint's failures do not fail the job: the service records
 * them and schedules the next attempt itself. Only our own failures (the database) throw,
 * and pg-boss retries those.
 */
export const deliverWebhookHandler = defineHandler('webhooks.deliver', async (rt, { creatorId, messageId, attempt }) => {
  await deliverWebhook(rt, creatorId, messageId, attempt);
}, DRAIN);
