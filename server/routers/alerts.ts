import { z } from 'zod';
import { ZAlert, ZAlertDetail, ZAlertIdInput, ZAlertList, ZAlertSettings, ZListAlertsInput, ZMuteInput, ZUpdateAlertSettingsInput, type TAlert, type TAlertSettings } from '../schemas/alerts.js';
import { acknowledgeAlert, getAlert, getAlertSettings, listAlerts, setMute, updateAlertSettings, type AlertDelivery, type AlertView } from '../services/alerts.js';
import type { Settings } from '../services/settings.js';
import { router, tenantProcedure } from '../trpc.js';

export const toApiAlert = (a: AlertView): TAlert => ({
  id: a.id,
  kind: a.kind,
  status: a.status,
  meter_id: a.meterId,
  event_name: a.eventName,
  unit_name: a.unitName,
  user_id: a.userId,
  threshold: a.threshold,
  used: a.used,
  limit: a.limitValue,
  period_start: a.periodStart.toISOString(),
  period_end: a.periodEnd.toISOString(),
  created_at: a.createdAt.toISOString(),
  acknowledged_at: a.acknowledgedAt?.toISOString() ?? null,
  acknowledged_by: a.acknowledgedBy,
  resolved_at: a.resolvedAt?.toISOString() ?? null,
});

const toApiDelivery = (d: AlertDelivery) =>
  d.channel === 'email'
    ? { channel: d.channel, id: d.id, status: d.status, to: d.to, recipient: d.recipient, error: d.error, created_at: d.at.toISOString() }
    : {
        channel: d.channel,
        id: d.id,
        status: d.status,
        endpoint_id: d.endpointId,
        attempts: d.attempts,
        last_status_code: d.lastStatusCode,
        error: d.lastError,
        created_at: d.at.toISOString(),
      };

const toApiAlertSettings = (s: Settings): TAlertSettings => ({
  creator_email: s.alertEmail,
  email_customers: s.emailCustomers,
  email_kinds: s.alertEmailKinds,
  upgrade_url: s.upgradeUrl,
});

/** Who acknowledged: the key's prefix or the dashboard session's creator. */
const actorOf = (auth: { kind: string; prefix?: string; creatorId: string }) => (auth.kind === 'api_key' ? `api_key:${auth.prefix}` : `dashboard:${auth.creatorId}`);

export const alertsRouter = router({
  list: tenantProcedure('read')
    .input(ZListAlertsInput)
    .output(ZAlertList)
    .query(async ({ ctx, input }) => ({ alerts: (await listAlerts(ctx.rt, ctx.creatorId, input)).map(toApiAlert) })),

  get: tenantProcedure('read')
    .input(ZAlertIdInput)
    .output(ZAlertDetail)
    .query(async ({ ctx, input }) => {
      const alert = await getAlert(ctx.rt, ctx.creatorId, input.id);
      return { ...toApiAlert(alert), deliveries: alert.deliveries.map(toApiDelivery) };
    }),

  acknowledge: tenantProcedure('admin')
    .input(ZAlertIdInput)
    .output(ZAlert)
    .mutation(async ({ ctx, input }) => toApiAlert(await acknowledgeAlert(ctx.rt, ctx.creatorId, input.id, actorOf(ctx.auth)))),

  mute: tenantProcedure('admin')
    .input(ZMuteInput.extend({ muted: z.boolean().default(true) }))
    .output(z.object({ user_id: z.string(), meter_id: z.uuid(), muted: z.boolean() }))
    .mutation(async ({ ctx, input }) => {
      await setMute(ctx.rt, ctx.creatorId, { userId: input.user_id, meterId: input.meter_id, muted: input.muted });
      return { user_id: input.user_id, meter_id: input.meter_id, muted: input.muted };
    }),

  settings: tenantProcedure('read')
    .output(ZAlertSettings)
    .query(async ({ ctx }) => toApiAlertSettings(await getAlertSettings(ctx.rt, ctx.creatorId))),

  updateSettings: tenantProcedure('admin')
    .input(ZUpdateAlertSettingsInput)
    .output(ZAlertSettings)
    .mutation(async ({ ctx, input }) => toApiAlertSettings(await updateAlertSettings(ctx.rt, ctx.creatorId, input))),
});
