import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, json, jsonb, numeric, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/**
 * Every tenant table carries creator_id and leads its primary key with it, so rows
 * of one creator sit together and the schema can be distributed by creator_id (Citus)
 * without changing a query. RLS policies live in custom migrations (db/migrations).
 */

export const API_KEY_SCOPES = ['track', 'read', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export const AGGREGATION_TYPES = ['count', 'sum', 'max', 'unique', 'duration'] as const;
export type AggregationType = (typeof AGGREGATION_TYPES)[number];
export const BILLING_MODELS = ['metered', 'licensed'] as const;
export type BillingModel = (typeof BILLING_MODELS)[number];
export const AGGREGATE_WINDOWS = ['period', 'hour', 'day'] as const;
export type AggregateWindow = (typeof AGGREGATE_WINDOWS)[number];

export const ALERT_KINDS = ['soft_limit_reached', 'hard_limit_reached', 'overage_started', 'threshold_reached'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
export const ALERT_STATUSES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];
/** Webhook event types, one per alert kind. */
export const WEBHOOK_EVENT_TYPES = ['usage.soft_limit_reached', 'usage.hard_limit_reached', 'usage.overage_started', 'usage.threshold_reached'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const WEBHOOK_MESSAGE_STATUSES = ['pending', 'delivered', 'failed'] as const;
export const EMAIL_STATUSES = ['pending', 'sent', 'outbox', 'failed'] as const;
export const EMAIL_RECIPIENTS = ['creator', 'customer'] as const;

/** A ledger row's life: pending (to send) → in_flight (a run has claimed it and is calling Stripe) → succeeded | failed; unknown = past Stripe's 24 h identifier window without an answer (reconcile before resending). */
export const BILLING_SYNC_STATUSES = ['pending', 'in_flight', 'succeeded', 'failed', 'unknown'] as const;
export type BillingSyncStatus = (typeof BILLING_SYNC_STATUSES)[number];

export const aggregationType = pgEnum('aggregation_type', AGGREGATION_TYPES);
export const alertKind = pgEnum('alert_kind', ALERT_KINDS);
export const alertStatus = pgEnum('alert_status', ALERT_STATUSES);
export const webhookMessageStatus = pgEnum('webhook_message_status', WEBHOOK_MESSAGE_STATUSES);
export const emailStatus = pgEnum('email_status', EMAIL_STATUSES);
export const emailRecipient = pgEnum('email_recipient', EMAIL_RECIPIENTS);
export const billingModel = pgEnum('billing_model', BILLING_MODELS);
export const aggregateWindow = pgEnum('aggregate_window', AGGREGATE_WINDOWS);
export const billingSyncStatus = pgEnum('billing_sync_status', BILLING_SYNC_STATUSES);

/** Quantities and money: numeric in Postgres, strings in TypeScript (decimal.js for arithmetic). */
const decimal = () => numeric();

const createdAt = () => timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow();

export const creators = pgTable(
  'creators',
  {
    creatorId: uuid().primaryKey(),
    email: text().notNull(),
    name: text().notNull(),
    passwordHash: text().notNull(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [uniqueIndex('creators_email_key').on(sql`lower(${t.email})`)],
);

export const creatorSessions = pgTable(
  'creator_sessions',
  {
    creatorId: uuid()
      .notNull()
      .references(() => creators.creatorId, { onDelete: 'cascade' }),
    sessionId: uuid().notNull(),
    /** sha256 of the cookie token; the token itself is never stored. */
    tokenHash: text().notNull(),
    /** Per-session secret for CSRF tokens on dashboard forms. */
    csrfSecret: text().notNull(),
    ip: text(),
    userAgent: text(),
    createdAt: createdAt(),
    lastSeenAt: createdAt(),
    expiresAt: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [
    primaryKey({ name: 'creator_sessions_pkey', columns: [t.creatorId, t.sessionId] }),
    uniqueIndex('creator_sessions_token_hash_key').on(t.tokenHash),
    index('creator_sessions_expires_at_idx').on(t.expiresAt),
  ],
);

export const apiKeys = pgTable(
  'api_keys',
  {
    creatorId: uuid()
      .notNull()
      .references(() => creators.creatorId, { onDelete: 'cascade' }),
    keyId: uuid().notNull(),
    name: text().notNull(),
    /** Display prefix (e.g. `su_live_Ab3dE9xQ`): enough to recognise a key, useless to use it. */
    prefix: text().notNull(),
    /** sha256 (hex) of the whole key. Keys are random, so a fast hash is the right one. */
    secretHash: text().notNull(),
    scopes: text().array().$type<ApiKeyScope[]>().notNull(),
    createdAt: createdAt(),
    lastUsedAt: timestamp({ withTimezone: true, mode: 'date' }),
    revokedAt: timestamp({ withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'api_keys_pkey', columns: [t.creatorId, t.keyId] }),
    uniqueIndex('api_keys_secret_hash_key').on(t.secretHash),
    uniqueIndex('api_keys_creator_prefix_key').on(t.creatorId, t.prefix),
  ],
);

/**
 * A creator's configuration version: raised by a trigger (migration 0041) whenever something
 * ingestion judges events by changes — a meter or its plan limits, a customer's plan or billing
 * anchor, the default plan or the late-event grace. The group commit reads it under the
 * configuration lock and judges by what it holds in memory while it is unchanged
 * (server/services/ingest-config-cache.ts). No foreign key: a creator's deletion cascades to
 * its customers, whose trigger would otherwise raise the version of a creator being deleted.
 */
export const creatorConfigVersions = pgTable('creator_config_versions', {
  creatorId: uuid().primaryKey(),
  version: bigint({ mode: 'number' }).notNull().default(0),
});

export const creatorSettings = pgTable('creator_settings', {
  creatorId: uuid()
    .primaryKey()
    .references(() => creators.creatorId, { onDelete: 'cascade' }),
  /** Plan given to customers first seen through a tracked event; null = no plan (never limited). */
  defaultPlan: text(),
  lateEventGraceHours: integer().notNull().default(24),
  /** Signs this creator's short-lived browser tokens (HS256); never leaves the server. */
  tokenSecret: text().notNull(),
  /** Where alert emails to the creator go (null: the account email). */
  alertEmail: text(),
  /** Alert kinds emailed to the creator. */
  alertEmailKinds: text().array().$type<AlertKind[]>().notNull().default(sql`'{soft_limit_reached,hard_limit_reached,overage_started,threshold_reached}'::text[]`),
  /** Also email the end customer (their customer email) when one of their alerts fires. */
  emailCustomers: boolean().notNull().default(false),
  /** Link in customer-facing alert emails, e.g. the creator's pricing page. */
  upgradeUrl: text(),
  /** The creator's own Stripe secret or restricted key, AES-256-GCM (server/services/stripe-client.ts); never returned. */
  stripeSecretKeyEncrypted: text(),
  /**
   * Or a Connect account reached with the platform key (STRIPE_SECRET_KEY). One creator
   * per account (unique across creators): the platform key acts on any of its accounts.
   */
  stripeConnectAccountId: text(),
  /**
   * A Connect authorization in progress (Stripe's OAuth): the SHA-256 of the `state` sent to
   * Stripe's authorize page, and when it lapses. The account comes only from Stripe's answer
   * to the code that page returns with this state (server/services/billing.ts).
   */
  stripeConnectStateHash: text(),
  stripeConnectStateExpiresAt: timestamp({ withTimezone: true, mode: 'date' }),
  stripeReportIntervalMinutes: integer().notNull().default(5),
  /**
   * The invoice finalization grace set in the creator's Stripe account (Stripe's default
   * 1 h, at most 72 h): usage reported for a period after its end + this is in Stripe's
   * meter but not on the period's invoice, already finalized.
   */
  stripeInvoiceGraceHours: integer().notNull().default(1),
  /** Signing secret (whsec_…) of the creator's Stripe webhook endpoint, AES-256-GCM like the key. */
  stripeWebhookSecretEncrypted: text(),
  stripeLastReportAt: timestamp({ withTimezone: true, mode: 'date' }),
  updatedAt: createdAt(),
}, (t) => [uniqueIndex('creator_settings_stripe_connect_account_key').on(t.stripeConnectAccountId)]);

export const usageMeters = pgTable(
  'usage_meters',
  {
    creatorId: uuid()
      .notNull()
      .references(() => creators.creatorId, { onDelete: 'cascade' }),
    meterId: uuid().notNull(),
    eventName: text().notNull(),
    displayName: text().notNull(),
    description: text().notNull().default(''),
    aggregationType: aggregationType().notNull(),
    unitName: text().notNull(),
    billingModel: billingModel().notNull().default('metered'),
    uniqueProperty: text(),
    /** Extra alert thresholds as fractions of the limit (e.g. 0.5, 0.9, 1). */
    alertThresholds: numeric().array().notNull().default(sql`'{}'::numeric[]`),
    /** Event properties the hourly and daily rollups also break down by (at most 3). */
    rollupDimensions: text().array().notNull().default(sql`'{}'::text[]`),
    /** The Stripe Billing Meter's event_name this meter reports to (null: not billed through Stripe). */
    stripeMeterEventName: text(),
    stripeMeterId: text(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
    archivedAt: timestamp({ withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'usage_meters_pkey', columns: [t.creatorId, t.meterId] }),
    // One live meter per event name; archived meters keep their name in history.
    uniqueIndex('usage_meters_event_name_key').on(t.creatorId, t.eventName).where(sql`archived_at is null`),
  ],
);

/**
 * A plan's limit on a meter, with history: a change closes the current row
 * (effective_to) and opens a new one, so a past period is judged by the limit it had.
 */
export const meterPlanLimits = pgTable(
  'meter_plan_limits',
  {
    creatorId: uuid().notNull(),
    limitId: uuid().notNull(),
    meterId: uuid().notNull(),
    planName: text().notNull(),
    limitValue: decimal(),
    overagePrice: decimal(),
    softLimitThreshold: decimal(),
    hardCap: boolean().notNull().default(false),
    effectiveFrom: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    effectiveTo: timestamp({ withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'meter_plan_limits_pkey', columns: [t.creatorId, t.limitId] }),
    uniqueIndex('meter_plan_limits_current_key').on(t.creatorId, t.meterId, t.planName).where(sql`effective_to is null`),
    index('meter_plan_limits_meter_idx').on(t.creatorId, t.meterId, t.planName, t.effectiveFrom),
  ],
);

export const customers = pgTable(
  'customers',
  {
    creatorId: uuid()
      .notNull()
      .references(() => creators.creatorId, { onDelete: 'cascade' }),
    customerId: uuid().notNull(),
    /** The creator's own id for this customer. */
    userId: text().notNull(),
    planName: text(),
    email: text(),
    name: text(),
    /** Periods start at this day-of-month and time (UTC); null = calendar months. */
    billingAnchor: timestamp({ withTimezone: true, mode: 'date' }),
    stripeCustomerId: text(),
    stripeSubscriptionItems: jsonb().$type<Record<string, string>>().notNull().default({}),
    /** Kept current by Stripe's customer.subscription.* webhooks; the period follows it (billing_anchor). */
    stripeSubscriptionId: text(),
    stripeSubscriptionStatus: text(),
    /** `created` of the last subscription event applied: an older one arriving later is stale. */
    stripeSubscriptionEventAt: timestamp({ withTimezone: true, mode: 'date' }),
    /**
     * The subscription's billing interval as its last event carried it (`month`, `year`,
     * `week`, `day`; null when not carried) and its count. Periods here are monthly only: a
     * subscription on any other interval does not move billing_anchor (ADR 0013, amendment of 2026-11-27 on subscription intervals).
     */
    stripeSubscriptionInterval: text(),
    stripeSubscriptionIntervalCount: integer(),
    tenantId: text(),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'customers_pkey', columns: [t.creatorId, t.customerId] }),
    uniqueIndex('customers_user_id_key').on(t.creatorId, t.userId),
  ],
);

/** Each plan a customer has had, from when: overage of a past period uses the plan it ended on. */
export const customerPlanChanges = pgTable(
  'customer_plan_changes',
  {
    creatorId: uuid().notNull(),
    customerId: uuid().notNull(),
    planName: text(),
    effectiveFrom: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [primaryKey({ name: 'customer_plan_changes_pkey', columns: [t.creatorId, t.customerId, t.effectiveFrom] })],
);

/**
 * Raw events, append-only, partitioned by month of occurred_at (migration 0003). The
 * idempotency key's uniqueness lives in usage_idempotency_keys, since a unique index of a
 * partitioned table must include the partition key.
 */
export const usageEvents = pgTable(
  'usage_events',
  {
    creatorId: uuid().notNull(),
    eventId: uuid().notNull(),
    meterId: uuid().notNull(),
    customerId: uuid().notNull(),
    eventName: text().notNull(),
    userId: text().notNull(),
    value: decimal().notNull(),
    properties: jsonb().$type<Record<string, unknown>>().notNull().default({}),
    idempotencyKey: text(),
    /** Unique meters: this event brought a value not seen before in its period (what rollups count). */
    newDistinct: boolean().notNull().default(false),
    periodStart: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    occurredAt: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    receivedAt: timestamp({ withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'usage_events_pkey', columns: [t.creatorId, t.eventId, t.occurredAt] }),
    index('usage_events_meter_customer_time_idx').on(t.creatorId, t.meterId, t.customerId, t.occurredAt),
    index('usage_events_creator_time_idx').on(t.creatorId, t.occurredAt),
    index('usage_events_customer_time_idx').on(t.creatorId, t.customerId, t.occurredAt),
  ],
);

/** Every idempotency key ever accepted, with the answer it got, for replays. */
export const usageIdempotencyKeys = pgTable(
  'usage_idempotency_keys',
  {
    creatorId: uuid().notNull(),
    idempotencyKey: text().notNull(),
    /** sha256 of the canonical event, to tell a replay from a different event with the same key. */
    requestHash: text().notNull(),
    eventId: uuid().notNull(),
    status: integer().notNull(),
    /**
     * The answer as it was sent, replayed as is. json, not jsonb: nothing queries inside
     * it, and storing it as text costs ~40 % less per key than converting it to jsonb
     * (BENCHMARKS.md, round 5); it also keeps the original key order.
     */
    response: json().notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'usage_idempotency_keys_pkey', columns: [t.creatorId, t.idempotencyKey] })],
);

/**
 * Totals per meter × customer × window. The `period` row of a billing period is the live
 * counter limits are enforced on; hour and day rows feed charts.
 */
export const usageAggregates = pgTable(
  'usage_aggregates',
  {
    creatorId: uuid().notNull(),
    meterId: uuid().notNull(),
    customerId: uuid().notNull(),
    window: aggregateWindow().notNull(),
    windowStart: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    windowEnd: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    /** In the meter's base quantity: events (count), value sum, max, distinct values, seconds (duration). */
    value: decimal().notNull().default('0'),
    eventCount: bigint({ mode: 'number' }).notNull().default(0),
    updatedAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'usage_aggregates_pkey', columns: [t.creatorId, t.meterId, t.customerId, t.window, t.windowStart] }),
    // customer_id last: a counter's full key is an exact probe of this index too (ADR 0009).
    index('usage_aggregates_meter_window_idx').on(t.creatorId, t.meterId, t.window, t.windowStart, t.customerId),
  ],
);

/**
 * Distinct keys longer than this (UTF-8 bytes) are stored as `h:` and their SHA-256: the
 * key is a primary-key column, and Postgres refuses index entries past ~2.7 kB (a 7.5 kB
 * property value failed its commit). Exact all the same: two values share a key only if
 * they share a hash.
 */
export const MAX_DISTINCT_KEY_BYTES = 256;

/** Distinct values seen per unique meter × customer × period: the exact, incremental unique count. */
export const usageUniqueValues = pgTable(
  'usage_unique_values',
  {
    creatorId: uuid().notNull(),
    meterId: uuid().notNull(),
    customerId: uuid().notNull(),
    periodStart: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    value: text().notNull(),
  },
  (t) => [primaryKey({ name: 'usage_unique_values_pkey', columns: [t.creatorId, t.meterId, t.customerId, t.periodStart, t.value] })],
);

/**
 * Hourly and daily totals broken down by one property of the event (a meter's
 * rollup_dimensions), e.g. calls per `endpoint`. Same semantics as usage_aggregates.
 */
export const usageDimensionAggregates = pgTable(
  'usage_dimension_aggregates',
  {
    creatorId: uuid().notNull(),
    meterId: uuid().notNull(),
    customerId: uuid().notNull(),
    window: aggregateWindow().notNull(),
    windowStart: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    dimension: text().notNull(),
    dimensionValue: text().notNull(),
    value: decimal().notNull().default('0'),
    eventCount: bigint({ mode: 'number' }).notNull().default(0),
    updatedAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'usage_dimension_aggregates_pkey', columns: [t.creatorId, t.meterId, t.customerId, t.window, t.windowStart, t.dimension, t.dimensionValue] }),
    index('usage_dimension_aggregates_meter_idx').on(t.creatorId, t.meterId, t.window, t.windowStart, t.dimension),
  ],
);

