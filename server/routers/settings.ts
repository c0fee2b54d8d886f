import { ZSettings, ZUpdateSettingsInput, ZWarnings, type TSettings } from '../schemas/usage.js';
import { getSettings, updateSettings, type Settings } from '../services/settings.js';
import { router, tenantProcedure } from '../trpc.js';

const toApiSettings = (s: Settings): TSettings => ({ default_plan: s.defaultPlan, late_event_grace_hours: s.lateEventGraceHours });

export const settingsRouter = router({
  get: tenantProcedure('read')
    .output(ZSettings)
    .query(async ({ ctx }) => toApiSettings(await getSettings(ctx.rt, ctx.creatorId))),
  update: tenantProcedure('admin')
    .input(ZUpdateSettingsInput)
    .output(ZSettings.extend({ warnings: ZWarnings.optional() }))
    .mutation(async ({ ctx, input }) => {
      const { warnings, ...settings } = await updateSettings(ctx.rt, ctx.creatorId, input);
      return { ...toApiSettings(settings), ...(warnings ? { warnings } : {}) };
    }),
});
