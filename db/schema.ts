import { sql } from 'drizzle-orm';
import { index, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

/**
 * Every tenant table carries creator_id and leads its primary key with it, so rows
 * of one creator sit together and the schema can be distributed by creator_id (Citus)
 * without changing a query. RLS policies live in custom migrations (db/migrations).
 */

export const API_KEY_SCOPES = ['track', 'read', 'admin'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

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

export type DbCreator = typeof creators.$inferSelect;
export type DbApiKey = typeof apiKeys.$inferSelect;
export type DbCreatorSession = typeof creatorSessions.$inferSelect;