export const METER_ROLLUP_GRAINS = ['minute', 'hour', 'day'] as const;
export type MeterRollupGrain = (typeof METER_ROLLUP_GRAINS)[number];
/** Breakdown `dimension` of meter rollup rows that split by the customer's plan. */
export const PLAN_BREAKDOWN = '';

/**
 * Totals per meter × time window across all of a creator's customers, for charts that
 * must not depend on the number of customers or events: split by plan (dimension '',
 * dimension_value = the customer's plan when the rollup applied, '' for none) — their sum
 * is the meter's total — and, for hours and days, by each rollup dimension of the meter.
 * Minutes (plan split only) feed the live overview and are kept for a few days.
 * Values combine like usage_aggregates' windows (max meters: the max; unique meters:
 * new distinct values per customer, summed).
 */
export const usageMeterRollups = pgTable(
  'usage_meter_rollups',
  {
    creatorId: uuid().notNull(),
    meterId: uuid().notNull(),
    grain: text({ enum: METER_ROLLUP_GRAINS }).notNull(),
    windowStart: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    dimension: text().notNull(),
    dimensionValue: text().notNull(),
    value: decimal().notNull().default('0'),
    eventCount: bigint({ mode: 'number' }).notNull().default(0),
    updatedAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'usage_meter_rollups_pkey', columns: [t.creatorId, t.grain, t.windowStart, t.meterId, t.dimension, t.dimensionValue] }),
    index('usage_meter_rollups_meter_idx').on(t.creatorId, t.meterId, t.grain, t.dimension, t.windowStart),
  ],
);

