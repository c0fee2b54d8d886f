import { z } from 'zod';
import { trackMany, trackOne } from '../http/track.js';
import { ZBatchResponse, ZCheckInput, ZCheckResult, ZCreateTokenInput, ZToken, ZTrackedEvent } from '../schemas/usage.js';
import { requireTokenUser, mintUserToken } from '../services/tokens.js';
import { checkUsage } from '../services/usage.js';
import { router, tenantProcedure, trackProcedure } from '../trpc.js';

export const usageRouter = router({
  /** Input is validated by the same schema inside, so a batch and a single event share one judge. */
  track: trackProcedure
    .input(z.unknown())
    .output(ZTrackedEvent)
    .mutation(async ({ ctx, input }) => (await trackOne(ctx.rt, ctx.auth, input)).body),

  trackBatch: trackProcedure
    .input(z.unknown())
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
      const { token, expiresAt } = await mintUserToken(ctx.rt, ctx.creatorId, input);
      return { token, expires_at: expiresAt.toISOString() };
    }),
});
