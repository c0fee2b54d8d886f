import type { Alert } from '../../db/queries/alerts.js';
import type { Creator } from '../../db/queries/creators.js';
import type { Customer } from '../../db/queries/customers.js';
import type { Meter } from '../../db/queries/meters.js';
import type { Settings } from '../../db/queries/settings.js';
import type { AlertKind, WebhookEventType } from '../../db/schema.js';

/** Everything a notification about one alert needs, loaded once by alerts.notify. */
export type AlertContext = {
  alert: Alert;
  meter: Meter;
  customer: Customer;
  settings: Settings;
  creator: Creator;
};

export const WEBHOOK_EVENT_OF = {
  soft_limit_reached: 'usage.soft_limit_reached',
  hard_limit_reached: 'usage.hard_limit_reached',
  overage_started: 'usage.overage_started',
  threshold_reached: 'usage.threshold_reached',
} as const satisfies Record<AlertKind, WebhookEventType>;

/**
 * The webhook body of DESIGN.md: {"type","timestamp","data":{…}}. `timestamp` is when the
 * event happened (Standard Webhooks): the alert's creation, however late workers notify it.
 */
export function alertWebhookPayload(ctx: AlertContext) {
  return {
    type: WEBHOOK_EVENT_OF[ctx.alert.kind],
    timestamp: ctx.alert.createdAt.toISOString(),
    data: {
      user_id: ctx.customer.userId,
      meter_id: ctx.meter.id,
      event_name: ctx.meter.eventName,
      used: ctx.alert.used,
      limit: ctx.alert.limitValue,
      threshold: ctx.alert.threshold,
      period_start: ctx.alert.periodStart.toISOString(),
      period_end: ctx.alert.periodEnd.toISOString(),
    },
  };
}