/**
 * Rollup jobs already applied (a pg-boss job runs at least once; its effect must happen once).
 * Kept while their job could still be delivered again, then purged daily (ADR 0011).
 */
export const rollupBatches = pgTable(
  'rollup_batches',
  {
    creatorId: uuid().notNull(),
    batchId: text().notNull(),
    appliedAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'rollup_batches_pkey', columns: [t.creatorId, t.batchId] }),
    // The daily purge takes the oldest rows first.
    index('rollup_batches_applied_at_idx').on(t.appliedAt),
  ],
);

/**
 * A threshold crossing: one per meter × customer × period × kind (and threshold, for the
 * meter's own `threshold_reached` ones), whatever the concurrency (the unique key), created
 * in the transaction of the crossing event. A soft threshold changed mid-period does not
 * raise a second soft-limit alert.
 */
export const usageAlerts = pgTable(
  'usage_alerts',
  {
    creatorId: uuid().notNull(),
    alertId: uuid().notNull(),
    meterId: uuid().notNull(),
    customerId: uuid().notNull(),
    kind: alertKind().notNull(),
    /** Fraction of the limit that was crossed (soft: its threshold; hard and overage: 1). */
    threshold: decimal().notNull(),
    periodStart: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    periodEnd: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    /** Usage (meter unit) right after the crossing event, and the limit then. */
    used: decimal().notNull(),
    limitValue: decimal().notNull(),
    status: alertStatus().notNull().default('open'),
    acknowledgedAt: timestamp({ withTimezone: true, mode: 'date' }),
    acknowledgedBy: text(),
    resolvedAt: timestamp({ withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'usage_alerts_pkey', columns: [t.creatorId, t.alertId] }),
    uniqueIndex('usage_alerts_once_key').on(
      t.creatorId,
      t.meterId,
      t.customerId,
      t.periodStart,
      t.kind,
      sql`(case when ${t.kind} = 'threshold_reached' then ${t.threshold} else 0 end)`,
    ),
    index('usage_alerts_list_idx').on(t.creatorId, t.status, t.createdAt),
    /** The Alerts page without a status filter: newest first. */
    index('usage_alerts_created_idx').on(t.creatorId, t.createdAt),
    /** One customer's alerts, newest first (the customer page). */
    index('usage_alerts_customer_idx').on(t.creatorId, t.customerId, t.createdAt),
    /** Alerts still in play (the overview's customers near or over a limit this period). */
    index('usage_alerts_live_idx').on(t.creatorId, t.periodEnd).where(sql`status in ('open', 'acknowledged')`),
  ],
);

