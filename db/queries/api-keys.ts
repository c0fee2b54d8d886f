import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { apiKeys, type ApiKeyScope } from '../schema.js';

export type ApiKey = {
  id: string;
  creatorId: string;
  name: string;
  prefix: string;
  scopes: ApiKeyScope[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
};

export type ApiKeyAuth = { creatorId: string; keyId: string; prefix: string; scopes: ApiKeyScope[]; revoked: boolean };

const fromDbApiKey = (row: typeof apiKeys.$inferSelect): ApiKey => ({
  id: row.keyId,
  creatorId: row.creatorId,
  name: row.name,
  prefix: row.prefix,
  scopes: row.scopes,
  createdAt: row.createdAt,
  lastUsedAt: row.lastUsedAt,
  revokedAt: row.revokedAt,
});

export async function insertApiKey(
  tx: Queryable,
  input: { creatorId: string; keyId: string; name: string; prefix: string; secretHash: string; scopes: ApiKeyScope[] },
): Promise<ApiKey> {
  const [row] = await tx.insert(apiKeys).values(input).returning();
  return fromDbApiKey(row!);
}

export async function listApiKeys(tx: Queryable): Promise<ApiKey[]> {
  const rows = await tx.select().from(apiKeys).orderBy(desc(apiKeys.createdAt));
  return rows.map(fromDbApiKey);
}

export async function findApiKey(tx: Queryable, keyId: string): Promise<ApiKey | null> {
  const [row] = await tx.select().from(apiKeys).where(eq(apiKeys.keyId, keyId));
  return row ? fromDbApiKey(row) : null;
}

/** Owner connections only (CLI): finds keys of any creator by display prefix. */
export async function findApiKeysByPrefix(tx: Queryable, prefix: string): Promise<ApiKey[]> {
  const rows = await tx.select().from(apiKeys).where(eq(apiKeys.prefix, prefix));
  return rows.map(fromDbApiKey);
}

export async function findApiKeyBySecretHashForOwner(tx: Queryable, secretHash: string): Promise<ApiKey | null> {
  const [row] = await tx.select().from(apiKeys).where(eq(apiKeys.secretHash, secretHash));
  return row ? fromDbApiKey(row) : null;
}

/** Marks a key revoked; returns null when there is no such (unrevoked) key visible. */
export async function revokeApiKeyRow(tx: Queryable, keyId: string, now: Date): Promise<(ApiKey & { secretHash: string }) | null> {
  const [row] = await tx
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.keyId, keyId), isNull(apiKeys.revokedAt)))
    .returning();
  return row ? { ...fromDbApiKey(row), secretHash: row.secretHash } : null;
}

/** Works before the tenant is known, through a SECURITY DEFINER function. */
export async function findApiKeyAuth(tx: Queryable, secretHash: string): Promise<ApiKeyAuth | null> {
  const rows = await tx.execute<{ creator_id: string; key_id: string; prefix: string; scopes: ApiKeyScope[]; revoked_at: string | null }>(
    sql`select creator_id, key_id, prefix, scopes, revoked_at from app_auth_api_key(${secretHash})`,
  );
  const row = rows[0];
  return row
    ? { creatorId: row.creator_id, keyId: row.key_id, prefix: row.prefix, scopes: row.scopes, revoked: row.revoked_at !== null }
    : null;
}

/** Whether the creator's key `keyId` is revoked (tenant set); null: no such key. */
export async function findApiKeyRevoked(tx: Queryable, keyId: string): Promise<boolean | null> {
  const [row] = await tx.select({ revokedAt: apiKeys.revokedAt }).from(apiKeys).where(eq(apiKeys.keyId, keyId));
  return row ? row.revokedAt !== null : null;
}

/** Each key's last use, as given: never moved back (another process may have written a later one). */
export async function touchApiKeys(tx: Queryable, uses: Array<{ keyId: string; at: Date }>): Promise<void> {
  if (uses.length === 0) return;
  await tx.execute(sql`
    update api_keys k set last_used_at = greatest(k.last_used_at, u.at)
    from jsonb_to_recordset(${JSON.stringify(uses.map((u) => ({ key_id: u.keyId, at: u.at.toISOString() })))}::jsonb) as u(key_id uuid, at timestamptz)
    where k.key_id = u.key_id`);
}
