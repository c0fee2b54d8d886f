import { and, arrayContains, asc, desc, eq, inArray, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { webhookAttempts, webhookEndpoints, webhookMessages, type WEBHOOK_MESSAGE_STATUSES, type WebhookEventType } from '../schema.js';

export type WebhookMessageStatus = (typeof WEBHOOK_MESSAGE_STATUSES)[number];

/** An endpoint without its signing secret (see findEndpointSecret). */
export type WebhookEndpoint = {
  id: string;
  creatorId: string;
  url: string;
  eventTypes: WebhookEventType[];
  enabled: boolean;
  disabledReason: string | null;
  failingSince: Date | null;
  /** Until when messages are signed with the secret before the last rotation too (null: no such secret). */
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

const fromDbEndpoint = (row: typeof webhookEndpoints.$inferSelect): WebhookEndpoint => ({
  id: row.endpointId,
  creatorId: row.creatorId,
  url: row.url,
  eventTypes: row.eventTypes,
  enabled: row.enabled,
  disabledReason: row.disabledReason,
  failingSince: row.failingSince,
  previousSecretExpiresAt: row.previousSecretExpiresAt,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

/** Every column but the secret. */
const endpointColumns = {
  endpointId: webhookEndpoints.endpointId,
  creatorId: webhookEndpoints.creatorId,
  url: webhookEndpoints.url,
  eventTypes: webhookEndpoints.eventTypes,
  enabled: webhookEndpoints.enabled,
  disabledReason: webhookEndpoints.disabledReason,
  failingSince: webhookEndpoints.failingSince,
  previousSecretExpiresAt: webhookEndpoints.previousSecretExpiresAt,
  createdAt: webhookEndpoints.createdAt,
  updatedAt: webhookEndpoints.updatedAt,
};
const fromEndpointColumns = (row: Omit<typeof webhookEndpoints.$inferSelect, 'secret' | 'previousSecret'>) => fromDbEndpoint({ ...row, secret: '', previousSecret: null });

export type NewWebhookEndpoint = { creatorId: string; id: string; url: string; eventTypes: WebhookEventType[]; secret: string };

export async function insertEndpoint(tx: Queryable, endpoint: NewWebhookEndpoint, at: Date): Promise<WebhookEndpoint> {
  const [row] = await tx
    .insert(webhookEndpoints)
    .values({
      creatorId: endpoint.creatorId,
      endpointId: endpoint.id,
      url: endpoint.url,
      eventTypes: endpoint.eventTypes,
      secret: endpoint.secret,
      createdAt: at,
      updatedAt: at,
    })
    .returning(endpointColumns);
  return fromEndpointColumns(row!);
}

export async function listEndpoints(tx: Queryable): Promise<WebhookEndpoint[]> {
  const rows = await tx.select(endpointColumns).from(webhookEndpoints).orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.endpointId));
  return rows.map(fromEndpointColumns);
}

export async function findEndpoint(tx: Queryable, endpointId: string, options: { forUpdate?: boolean } = {}): Promise<WebhookEndpoint | null> {
  const query = tx.select(endpointColumns).from(webhookEndpoints).where(eq(webhookEndpoints.endpointId, endpointId));
  const [row] = options.forUpdate ? await query.for('update') : await query;
  return row ? fromEndpointColumns(row) : null;
}

/** When the attempts now being sent to an endpoint (other than this message's) stop holding it: their claims' ends, earliest first. */
export async function listEndpointClaims(tx: Queryable, endpointId: string, exceptMessageId: string, now: Date): Promise<Date[]> {
  const rows = await tx
    .select({ until: webhookMessages.sendingUntil })
    .from(webhookMessages)
    .where(
      and(
        eq(webhookMessages.endpointId, endpointId),
        sql`${webhookMessages.sendingUntil} is not null`,
        sql`${webhookMessages.sendingUntil} > ${now.toISOString()}::timestamptz`,
        sql`${webhookMessages.messageId} <> ${exceptMessageId}`,
      ),
    )
    .orderBy(asc(webhookMessages.sendingUntil));
  return rows.map((r) => r.until!);
}

/** The signing secrets, for delivery only: they never leave the server. */
export async function findEndpointSecrets(tx: Queryable, endpointId: string): Promise<{ secret: string; previousSecret: string | null; previousSecretExpiresAt: Date | null } | null> {
  const [row] = await tx
    .select({ secret: webhookEndpoints.secret, previousSecret: webhookEndpoints.previousSecret, previousSecretExpiresAt: webhookEndpoints.previousSecretExpiresAt })
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.endpointId, endpointId));
  return row ?? null;
}

/**
 * A new signing secret; the one it replaces signs messages too until `previousExpiresAt` (null:
 * not at all). A secret rotated again before that replaces the previous one: only the secret
 * being replaced is kept.
 */