/** A customer × meter whose alerts are recorded but not notified. */
export const alertMutes = pgTable(
  'alert_mutes',
  {
    creatorId: uuid().notNull(),
    meterId: uuid().notNull(),
    customerId: uuid().notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'alert_mutes_pkey', columns: [t.creatorId, t.meterId, t.customerId] })],
);

export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    creatorId: uuid()
      .notNull()
      .references(() => creators.creatorId, { onDelete: 'cascade' }),
    endpointId: uuid().notNull(),
    url: text().notNull(),
    eventTypes: text().array().$type<WebhookEventType[]>().notNull(),
    /** Standard Webhooks signing secret (whsec_…), shown once at creation (and at each rotation). */
    secret: text().notNull(),
    /** The secret before the last rotation: messages are signed with it too until previousSecretExpiresAt. */
    previousSecret: text(),
    previousSecretExpiresAt: timestamp({ withTimezone: true, mode: 'date' }),
    enabled: boolean().notNull().default(true),
    disabledReason: text(),
    /** Start of the current run of failed deliveries (null when the last one succeeded). */
    failingSince: timestamp({ withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    updatedAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'webhook_endpoints_pkey', columns: [t.creatorId, t.endpointId] })],
);

/** One event for one endpoint; its message id is the webhook-id of every attempt. */
export const webhookMessages = pgTable(
  'webhook_messages',
  {
    creatorId: uuid().notNull(),
    messageId: text().notNull(),
    endpointId: uuid().notNull(),
    alertId: uuid(),
    eventType: text().notNull(),
    payload: jsonb().notNull(),
    status: webhookMessageStatus().notNull().default('pending'),
    attempts: integer().notNull().default(0),
    nextAttemptAt: timestamp({ withTimezone: true, mode: 'date' }),
    deliveredAt: timestamp({ withTimezone: true, mode: 'date' }),
    /**
     * Set while an attempt is being sent (the HTTP call runs outside any transaction): until
     * then no other run sends this message. Past it, the attempt is presumed lost with its
     * process and the message may be sent again.
     */
    sendingUntil: timestamp({ withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'webhook_messages_pkey', columns: [t.creatorId, t.messageId] }),
    uniqueIndex('webhook_messages_alert_endpoint_key').on(t.creatorId, t.alertId, t.endpointId),
    index('webhook_messages_endpoint_idx').on(t.creatorId, t.endpointId, t.createdAt),
    // The attempts being sent to an endpoint (its cap on requests in flight): few rows, whatever the log's size.
    index('webhook_messages_sending_idx').on(t.creatorId, t.endpointId).where(sql`sending_until is not null`),
  ],
);

