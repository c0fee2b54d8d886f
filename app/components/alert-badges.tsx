import { Badge } from '@tremor/react';
import type { TEmailList } from '../../server/routers/emails';
import type { TAlert } from '../../server/schemas/alerts';
import type { TWebhook, TWebhookMessage } from '../../server/schemas/webhooks';
import { formatFractionAsPercent } from '~/lib/numbers';

/**
 * Words and colours for alert kinds, statuses and delivery outcomes. Each table is typed
 * by the server's own enum, so a new kind or status fails typecheck until it is described
 * here (and the browser bundle carries no server code: types only).
 */
export type AlertKind = TAlert['kind'];
export type AlertStatus = TAlert['status'];
export type WebhookEventType = TWebhook['events'][number];
type EmailStatus = TEmailList['emails'][number]['status'];
type WebhookMessageStatus = TWebhookMessage['status'];
type Color = 'amber' | 'red' | 'orange' | 'sky' | 'emerald' | 'gray' | 'violet' | 'blue';

export const ALERT_KINDS = {
  soft_limit_reached: { label: 'Soft limit reached', color: 'amber', description: 'Usage crossed the plan’s soft-limit threshold (e.g. 80 % of the limit).' },
  hard_limit_reached: { label: 'Hard limit reached', color: 'red', description: 'A hard-capped customer used their whole limit; further events are refused.' },
  overage_started: { label: 'Overage started', color: 'orange', description: 'A customer without a hard cap went past the limit and now pays overage.' },
  threshold_reached: { label: 'Threshold reached', color: 'violet', description: 'One of the meter’s extra thresholds (e.g. 50 %, 90 %) was crossed.' },
} as const satisfies Record<AlertKind, { label: string; color: Color; description: string }>;

export const ALERT_STATUSES = {
  open: { label: 'Open', color: 'red' },
  acknowledged: { label: 'Acknowledged', color: 'sky' },
  resolved: { label: 'Resolved', color: 'gray' },
} as const satisfies Record<AlertStatus, { label: string; color: Color }>;

export const WEBHOOK_EVENTS = {
  'usage.soft_limit_reached': { kind: 'soft_limit_reached' },
  'usage.hard_limit_reached': { kind: 'hard_limit_reached' },
  'usage.overage_started': { kind: 'overage_started' },
  'usage.threshold_reached': { kind: 'threshold_reached' },
} as const satisfies Record<WebhookEventType, { kind: AlertKind }>;

const EMAIL_STATUSES = {
  sent: { label: 'Sent', color: 'emerald', title: 'Handed to the SMTP server.' },
  outbox: { label: 'Outbox', color: 'blue', title: 'Kept here: no SMTP server is configured (SMTP_URL).' },
  pending: { label: 'Pending', color: 'amber', title: 'Waiting to be sent, or being retried after an SMTP failure.' },
  failed: { label: 'Failed', color: 'red', title: 'Given up after the last retry.' },
} as const satisfies Record<EmailStatus, { label: string; color: Color; title: string }>;

const WEBHOOK_MESSAGE_STATUSES = {
  delivered: { label: 'Delivered', color: 'emerald', title: 'The endpoint answered 2xx.' },
  pending: { label: 'Pending', color: 'amber', title: 'Not delivered yet; retried with backoff for up to 3 days.' },
  failed: { label: 'Failed', color: 'red', title: 'Given up (or the endpoint was deleted).' },
} as const satisfies Record<WebhookMessageStatus, { label: string; color: Color; title: string }>;

export const ALERT_KIND_NAMES = Object.keys(ALERT_KINDS) as AlertKind[];
export const ALERT_STATUS_NAMES = Object.keys(ALERT_STATUSES) as AlertStatus[];
export const WEBHOOK_EVENT_NAMES = Object.keys(WEBHOOK_EVENTS) as WebhookEventType[];

export const isAlertKind = (value: unknown): value is AlertKind => typeof value === 'string' && Object.hasOwn(ALERT_KINDS, value);
export const isAlertStatus = (value: unknown): value is AlertStatus => typeof value === 'string' && Object.hasOwn(ALERT_STATUSES, value);
export const isWebhookEvent = (value: unknown): value is WebhookEventType => typeof value === 'string' && Object.hasOwn(WEBHOOK_EVENTS, value);

export function AlertKindBadge({ kind }: { kind: AlertKind }) {
  return (
    <span title={ALERT_KINDS[kind].description} className="inline-flex">
      <Badge color={ALERT_KINDS[kind].color} size="xs">
        {ALERT_KINDS[kind].label}
      </Badge>
    </span>
  );
}

export function AlertStatusBadge({ status }: { status: AlertStatus }) {
  return (
    <span className="inline-flex" data-testid="alert-status">
      <Badge color={ALERT_STATUSES[status].color} size="xs">
        {ALERT_STATUSES[status].label}
      </Badge>
    </span>
  );
}

/** An email's or a webhook message's delivery status (an unknown one is shown as it is, in grey). */
export function DeliveryStatusBadge({ channel, status }: { channel: 'email' | 'webhook'; status: string }) {
  const table: Record<string, { label: string; color: Color; title: string }> = channel === 'email' ? EMAIL_STATUSES : WEBHOOK_MESSAGE_STATUSES;
  const known = Object.hasOwn(table, status) ? table[status] : undefined;
  return (
    <span title={known?.title} className="inline-flex" data-testid="delivery-status">
      <Badge color={known?.color ?? 'gray'} size="xs">
        {known?.label ?? status}
      </Badge>
    </span>
  );
}

/** A threshold fraction ("0.8") as a percentage ("80 %"). */
export const formatThreshold = (fraction: string): string => formatFractionAsPercent(fraction);