export async function rotateEndpointSecret(tx: Queryable, endpointId: string, secret: string, previousExpiresAt: Date | null, at: Date): Promise<WebhookEndpoint | null> {
  const [row] = await tx
    .update(webhookEndpoints)
    .set({
      previousSecret: previousExpiresAt ? sql`${webhookEndpoints.secret}` : null,
      previousSecretExpiresAt: previousExpiresAt,
      secret,
      updatedAt: at,
    })
    .where(eq(webhookEndpoints.endpointId, endpointId))
    .returning(endpointColumns);
  return row ? fromEndpointColumns(row) : null;
}

export type EndpointFields = Partial<Pick<WebhookEndpoint, 'url' | 'eventTypes' | 'enabled' | 'disabledReason' | 'failingSince'>>;

export async function updateEndpointRow(tx: Queryable, endpointId: string, fields: EndpointFields, at: Date): Promise<WebhookEndpoint | null> {
  const [row] = await tx
    .update(webhookEndpoints)
    .set({ ...fields, updatedAt: at })
    .where(eq(webhookEndpoints.endpointId, endpointId))
    .returning(endpointColumns);
  return row ? fromEndpointColumns(row) : null;
}

export async function deleteEndpointRow(tx: Queryable, endpointId: string): Promise<boolean> {
  const rows = await tx.delete(webhookEndpoints).where(eq(webhookEndpoints.endpointId, endpointId)).returning({ id: webhookEndpoints.endpointId });
  return rows.length > 0;
}

/** Enabled endpoints subscribed to `eventType`. */
export async function listSubscribedEndpoints(tx: Queryable, eventType: WebhookEventType): Promise<WebhookEndpoint[]> {
  const rows = await tx
    .select(endpointColumns)
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.enabled, true), arrayContains(webhookEndpoints.eventTypes, [eventType])))
    .orderBy(asc(webhookEndpoints.createdAt));
  return rows.map(fromEndpointColumns);
}

/**
 * A failed attempt (at `at`, already recorded) continues the endpoint's run of failures,
 * or starts one now: when none is running, or when no attempt was made in the `gapMs`
 * before it — failures days apart with nothing between are not one outage.
 */
export async function markEndpointFailing(tx: Queryable, endpointId: string, at: Date, gapMs: number): Promise<WebhookEndpoint | null> {
  const now = sql`${at.toISOString()}::timestamptz`;
  const [row] = await tx
    .update(webhookEndpoints)
    .set({
      failingSince: sql`case when ${webhookEndpoints.failingSince} is not null and exists (
          select 1 from webhook_attempts a
          where a.creator_id = ${webhookEndpoints.creatorId} and a.endpoint_id = ${endpointId}
            and a.attempted_at < ${now} and a.attempted_at >= ${now} - ${`${gapMs} milliseconds`}::interval
        ) then ${webhookEndpoints.failingSince} else ${now} end`,
    })
    .where(eq(webhookEndpoints.endpointId, endpointId))
    .returning(endpointColumns);
  return row ? fromEndpointColumns(row) : null;
}

export async function markEndpointHealthy(tx: Queryable, endpointId: string): Promise<void> {
  await tx
    .update(webhookEndpoints)
    .set({ failingSince: null })
    .where(and(eq(webhookEndpoints.endpointId, endpointId), sql`${webhookEndpoints.failingSince} is not null`));
}

export type WebhookMessage = {
  id: string;
  creatorId: string;
  endpointId: string;
  /** null for test events. */
  alertId: string | null;
  eventType: string;
  payload: unknown;
  status: WebhookMessageStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  /** While an attempt is being sent: the time until which no other run sends it. */
  sendingUntil: Date | null;
  createdAt: Date;
};

const fromDbMessage = (row: typeof webhookMessages.$inferSelect): WebhookMessage => ({
  id: row.messageId,
  creatorId: row.creatorId,
  endpointId: row.endpointId,
  alertId: row.alertId,
  eventType: row.eventType,
  payload: row.payload,
  status: row.status,
  attempts: row.attempts,
  nextAttemptAt: row.nextAttemptAt,
  deliveredAt: row.deliveredAt,
  sendingUntil: row.sendingUntil,
  createdAt: row.createdAt,
});

export type NewWebhookMessage = Pick<WebhookMessage, 'id' | 'creatorId' | 'endpointId' | 'alertId' | 'eventType' | 'payload' | 'nextAttemptAt'>;

/**
 * Inserts the messages that do not exist yet — one per alert × endpoint (the unique
 * key), so a retried notification writes none twice. Returns only the new rows.
 */
export async function insertMessagesOnce(tx: Queryable, messages: NewWebhookMessage[], at: Date): Promise<WebhookMessage[]> {
  if (messages.length === 0) return [];
  const rows = await tx
    .insert(webhookMessages)
    .values(
      messages.map((m) => ({
        creatorId: m.creatorId,
        messageId: m.id,
        endpointId: m.endpointId,
        alertId: m.alertId,
        eventType: m.eventType,
        payload: m.payload,
        nextAttemptAt: m.nextAttemptAt,
        createdAt: at,
      })),
    )
    .onConflictDoNothing()
    .returning();
  return rows.map(fromDbMessage);
}