export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    creatorId: uuid().notNull(),
    attemptId: uuid().notNull(),
    messageId: text().notNull(),
    endpointId: uuid().notNull(),
    attemptedAt: createdAt(),
    statusCode: integer(),
    latencyMs: integer().notNull(),
    responseSnippet: text(),
    error: text(),
  },
  (t) => [
    primaryKey({ name: 'webhook_attempts_pkey', columns: [t.creatorId, t.attemptId] }),
    index('webhook_attempts_message_idx').on(t.creatorId, t.messageId, t.attemptedAt),
    /** An endpoint's latest attempts: its failure run, the disable check. */
    index('webhook_attempts_endpoint_idx').on(t.creatorId, t.endpointId, t.attemptedAt),
  ],
);

/**
 * Every alert email: sent over SMTP, or kept here as the outbox when no SMTP_URL is set.
 * One per alert × recipient (the unique key), whatever the retries.
 */
export const emailMessages = pgTable(
  'email_messages',
  {
    creatorId: uuid().notNull(),
    emailId: uuid().notNull(),
    alertId: uuid(),
    recipient: emailRecipient().notNull(),
    toAddress: text().notNull(),
    subject: text().notNull(),
    textBody: text().notNull(),
    htmlBody: text().notNull(),
    status: emailStatus().notNull().default('pending'),
    error: text(),
    sentAt: timestamp({ withTimezone: true, mode: 'date' }),
    /** Set while the email is being handed to the SMTP server (outside any transaction); as webhook_messages.sending_until. */
    sendingUntil: timestamp({ withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ name: 'email_messages_pkey', columns: [t.creatorId, t.emailId] }),
    uniqueIndex('email_messages_alert_recipient_key').on(t.creatorId, t.alertId, t.recipient),
    index('email_messages_created_idx').on(t.creatorId, t.createdAt),
  ],
);

