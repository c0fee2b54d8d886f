import { z } from 'zod';
import { WEBHOOK_EVENT_TYPES, WEBHOOK_MESSAGE_STATUSES } from '../../db/schema.js';
import { ZInstantInput, ZLimit, ZText } from './common.js';

export { WEBHOOK_EVENT_TYPES };

/**
 * An absolute http(s) URL with a host and no credentials in it (they would be stored and
 * shown in clear; endpoints authenticate us by the signature instead). Whether the host
 * is a public address is checked by the service, which resolves it.
 */
export const ZWebhookUrl = ZText(2048)
  .trim()
  .min(1, 'is required')
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      // A port past 65535 makes the URL unparsable: say so rather than "not a URL".
      const port = /^https?:\/\/[^/?#]*:(\d+)(?:[/?#]|$)/i.exec(value)?.[1];
      if (port !== undefined && Number(port) > 65535) ctx.addIssue({ code: 'custom', message: `must use a port from 1 to 65535, not ${port.slice(0, 20)}` });
      else ctx.addIssue({ code: 'custom', message: 'must be an absolute http or https URL' });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must use http or https' });
    else if (!url.hostname || !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]/i.test(value)) ctx.addIssue({ code: 'custom', message: 'must have a host' });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not contain a user name or password' });
    // Nothing listens on port 0: such an endpoint was registered (201) and every delivery failed.
    if (url.port === '0') ctx.addIssue({ code: 'custom', message: 'must not use port 0: give the port the endpoint listens on (1–65535), or none' });
  })
  // The normalised form is what we store and call.
  .transform((value) => new URL(value).toString());

const eventTypeList = `one of ${WEBHOOK_EVENT_TYPES.join(', ')}`;

export const ZWebhookEventType = z.enum(WEBHOOK_EVENT_TYPES, { error: `must be ${eventTypeList}` });

const ZEventTypes = z
  .array(ZWebhookEventType, { error: 'must be an array of event types' })
  .min(1, `must name at least one event type (${eventTypeList})`)
  .max(WEBHOOK_EVENT_TYPES.length * 4, 'too many event types')
  .transform((types) => [...new Set(types)]);

export const ZCreateWebhookInput = z
  .object({
    url: ZWebhookUrl,
    events: ZEventTypes,
    enabled: z.boolean({ error: 'must be true or false' }).default(true),
  })
  .strict();
export type TCreateWebhookInput = z.infer<typeof ZCreateWebhookInput>;

/** Re-enabling (`enabled: true`) clears the reason an endpoint was disabled. */
export const ZUpdateWebhookInput = z
  .object({
    url: ZWebhookUrl.optional(),
    events: ZEventTypes.optional(),
    enabled: z.boolean({ error: 'must be true or false' }).optional(),
  })
  .strict();
export type TUpdateWebhookInput = z.infer<typeof ZUpdateWebhookInput>;

export const ZWebhookIdInput = z.object({ id: z.uuid('must be a UUID') });

export const ZMessageId = z.string().regex(/^msg_[A-Za-z0-9_-]{1,64}$/, 'must be a message id (msg_…)');
export const ZReplayInput = z.object({ message_id: ZMessageId });