/** With `forUpdate`, concurrent deliveries of one message wait for each other. */
export async function findMessage(tx: Queryable, messageId: string, options: { forUpdate?: boolean } = {}): Promise<WebhookMessage | null> {
  const query = tx.select().from(webhookMessages).where(eq(webhookMessages.messageId, messageId));
  const [row] = options.forUpdate ? await query.for('update') : await query;
  return row ? fromDbMessage(row) : null;
}

export type MessageFields = Partial<Pick<WebhookMessage, 'status' | 'attempts' | 'nextAttemptAt' | 'deliveredAt' | 'sendingUntil'>>;

export async function updateMessageRow(tx: Queryable, messageId: string, fields: MessageFields): Promise<void> {
  await tx.update(webhookMessages).set(fields).where(eq(webhookMessages.messageId, messageId));
}

/** Pending messages of an endpoint become failed (the endpoint is going away). */
export async function failPendingMessages(tx: Queryable, endpointId: string): Promise<void> {
  await tx
    .update(webhookMessages)
    .set({ status: 'failed', nextAttemptAt: null })
    .where(and(eq(webhookMessages.endpointId, endpointId), eq(webhookMessages.status, 'pending')));
}

export type WebhookAttempt = {
  id: string;
  messageId: string;
  endpointId: string;
  attemptedAt: Date;
  statusCode: number | null;
  latencyMs: number;
  responseSnippet: string | null;
  error: string | null;
};

const fromDbAttempt = (row: typeof webhookAttempts.$inferSelect): WebhookAttempt => ({
  id: row.attemptId,
  messageId: row.messageId,
  endpointId: row.endpointId,
  attemptedAt: row.attemptedAt,
  statusCode: row.statusCode,
  latencyMs: row.latencyMs,
  responseSnippet: row.responseSnippet,
  error: row.error,
});

export async function insertAttempt(tx: Queryable, creatorId: string, attempt: WebhookAttempt): Promise<WebhookAttempt> {
  const [row] = await tx
    .insert(webhookAttempts)
    .values({
      creatorId,
      attemptId: attempt.id,
      messageId: attempt.messageId,
      endpointId: attempt.endpointId,
      attemptedAt: attempt.attemptedAt,
      statusCode: attempt.statusCode,
      latencyMs: attempt.latencyMs,
      responseSnippet: attempt.responseSnippet,
      error: attempt.error,
    })
    .returning();
  return fromDbAttempt(row!);
}

/** The endpoint's latest attempts, newest first. */
export async function listRecentAttempts(tx: Queryable, endpointId: string, limit: number): Promise<WebhookAttempt[]> {
  const rows = await tx
    .select()
    .from(webhookAttempts)
    .where(eq(webhookAttempts.endpointId, endpointId))
    .orderBy(desc(webhookAttempts.attemptedAt), desc(webhookAttempts.attemptId))
    .limit(limit);
  return rows.map(fromDbAttempt);
}

export type MessageWithAttempts = WebhookMessage & { attemptLog: WebhookAttempt[] };

/**
 * An endpoint's messages, newest first, each with its attempts (oldest first). Keyset on
 * (created_at desc, message_id desc): messages of alerts notified in the same millisecond
 * share a created_at, so `before` alone would skip the rest of that instant; `beforeId`
 * (the last message shown) resumes right after it. created_at is written from a JS Date: a cursor in
 * milliseconds is exact.
 */
export async function listMessagesWithAttempts(
  tx: Queryable,
  endpointId: string,
  options: { limit: number; before?: Date; beforeId?: string },
): Promise<MessageWithAttempts[]> {
  const conditions: SQL[] = [eq(webhookMessages.endpointId, endpointId)];
  if (options.before && options.beforeId) {
    conditions.push(lte(webhookMessages.createdAt, options.before));
    conditions.push(or(lt(webhookMessages.createdAt, options.before), lt(webhookMessages.messageId, options.beforeId))!);
  } else if (options.before) {
    conditions.push(lt(webhookMessages.createdAt, options.before));
  }
  const messages = (
    await tx
      .select()
      .from(webhookMessages)
      .where(and(...conditions))
      .orderBy(desc(webhookMessages.createdAt), desc(webhookMessages.messageId))
      .limit(options.limit)
  ).map(fromDbMessage);
  if (messages.length === 0) return [];
  const attempts = (
    await tx
      .select()
      .from(webhookAttempts)
      .where(inArray(webhookAttempts.messageId, messages.map((m) => m.id)))
      .orderBy(asc(webhookAttempts.attemptedAt), asc(webhookAttempts.attemptId))
  ).map(fromDbAttempt);
  return messages.map((m) => ({ ...m, attemptLog: attempts.filter((a) => a.messageId === m.id) }));
}
