import { z } from 'zod';
import { trackMany, trackOne } from '../http/track.js';
import { ZBatchResponse, ZCheckInput, ZCheckResult, ZCreateTokenInput, ZToken, ZTrackEvent, ZTrackedEvent } from '../schemas/usage.js';
import { requireTokenUser, mintUserToken } from '../services/tokens.js';
import { checkUsage } from '../services/usage.js';
import { router, tenantProcedure, trackProcedure } from '../trpc.js';

export const usageRouter = router({
  track: trackProcedure
    .input(ZTrackEvent)
    .output(ZTrackedEvent)
    .mutation(async ({ ctx, input }) => (await trackOne(ctx.rt, ctx.auth, input)).body),

  /**
   * Typed as an array of events for clients; each element is judged on its own inside
   * (one bad event must not fail its neighbours), so the runtime check is only "an array".
   */
  trackBatch: trackProcedure
    .input(z.custom<Array<z.input<typeof ZTrackEvent>>>((value) => Array.isArray(value), { error: 'must be an array of events' }))
    .output(ZBatchResponse)
    .mutation(({ ctx, input }) => trackMany(ctx.rt, ctx.auth, input, ctx.requestId)),

  check: trackProcedure
    .input(ZCheckInput)
    .output(ZCheckResult)
    .query(({ ctx, input }) => {
      if (ctx.auth.kind === 'user_token') requireTokenUser(ctx.auth, input.user_id);
      return checkUsage(ctx.rt, ctx.creatorId, input);
    }),

  createToken: tenantProcedure('track')
    .input(ZCreateTokenInput)
    .output(ZToken)
    .mutation(async ({ ctx, input }) => {
      const { token, expiresAt } = await mintUserToken(ctx.rt, ctx.creatorId, input, ctx.auth.kind === 'api_key' ? { keyId: ctx.auth.keyId } : null);
      return { token, expires_at: expiresAt.toISOString() };
    }),
});