export const ZWebhook = z.object({
  id: z.uuid(),
  url: z.string(),
  events: z.array(ZWebhookEventType),
  enabled: z.boolean(),
  /** Why the endpoint was disabled (automatically after sustained failures, or by the creator). */
  disabled_reason: z.string().nullable(),
  /** Start of the current run of failed deliveries; null when the last delivery succeeded. */
  failing_since: z.iso.datetime().nullable(),
  /** Until when messages carry a second signature, by the secret the last rotation replaced (past: it stopped then); null when none was kept. */
  previous_secret_expires_at: z.iso.datetime().nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type TWebhook = z.infer<typeof ZWebhook>;

export const ZCreatedWebhook = ZWebhook.extend({
  /** Standard Webhooks signing secret (whsec_…): shown once, never returned again. */
  secret: z.string(),
});
export type TCreatedWebhook = z.infer<typeof ZCreatedWebhook>;

export const ZWebhookList = z.object({ webhooks: z.array(ZWebhook) });

/** Rotating an endpoint's signing secret: how long the secret it replaces keeps signing too. */
export const ZRotateWebhookSecretInput = z.strictObject({
  previous_secret_expires_in_hours: z
    .number('must be a number of hours')
    .int('must be a whole number of hours')
    .min(0, 'must be 0 (the old secret stops at once) to 168 (7 days)')
    .max(168, 'must be 0 (the old secret stops at once) to 168 (7 days)')
    .default(24),
});
export type TRotateWebhookSecretInput = z.infer<typeof ZRotateWebhookSecretInput>;

export const ZDeletedWebhook = z.object({ id: z.uuid(), deleted: z.literal(true) });

/** One HTTP attempt at a message. */
export const ZWebhookAttempt = z.object({
  id: z.uuid(),
  attempted_at: z.iso.datetime(),
  /** null when no HTTP answer came (refused, connection error, timeout). */
  status_code: z.number().int().nullable(),
  success: z.boolean(),
  latency_ms: z.number().int(),
  /** The first 500 characters of the response body. */
  response_snippet: z.string().nullable(),
  error: z.string().nullable(),
});
export type TWebhookAttempt = z.infer<typeof ZWebhookAttempt>;

/** The answer of a test send or a replay: the attempt just made. */
export const ZWebhookAttemptResult = ZWebhookAttempt.extend({ message_id: z.string() });
export type TWebhookAttemptResult = z.infer<typeof ZWebhookAttemptResult>;

export const ZWebhookMessage = z.object({
  /** The `webhook-id` header of every attempt. */
  id: z.string(),
  event_type: z.string(),
  alert_id: z.uuid().nullable(),
  test: z.boolean(),
  status: z.enum(WEBHOOK_MESSAGE_STATUSES),
  payload: z.unknown(),
  attempt_count: z.number().int(),
  next_attempt_at: z.iso.datetime().nullable(),
  delivered_at: z.iso.datetime().nullable(),
  created_at: z.iso.datetime(),
  attempts: z.array(ZWebhookAttempt),
});
export type TWebhookMessage = z.infer<typeof ZWebhookMessage>;

export const ZWebhookDeliveries = z.object({ messages: z.array(ZWebhookMessage) });

export const ZListDeliveriesInput = z
  .object({
    limit: ZLimit(200, 50),
    before: ZInstantInput('must be an RFC 3339 timestamp').optional().describe('Only messages created before this instant (the `created_at` of the last one shown)'),
    before_id: ZMessageId.optional().describe(
      'With `before`, the `id` of the last message shown: the next page then starts right after it, messages created at that same instant included',
    ),
  })
  .strict()
  .refine((input) => input.before_id === undefined || input.before !== undefined, { path: ['before_id'], message: 'needs before (the created_at of the same message)' });
export type TListDeliveriesInput = z.infer<typeof ZListDeliveriesInput>;

type EndpointDomain = {
  id: string;
  url: string;
  eventTypes: Array<z.infer<typeof ZWebhookEventType>>;
  enabled: boolean;
  disabledReason: string | null;
  failingSince: Date | null;
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

/**
 * A webhook URL as shown to a caller that may not change it: its origin only. The path and
 * query of many receivers (chat incoming webhooks, say) are a credential for posting there;
 * a read-only API key sees where messages go, not how to send them.
 */
export function maskedWebhookUrl(url: string): string {
  try {
    return `${new URL(url).origin}/…`;
  } catch {
    return '…';
  }
}

export const toApiWebhook = (endpoint: EndpointDomain, options: { maskUrl?: boolean } = {}): TWebhook => ({
  id: endpoint.id,
  url: options.maskUrl ? maskedWebhookUrl(endpoint.url) : endpoint.url,
  events: endpoint.eventTypes,
  enabled: endpoint.enabled,
  disabled_reason: endpoint.disabledReason,
  failing_since: endpoint.failingSince?.toISOString() ?? null,
  previous_secret_expires_at: endpoint.previousSecretExpiresAt?.toISOString() ?? null,
  created_at: endpoint.createdAt.toISOString(),
  updated_at: endpoint.updatedAt.toISOString(),
});

type AttemptDomain = {
  id: string;
  attemptedAt: Date;
  statusCode: number | null;
  latencyMs: number;
  responseSnippet: string | null;
  error: string | null;
};

export const isSuccessStatus = (status: number | null) => status !== null && status >= 200 && status < 300;

export const toApiAttempt = (attempt: AttemptDomain): TWebhookAttempt => ({
  id: attempt.id,
  attempted_at: attempt.attemptedAt.toISOString(),
  status_code: attempt.statusCode,
  success: isSuccessStatus(attempt.statusCode),
  latency_ms: attempt.latencyMs,
  response_snippet: attempt.responseSnippet,
  error: attempt.error,
});

type MessageDomain = {
  id: string;
  eventType: string;
  alertId: string | null;
  payload: unknown;
  status: (typeof WEBHOOK_MESSAGE_STATUSES)[number];
  attempts: number;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
  attemptLog: AttemptDomain[];
};

export const toApiWebhookMessage = (message: MessageDomain): TWebhookMessage => ({
  id: message.id,
  event_type: message.eventType,
  alert_id: message.alertId,
  test: (message.payload as { test?: unknown } | null)?.test === true,
  status: message.status,
  payload: message.payload,
  attempt_count: message.attempts,
  next_attempt_at: message.nextAttemptAt?.toISOString() ?? null,
  delivered_at: message.deliveredAt?.toISOString() ?? null,
  created_at: message.createdAt.toISOString(),
  attempts: message.attemptLog.map(toApiAttempt),
});
