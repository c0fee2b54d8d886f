import { ZCreateMeterInput, ZListMetersInput, ZMeter, ZMeterIdInput, ZMeterList, ZUpdateMeterInput, toApiMeter } from '../schemas/meters.js';
import { archiveMeter, createMeter, getMeter, listMeters, updateMeter } from '../services/meters.js';
import { router, tenantProcedure } from '../trpc.js';

export const metersRouter = router({
  create: tenantProcedure('admin')
    .input(ZCreateMeterInput)
    .output(ZMeter)
    .mutation(async ({ ctx, input }) => toApiMeter(await createMeter(ctx.rt, ctx.creatorId, input))),

  list: tenantProcedure('read')
    .input(ZListMetersInput)
    .output(ZMeterList)
    .query(async ({ ctx, input }) => ({ meters: (await listMeters(ctx.rt, ctx.creatorId, { includeArchived: input.include_archived })).map(toApiMeter) })),

  get: tenantProcedure('read')
    .input(ZMeterIdInput)
    .output(ZMeter)
    .query(async ({ ctx, input }) => toApiMeter(await getMeter(ctx.rt, ctx.creatorId, input.id))),

  update: tenantProcedure('admin')
    .input(ZMeterIdInput.extend({ patch: ZUpdateMeterInput }))
    .output(ZMeter)
    .mutation(async ({ ctx, input }) => toApiMeter(await updateMeter(ctx.rt, ctx.creatorId, input.id, input.patch))),

  archive: tenantProcedure('admin')
    .input(ZMeterIdInput)
    .output(ZMeter)
    .mutation(async ({ ctx, input }) => toApiMeter(await archiveMeter(ctx.rt, ctx.creatorId, input.id))),
});