/**
 * Every report of usage to Stripe, written before the call. A row carries the delta
 * between the period total and what earlier rows reported (cumulative_total), under an
 * identifier derived from creator+meter+customer+period+sequence, so resending a row can
 * never count twice. Rows of one customer × meter are sent one at a time (row lock).
 */
export const usageBillingSync = pgTable(
  'usage_billing_sync',
  {
    creatorId: uuid().notNull(),
    syncId: uuid().notNull(),
    meterId: uuid().notNull(),
    customerId: uuid().notNull(),
    periodStart: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    periodEnd: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    sequence: integer().notNull(),
    quantityDelta: decimal().notNull(),
    cumulativeTotal: decimal().notNull(),
    identifier: text().notNull(),
    /** The meter event's timestamp, fixed at creation so every resend is the same event. */
    eventTimestamp: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    stripeEventName: text().notNull(),
    stripeCustomerId: text().notNull(),
    stripeAccountId: text(),
    stripeSubscriptionItemId: text(),
    /**
     * A reconciliation's resend of a quantity Stripe lost: it restores what the rows before
     * it should have left in Stripe, so what Stripe should hold is the sum of the succeeded
     * rows that do not compensate (ADR 0013).
     */
    compensates: boolean().notNull().default(false),
    status: billingSyncStatus().notNull().default('pending'),
    attempts: integer().notNull().default(0),
    lastError: text(),
    stripeRequestId: text(),
    nextAttemptAt: timestamp({ withTimezone: true, mode: 'date' }),
    /**
     * Set while a run calls Stripe for this row (outside any transaction): until then no
     * other run sends it. Past it, the call is presumed lost with its process; the row is
     * resent under the same identifier, which Stripe never counts twice.
     */
    sendingUntil: timestamp({ withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    reportedAt: timestamp({ withTimezone: true, mode: 'date' }),
    /** When the row was first sent to Stripe (its first claim). */
    firstSentAt: timestamp({ withTimezone: true, mode: 'date' }),
    /**
     * When Stripe took the event, as far as we can tell: its 2xx, for an answer to the call
     * that sent it; the first send, for a success known only later (Stripe's "already
     * exists" to a resend, or the quantity found in Stripe's total by reconciliation) — the
     * earliest it can have been. Decides whether a report came after the period's invoice.
     */
    stripeTookAt: timestamp({ withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'usage_billing_sync_pkey', columns: [t.creatorId, t.syncId] }),
    uniqueIndex('usage_billing_sync_identifier_key').on(t.creatorId, t.identifier),
    uniqueIndex('usage_billing_sync_sequence_key').on(t.creatorId, t.meterId, t.customerId, t.periodStart, t.sequence),
    index('usage_billing_sync_open_idx').on(t.creatorId, t.status).where(sql`status in ('pending', 'in_flight', 'unknown')`),
  ],
);

/**
 * The last comparison of one customer × meter × period with Stripe's meter event summary:
 * our total, what the ledger says Stripe accepted, what Stripe says it has, and the drift.
 */
export const usageBillingReconciliations = pgTable(
  'usage_billing_reconciliations',
  {
    creatorId: uuid().notNull(),
    meterId: uuid().notNull(),
    customerId: uuid().notNull(),
    periodStart: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    periodEnd: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    ourQuantity: decimal().notNull(),
    reportedQuantity: decimal().notNull(),
    /** Null when Stripe could not be asked (the error says why). */
    stripeQuantity: decimal(),
    /** stripe − reported; 0 = in sync. */
    drift: decimal(),
    error: text(),
    /** What reconciliation did: none, resolved unknown rows, … */
    action: text().notNull().default('none'),
    checkedAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'usage_billing_reconciliations_pkey', columns: [t.creatorId, t.meterId, t.customerId, t.periodStart] })],
);

