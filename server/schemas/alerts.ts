import { z } from 'zod';
import { ALERT_KINDS, ALERT_STATUSES } from '../../db/schema.js';
import { ZInstantInput, ZLimit, ZMailbox, ZText } from './common.js';

export { ALERT_KINDS, ALERT_STATUSES };

export const ZListAlertsInput = z
  .object({
    user_id: ZText(256).min(1).optional(),
    meter_id: z.uuid('must be a UUID').optional(),
    kind: z.enum(ALERT_KINDS).optional(),
    status: z.enum(ALERT_STATUSES).optional(),
    limit: ZLimit(500, 100),
    before: ZInstantInput('must be an RFC 3339 timestamp').optional().describe('Only alerts created before this instant (the `created_at` of the last one shown)'),
    before_id: z
      .uuid('must be a UUID')
      .optional()
      .describe('With `before`, the `id` of the last alert shown: the next page then starts right after it, alerts created at that same instant included'),
  })
  .strict()
  .refine((input) => input.before_id === undefined || input.before !== undefined, { path: ['before_id'], message: 'needs before (the created_at of the same alert)' });
export type TListAlertsInput = z.infer<typeof ZListAlertsInput>;

export const ZAlert = z.object({
  id: z.uuid(),
  kind: z.enum(ALERT_KINDS),
  status: z.enum(ALERT_STATUSES),
  meter_id: z.uuid(),
  event_name: z.string(),
  unit_name: z.string().describe('The unit `used` and `limit` are in: the meter\'s `unit_name`'),
  user_id: z.string(),
  threshold: z.string(),
  used: z.string(),
  limit: z.string(),
  period_start: z.iso.datetime(),
  period_end: z.iso.datetime(),
  created_at: z.iso.datetime(),
  acknowledged_at: z.iso.datetime().nullable(),
  acknowledged_by: z.string().nullable(),
  resolved_at: z.iso.datetime().nullable(),
});
export type TAlert = z.infer<typeof ZAlert>;

export const ZAlertList = z.object({ alerts: z.array(ZAlert) });

export const ZAlertDelivery = z.object({
  channel: z.enum(['email', 'webhook']),
  id: z.string(),
  status: z.string(),
  to: z.string().optional(),
  recipient: z.string().optional(),
  endpoint_id: z.string().optional(),
  attempts: z.number().int().optional(),
  last_status_code: z.number().int().nullable().optional(),
  error: z.string().nullable(),
  created_at: z.iso.datetime(),
});
export const ZAlertDetail = ZAlert.extend({ deliveries: z.array(ZAlertDelivery) });

export const ZAlertIdInput = z.object({ id: z.uuid('must be a UUID') });

export const ZMuteInput = z.object({ user_id: ZText(256).min(1, 'must not be empty'), meter_id: z.uuid('must be a UUID') }).strict();

export const ZAlertSettings = z.object({
  creator_email: z.string().nullable(),
  email_customers: z.boolean(),
  email_kinds: z.array(z.enum(ALERT_KINDS)),
  upgrade_url: z.string().nullable(),
});
export type TAlertSettings = z.infer<typeof ZAlertSettings>;

export const ZUpdateAlertSettingsInput = z
  .object({
    creator_email: ZMailbox.nullable().optional(),
    email_customers: z.boolean({ error: 'must be true or false' }).optional(),
    email_kinds: z.array(z.enum(ALERT_KINDS)).max(ALERT_KINDS.length).transform((k) => [...new Set(k)]).optional(),
    upgrade_url: ZText(2000)
      .pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }))
      .nullable()
      .optional(),
  })
  .strict();
export type TUpdateAlertSettingsInput = z.infer<typeof ZUpdateAlertSettingsInput>;
