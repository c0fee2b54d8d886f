import { z } from 'zod';
import {
  ZCreateMeterInput,
  ZListMetersInput,
  ZMeter,
  ZMeterIdInput,
  ZMeterList,
  ZMeterPreview,
  ZMeterPreviewInput,
  ZMeterWithWarnings,
  ZPlanLimitHistory,
  ZUpdateMeterInput,
  toApiMeter,
  withApiWarnings,
} from '../schemas/meters.js';
import { getPlanLimitHistory, previewMeter } from '../services/meter-preview.js';
import { archiveMeter, createMeter, getMeter, listMeters, updateMeter } from '../services/meters.js';
import { router, tenantProcedure } from '../trpc.js';

export const metersRouter = router({
  create: tenantProcedure('admin')
    .input(ZCreateMeterInput)
    .output(ZMeterWithWarnings)
    .mutation(async ({ ctx, input }) => withApiWarnings(await createMeter(ctx.rt, ctx.creatorId, input))),

  list: tenantProcedure('read')
    .input(ZListMetersInput)
    .output(ZMeterList)
    .query(async ({ ctx, input }) => ({ meters: (await listMeters(ctx.rt, ctx.creatorId, { includeArchived: input.include_archived })).map(toApiMeter) })),

  get: tenantProcedure('read')
    .input(ZMeterIdInput)
    .output(ZMeter)
    .query(async ({ ctx, input }) => toApiMeter(await getMeter(ctx.rt, ctx.creatorId, input.id))),

  update: tenantProcedure('admin')
    .input(ZMeterIdInput.extend({ patch: ZUpdateMeterInput, expected_updated_at: z.iso.datetime().optional() }))
    .output(ZMeterWithWarnings)
    .mutation(async ({ ctx, input }) => withApiWarnings(await updateMeter(ctx.rt, ctx.creatorId, input.id, input.patch, { expectedUpdatedAt: input.expected_updated_at }))),

  archive: tenantProcedure('admin')
    .input(ZMeterIdInput)
    .output(ZMeter)
    .mutation(async ({ ctx, input }) => toApiMeter(await archiveMeter(ctx.rt, ctx.creatorId, input.id))),

  /** Every limit each plan has had on this meter (changes keep history). */
  limitHistory: tenantProcedure('read')
    .input(ZMeterIdInput)
    .output(ZPlanLimitHistory)
    .query(async ({ ctx, input }) => getPlanLimitHistory(ctx.rt, ctx.creatorId, input.id)),


  /** What a definition (new, or an edit of `meter_id`) would have measured on the last 30 days of raw events. */
  preview: tenantProcedure('read')
    .input(ZMeterPreviewInput)
    .output(ZMeterPreview)
    .query(async ({ ctx, input }) => previewMeter(ctx.rt, ctx.creatorId, input)),
});
