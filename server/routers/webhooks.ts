import {
  ZCreateWebhookInput,
  ZCreatedWebhook,
  ZDeletedWebhook,
  ZListDeliveriesInput,
  ZReplayInput,
  ZRotateWebhookSecretInput,
  ZUpdateWebhookInput,
  ZWebhook,
  ZWebhookAttemptResult,
  ZWebhookDeliveries,
  ZWebhookIdInput,
  ZWebhookList,
  toApiAttempt,
  toApiWebhook,
  toApiWebhookMessage,
} from '../schemas/webhooks.js';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
  listWebhookDeliveries,
  listWebhookEndpoints,
  replayWebhookMessage,
  rotateWebhookSecret,
  sendTestWebhook,
  updateWebhookEndpoint,
} from '../services/webhooks.js';
import { hasScope } from '../services/api-keys.js';
import { router, tenantProcedure } from '../trpc.js';

/** A dashboard session, or an API key that may change endpoints (and so sees their URLs whole). */
const mayAdminister = (auth: { kind: string; scopes?: readonly Parameters<typeof hasScope>[1][] }) => auth.kind !== 'api_key' || hasScope(auth.scopes ?? [], 'admin');

export const webhooksRouter = router({
  create: tenantProcedure('admin')
    .input(ZCreateWebhookInput)
    .output(ZCreatedWebhook)
    .mutation(async ({ ctx, input }) => {
      const { endpoint, secret } = await createWebhookEndpoint(ctx.rt, ctx.creatorId, input);
      return { ...toApiWebhook(endpoint), secret };
    }),

  /** A new signing secret, shown once; the old one signs too for `previous_secret_expires_in_hours` (24). */
  rotateSecret: tenantProcedure('admin')
    .input(ZWebhookIdInput.extend({ rotation: ZRotateWebhookSecretInput.default({ previous_secret_expires_in_hours: 24 }) }))
    .output(ZCreatedWebhook)
    .mutation(async ({ ctx, input }) => {
      const { endpoint, secret } = await rotateWebhookSecret(ctx.rt, ctx.creatorId, input.id, input.rotation);
      return { ...toApiWebhook(endpoint), secret };
    }),

  // A key that may only read sees each URL's origin, not its path (often a credential).
  list: tenantProcedure('read')
    .output(ZWebhookList)
    .query(async ({ ctx }) => ({ webhooks: (await listWebhookEndpoints(ctx.rt, ctx.creatorId)).map((e) => toApiWebhook(e, { maskUrl: !mayAdminister(ctx.auth) })) })),

  get: tenantProcedure('read')
    .input(ZWebhookIdInput)
    .output(ZWebhook)
    .query(async ({ ctx, input }) => toApiWebhook(await getWebhookEndpoint(ctx.rt, ctx.creatorId, input.id), { maskUrl: !mayAdminister(ctx.auth) })),

  update: tenantProcedure('admin')
    .input(ZWebhookIdInput.extend({ patch: ZUpdateWebhookInput }))
    .output(ZWebhook)
    .mutation(async ({ ctx, input }) => toApiWebhook(await updateWebhookEndpoint(ctx.rt, ctx.creatorId, input.id, input.patch))),

  delete: tenantProcedure('admin')
    .input(ZWebhookIdInput)
    .output(ZDeletedWebhook)
    .mutation(async ({ ctx, input }) => {
      await deleteWebhookEndpoint(ctx.rt, ctx.creatorId, input.id);
      return { id: input.id, deleted: true as const };
    }),

  sendTest: tenantProcedure('admin')
    .input(ZWebhookIdInput)
    .output(ZWebhookAttemptResult)
    .mutation(async ({ ctx, input }) => {
      const { messageId, attempt } = await sendTestWebhook(ctx.rt, ctx.creatorId, input.id);
      return { message_id: messageId, ...toApiAttempt(attempt) };
    }),

  replay: tenantProcedure('admin')
    .input(ZReplayInput)
    .output(ZWebhookAttemptResult)
    .mutation(async ({ ctx, input }) => {
      const { messageId, attempt } = await replayWebhookMessage(ctx.rt, ctx.creatorId, input.message_id);
      return { message_id: messageId, ...toApiAttempt(attempt) };
    }),

  deliveries: tenantProcedure('read')
    // safeExtend keeps the input's refinement (before_id needs before).
    .input(ZListDeliveriesInput.safeExtend(ZWebhookIdInput.shape))
    .output(ZWebhookDeliveries)
    .query(async ({ ctx, input }) => ({
      messages: (await listWebhookDeliveries(ctx.rt, ctx.creatorId, input.id, input)).map(toApiWebhookMessage),
    })),
});
