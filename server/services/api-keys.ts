import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import {
  findApiKey,
  findApiKeyAuth,
  findApiKeysByPrefix,
  insertApiKey,
  listApiKeys as listApiKeyRows,
  revokeApiKeyRow,
  touchApiKeys,
  type ApiKey,
  type ApiKeyAuth,
} from '../../db/queries/api-keys.js';
import type { ApiKeyScope } from '../../db/schema.js';
import { withCreator } from '../../db/tenant.js';
import { AppError, forbidden, notFound, unauthorized, withDeadline } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { TCreateApiKeyInput } from '../schemas/api-keys.js';
import { API_KEY_REVOKED_CHANNEL } from './api-key-cache.js';
import { displayPrefix, generateApiKey, hashSecret, isPlausibleApiKey } from './api-key-format.js';
import { isUniqueViolation } from './db-errors.js';

export type { ApiKey, ApiKeyAuth };

/** `admin` implies `read` and `track`. */
export function hasScope(granted: readonly ApiKeyScope[], needed: ApiKeyScope): boolean {
  return granted.includes(needed) || granted.includes('admin');
}

export function requireScope(auth: { scopes: readonly ApiKeyScope[] }, needed: ApiKeyScope): void {
  if (!hasScope(auth.scopes, needed)) throw forbidden(`This API key lacks the "${needed}" scope.`);
}

export async function createApiKey(
  rt: Runtime,
  creatorId: string,
  input: TCreateApiKeyInput & { secret?: string },
): Promise<{ key: ApiKey; secret: string }> {
  const secret = input.secret ?? generateApiKey();
  try {
    const key = await withCreator(rt.db, creatorId, (tx) =>
      insertApiKey(tx, {
        creatorId,
        keyId: randomUUID(),
        name: input.name,
        prefix: displayPrefix(secret),
        secretHash: hashSecret(secret),
        scopes: input.scopes,
      }),
    );
    rt.log.info({ creatorId, keyId: key.id, prefix: key.prefix, scopes: key.scopes }, 'api key created');
    return { key, secret };
  } catch (error) {
    if (isUniqueViolation(error, 'api_keys_secret_hash_key') || isUniqueViolation(error, 'api_keys_creator_prefix_key')) {
      throw new AppError('conflict', { code: 'api_key_exists', detail: 'An API key with this value or prefix already exists.' });
    }
    throw error;
  }
}

export const listApiKeys = (rt: Runtime, creatorId: string) => withCreator(rt.db, creatorId, (tx) => listApiKeyRows(tx));

async function announceRevocation(rt: Runtime, secretHash: string) {
  rt.apiKeys.evict(secretHash);
  await rt.db.execute(sql`select pg_notify(${API_KEY_REVOKED_CHANNEL}, ${secretHash})`);
}

/**
 * Revokes a key. Idempotent: a key already revoked (from another tab, a retried request) is
 * answered as it is, revoked when it was; only a key that does not exist is 404.
 */
export async function revokeApiKey(rt: Runtime, creatorId: string, keyId: string): Promise<ApiKey> {
  const outcome = await withCreator(rt.db, creatorId, async (tx) => {
    const revoked = await revokeApiKeyRow(tx, keyId, rt.now());
    return revoked ? { revoked } : { already: await findApiKey(tx, keyId) };
  });
  if ('already' in outcome) {
    if (!outcome.already) throw notFound('API key');
    return outcome.already;
  }
  const { revoked } = outcome;
  await announceRevocation(rt, revoked.secretHash);
  rt.log.info({ creatorId, keyId, prefix: revoked.prefix }, 'api key revoked');
  const { secretHash: _omit, ...key } = revoked;
  return key;
}

/** CLI: revoke by display prefix, across creators (owner connection). */
export async function revokeApiKeyByPrefix(rt: Runtime, prefix: string): Promise<ApiKey> {
  const matches = (await findApiKeysByPrefix(rt.ownerDb, prefix)).filter((k) => k.revokedAt === null);
  if (matches.length === 0) throw notFound(`Active API key with prefix ${prefix}`);
  if (matches.length > 1) {
    throw new AppError('conflict', { code: 'ambiguous_prefix', detail: `${matches.length} active keys share the prefix ${prefix}; revoke by id in the dashboard.` });
  }
  return revokeApiKey(rt, matches[0]!.creatorId, matches[0]!.id);
}

/**
 * Authenticates a bearer key. Format and checksum are checked before any look-up;
 * known keys are cached briefly (revocation evicts them everywhere at once).
 */
export async function authenticateApiKey(rt: Runtime, presented: string): Promise<ApiKeyAuth> {
  if (!isPlausibleApiKey(presented)) throw unauthorized('The API key is not valid.');
  const secretHash = hashSecret(presented);
  let auth = rt.apiKeys.get(secretHash);
  if (!auth) {
    const mark = rt.apiKeys.readMark();
    // Bounded like a commit (INGEST_TIMEOUT_MS): with the database silent, a key not in the
    // cache (new, or its entry expired) got no answer at all instead of a 503 to retry.
    const found = await withDeadline(findApiKeyAuth(rt.db, secretHash), rt.env.INGEST_TIMEOUT_MS, 'The database did not answer in time to check the API key. Retry shortly.');
    if (!found) throw unauthorized('The API key is not valid.');
    auth = found;
    rt.apiKeys.set(secretHash, auth, mark);
  }
  if (auth.revoked) throw unauthorized('The API key has been revoked.');
  rt.apiKeys.noteUsage(auth, rt.now());
  return auth;
}

/**
 * last_used_at is written in the background, at most once per flush per key: an exact
 * timestamp is not worth a write on every request.
 */
export async function flushApiKeyUsage(rt: Runtime): Promise<void> {
  for (const [creatorId, uses] of rt.apiKeys.takeUsage()) {
    await withCreator(rt.db, creatorId, (tx) => touchApiKeys(tx, uses)).catch((error: unknown) =>
      rt.log.warn({ err: error, creatorId }, 'could not record api key usage'),
    );
  }
}
