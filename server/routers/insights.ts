import { ZOverview, ZTrends, ZTrendsInput } from '../schemas/insights.js';
import { getOverview, getTrends } from '../services/insights.js';
import { router, tenantProcedure } from '../trpc.js';

export const insightsRouter = router({
  /** The live overview: events per minute, this period's usage and limits, alerts, overage so far. */
  overview: tenantProcedure('read')
    .output(ZOverview)
    .query(({ ctx }) => getOverview(ctx.rt, ctx.creatorId)),

  /** One meter's usage over time from the meter rollups, optionally against the previous range and broken down. */
  trends: tenantProcedure('read')
    .input(ZTrendsInput)
    .output(ZTrends)
    .query(({ ctx, input }) => getTrends(ctx.rt, ctx.creatorId, input)),
});
