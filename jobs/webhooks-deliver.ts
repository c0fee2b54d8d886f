import { deliverWebhook, ENDPOINT_IN_FLIGHT } from '../server/services/webhooks.js';
import { defineHandler, DRAIN } from './handler.js';

/**
 * One delivery attempt. The endpoint's failures do not fail the job: the service records
 * them and schedules the next attempt itself. Only our own failures (the database) throw,
 * and pg-boss retries those.
 */
// More workers than an endpoint may hold at once (ENDPOINT_IN_FLIGHT): a stuck receiver never takes them all.
export const deliverWebhookHandler = defineHandler(
  'webhooks.deliver',
  async (rt, { creatorId, messageId, attempt }) => {
    await deliverWebhook(rt, creatorId, messageId, attempt);
  },
  { ...DRAIN, localConcurrency: ENDPOINT_IN_FLIGHT.workers },
);
