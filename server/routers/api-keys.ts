import { ZApiKey, ZApiKeyList, ZCreateApiKeyInput, ZCreatedApiKey, ZRevokeApiKeyInput, toApiKey } from '../schemas/api-keys.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../services/api-keys.js';
import { router, tenantProcedure } from '../trpc.js';

export const apiKeysRouter = router({
  list: tenantProcedure('admin')
    .output(ZApiKeyList)
    .query(async ({ ctx }) => ({ keys: (await listApiKeys(ctx.rt, ctx.creatorId)).map(toApiKey) })),

  create: tenantProcedure('admin')
    .input(ZCreateApiKeyInput)
    .output(ZCreatedApiKey)
    .mutation(async ({ ctx, input }) => {
      const { key, secret } = await createApiKey(ctx.rt, ctx.creatorId, input);
      return { ...toApiKey(key), api_key: secret };
    }),

  revoke: tenantProcedure('admin')
    .input(ZRevokeApiKeyInput)
    .output(ZApiKey)
    .mutation(async ({ ctx, input }) => toApiKey(await revokeApiKey(ctx.rt, ctx.creatorId, input.id))),
});
