import { ZRevenueOverview, ZWhatIfInput, ZWhatIfResult } from '../schemas/revenue.js';
import { getRevenueOverview, simulateWhatIf } from '../services/revenue.js';
import { router, tenantProcedure } from '../trpc.js';

export const revenueRouter = router({
  /** Overage revenue of the current period, per meter and plan, so far and projected. */
  overview: tenantProcedure('read')
    .output(ZRevenueOverview)
    .query(({ ctx }) => getRevenueOverview(ctx.rt, ctx.creatorId)),
  /** New terms for one plan on one meter, replayed on last period's usage. Saves nothing. */
  whatIf: tenantProcedure('read')
    .input(ZWhatIfInput)
    .output(ZWhatIfResult)
    .query(({ ctx, input }) => simulateWhatIf(ctx.rt, ctx.creatorId, input)),
});
