import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, jsonb, numeric, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

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

export const aggregationType = pgEnum('aggregation_type', AGGREGATION_TYPES);
export const billingModel = pgEnum('billing_model', BILLING_MODELS);
export const aggregateWindow = pgEnum('aggregate_window', AGGREGATE_WINDOWS);

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

export const creatorSettings = pgTable('creator_settings', {
  creatorId: uuid()
    .primaryKey()
    .references(() => creators.creatorId, { onDelete: 'cascade' }),
  /** Plan given to customers first seen through a tracked event; null = no plan (never limited). */
  defaultPlan: text(),
  lateEventGraceHours: integer().notNull().default(24),
  /** Signs this creator's short-lived browser tokens (HS256); never leaves the server. */
  tokenSecret: text().notNull(),
  updatedAt: createdAt(),
});

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
    response: jsonb().notNull(),
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
    index('usage_aggregates_meter_window_idx').on(t.creatorId, t.meterId, t.window, t.windowStart),
  ],
);

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

export type DbCreator = typeof creators.$inferSelect;
export type DbApiKey = typeof apiKeys.$inferSelect;
export type DbCreatorSession = typeof creatorSessions.$inferSelect;
