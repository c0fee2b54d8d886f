import {
  ZCreateWebhookInput,
  ZCreatedWebhook,
  ZListDeliveriesInput,
  ZReplayInput,
  ZRotateWebhookSecretInput,
  ZUpdateWebhookInput,
  ZWebhook,
  ZWebhookAttemptResult,
  ZWebhookDeliveries,
  ZWebhookIdInput,
  ZWebhookList,
} from '../schemas/webhooks.js';
import type { RestRoute } from './rest.js';
import { parseInput, queryObject } from './validation.js';


const TAG = 'Webhooks';

/** Webhook endpoints, their delivery logs, test sends and replays. */
export const WEBHOOK_ROUTES: RestRoute[] = [
  {
    method: 'POST',
    path: '/api/usage/webhooks',
    operationId: 'createWebhook',
    summary: 'Register a webhook endpoint; the signing `secret` (whsec_…) is shown once',
    tag: TAG,
    scope: 'admin',
    body: ZCreateWebhookInput,
    responses: { 201: { description: 'The endpoint, with its signing secret', schema: ZCreatedWebhook } },
    handle: async ({ caller, body }) => ({ status: 201, body: await caller.webhooks.create(parseInput(ZCreateWebhookInput, body)) }),
  },
  {
    method: 'GET',
    path: '/api/usage/webhooks',
    operationId: 'listWebhooks',
    summary: 'The creator’s webhook endpoints, oldest first (secrets are never returned)',
    tag: TAG,
    scope: 'read',
    responses: { 200: { description: 'Endpoints', schema: ZWebhookList } },
    handle: async ({ caller }) => ({ status: 200, body: await caller.webhooks.list() }),
  },
  {
    method: 'GET',
    path: '/api/usage/webhooks/:id',
    operationId: 'getWebhook',
    summary: 'One webhook endpoint',
    tag: TAG,
    scope: 'read',
    responses: { 200: { description: 'The endpoint', schema: ZWebhook } },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.webhooks.get(parseInput(ZWebhookIdInput, params)) }),
  },
  {
    method: 'PATCH',
    path: '/api/usage/webhooks/:id',
    operationId: 'updateWebhook',
    summary: 'Change an endpoint’s url, events or enabled; re-enabling clears the reason it was disabled',
    tag: TAG,
    scope: 'admin',
    body: ZUpdateWebhookInput,
    responses: { 200: { description: 'The endpoint after the change', schema: ZWebhook } },
    handle: async ({ caller, params, body }) => ({
      status: 200,
      body: await caller.webhooks.update({ ...parseInput(ZWebhookIdInput, params), patch: parseInput(ZUpdateWebhookInput, body) }),
    }),
  },
  {
    method: 'DELETE',
    path: '/api/usage/webhooks/:id',
    operationId: 'deleteWebhook',
    summary: 'Delete an endpoint; its undelivered messages are not sent',
    tag: TAG,
    scope: 'admin',
    responses: { 204: { description: 'Deleted' } },
    handle: async ({ caller, params }) => {
      await caller.webhooks.delete(parseInput(ZWebhookIdInput, params));
      return { status: 204 };
    },
  },
  {
    method: 'POST',
    path: '/api/usage/webhooks/:id/test',
    operationId: 'sendTestWebhook',
    summary: 'Send a signed test event (`usage.threshold_reached`, fake data, `"test": true`) now; answers with the attempt',
    tag: TAG,
    scope: 'admin',
    responses: { 200: { description: 'The attempt: status code, latency, response snippet or error', schema: ZWebhookAttemptResult } },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.webhooks.sendTest(parseInput(ZWebhookIdInput, params)) }),
  },
  {
    method: 'POST',
    path: '/api/usage/webhooks/:id/rotate-secret',
    operationId: 'rotateWebhookSecret',
    summary:
      'A new signing `secret`, shown once. For `previous_secret_expires_in_hours` (default 24, 0–168; 0: at once) every message carries a second signature, by the secret replaced, in the same `webhook-signature` header — switch the receiver over meanwhile',
    tag: TAG,
    scope: 'admin',
    body: ZRotateWebhookSecretInput,
    bodyOptional: true,
    responses: { 200: { description: 'The endpoint, with its new signing secret', schema: ZCreatedWebhook } },
    handle: async ({ caller, params, body }) => ({
      status: 200,
      body: await caller.webhooks.rotateSecret({ ...parseInput(ZWebhookIdInput, params), rotation: parseInput(ZRotateWebhookSecretInput, body ?? {}) }),
    }),
  },
  {
    method: 'POST',
    path: '/api/usage/webhooks/messages/:message_id/replay',
    operationId: 'replayWebhookMessage',
    summary: 'Send a message again now, with the same webhook-id; answers with the attempt',
    tag: TAG,
    scope: 'admin',
    responses: {
      200: { description: 'The attempt', schema: ZWebhookAttemptResult },
      409: { description: 'An attempt of this message is being sent now (`delivery-in-progress`); retry after `Retry-After` seconds', headers: { 'retry-after': 'Seconds until the attempt under way is over' } },
    },
    handle: async ({ caller, params }) => ({ status: 200, body: await caller.webhooks.replay(parseInput(ZReplayInput, params)) }),
  },
  {
    method: 'GET',
    path: '/api/usage/webhooks/:id/deliveries',
    operationId: 'listWebhookDeliveries',
    summary: 'An endpoint’s messages, newest first, each with its attempts (status code, latency, response snippet, error); pages: limit, before + before_id of the last message shown',
    tag: TAG,
    scope: 'read',
    query: ZListDeliveriesInput,
    responses: { 200: { description: 'Messages with their attempts', schema: ZWebhookDeliveries } },
    handle: async ({ caller, params, query }) => ({
      status: 200,
      body: await caller.webhooks.deliveries({ ...parseInput(ZWebhookIdInput, params), ...parseInput(ZListDeliveriesInput, queryObject(query)) }),
    }),
  },
];