/**
 * Licensed meters (billing_model = licensed): each quantity set on a customer's Stripe
 * subscription item (`subscriptionItems.update`), written before the call and kept as the
 * audit trail — what was sent, Stripe's answer (the item's quantity after it), the failure.
 * One open (pending / in_flight) row per customer × meter; it is resent with the same
 * idempotency key until Stripe answers (ADR 0013, amendment on licensed meters).
 */
export const usageBillingQuantities = pgTable(
  'usage_billing_quantities',
  {
    creatorId: uuid().notNull(),
    quantityId: uuid().notNull(),
    meterId: uuid().notNull(),
    customerId: uuid().notNull(),
    /** The period whose usage the quantity is (the customer's current one when written). */
    periodStart: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    periodEnd: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    sequence: integer().notNull(),
    /** The period's usage in the meter's unit (9 decimals), and the whole quantity sent: usage rounded up. */
    usage: decimal().notNull(),
    quantity: bigint({ mode: 'number' }).notNull(),
    stripeSubscriptionItemId: text().notNull(),
    stripeAccountId: text(),
    idempotencyKey: text().notNull(),
    status: billingSyncStatus().notNull().default('pending'),
    attempts: integer().notNull().default(0),
    lastError: text(),
    stripeRequestId: text(),
    /** The subscription item's quantity in Stripe's answer. */
    stripeQuantity: bigint({ mode: 'number' }),
    /** Set while a run calls Stripe for this row (outside any transaction); past it, the call is presumed lost and resent with the same key. */
    sendingUntil: timestamp({ withTimezone: true, mode: 'date' }),
    createdAt: createdAt(),
    reportedAt: timestamp({ withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'usage_billing_quantities_pkey', columns: [t.creatorId, t.quantityId] }),
    uniqueIndex('usage_billing_quantities_sequence_key').on(t.creatorId, t.meterId, t.customerId, t.sequence),
    uniqueIndex('usage_billing_quantities_idempotency_key').on(t.creatorId, t.idempotencyKey),
  ],
);

/** Stripe webhook events received, once each (Stripe delivers at least once). */
export const stripeWebhookEvents = pgTable(
  'stripe_webhook_events',
  {
    creatorId: uuid().notNull(),
    eventId: text().notNull(),
    type: text().notNull(),
    eventCreated: timestamp({ withTimezone: true, mode: 'date' }).notNull(),
    /** applied | stale | ignored (no matching customer, other type). */
    outcome: text().notNull(),
    receivedAt: createdAt(),
  },
  (t) => [primaryKey({ name: 'stripe_webhook_events_pkey', columns: [t.creatorId, t.eventId] })],
);

export type DbCreator = typeof creators.$inferSelect;
export type DbApiKey = typeof apiKeys.$inferSelect;
export type DbCreatorSession = typeof creatorSessions.$inferSelect;
