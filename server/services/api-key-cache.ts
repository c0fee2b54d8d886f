import type { ApiKeyAuth } from '../../db/queries/api-keys.js';

/**
 * A short-lived in-memory cache of API key look-ups, keyed by the key's hash. Revocation
 * evicts it at once in this process and, through Postgres NOTIFY, in every other one;
 * the TTL bounds staleness if a notification is ever missed.
 */
export type ApiKeyCache = {
  get: (secretHash: string) => ApiKeyAuth | undefined;
  /** A mark to pass to `set` for what is read from the database after this call. */
  readMark: () => number;
  /**
   * Caches a look-up made after `mark` was taken — unless a revocation was evicted since:
   * a look-up that began before a revocation committed, and ended after its eviction, would
   * otherwise put the key back as valid for a whole TTL.
   */
  set: (secretHash: string, auth: ApiKeyAuth, mark: number) => void;
  /** Whether a key (by id) is revoked, as cached for browser tokens it minted; undefined: not cached. */
  getRevoked: (keyId: string) => boolean | undefined;
  setRevoked: (keyId: string, revoked: boolean, mark: number) => void;
  /** Evicts the key's look-up, and every key-id state (revocations are rare; a notice names the hash only). */
  evict: (secretHash: string) => void;
  clear: () => void;
  /** Remembers when a key was last used (the latest of its uses), for the next last_used_at flush. */
  noteUsage: (auth: ApiKeyAuth, at: Date) => void;
  takeUsage: () => Array<[creatorId: string, uses: Array<{ keyId: string; at: Date }>]>;
};

export function createApiKeyCache(ttlMs: number, now: () => number = Date.now, maxEntries = 10_000): ApiKeyCache {
  let evictions = 0;
  /** Entries live ttlMs; one set with a mark taken before an eviction since is not kept. */
  const ttlMap = <V>() => {
    const map = new Map<string, { value: V; expires: number }>();
    return {
      map,
      get(key: string): V | undefined {
        const entry = map.get(key);
        if (!entry) return undefined;
        if (entry.expires <= now()) {
          map.delete(key);
          return undefined;
        }
        return entry.value;
      },
      set(key: string, value: V, mark: number) {
        if (ttlMs === 0 || mark !== evictions) return;
        if (map.size >= maxEntries) map.delete(map.keys().next().value!);
        map.set(key, { value, expires: now() + ttlMs });
      },
    };
  };
  const entries = ttlMap<ApiKeyAuth>();
  const revokedById = ttlMap<boolean>();
  /** Per creator, per key: the time of its latest use since the last flush. */
  const used = new Map<string, Map<string, Date>>();
  return {
    get: entries.get,
    readMark: () => evictions,
    set: entries.set,
    getRevoked: revokedById.get,
    setRevoked: revokedById.set,
    evict: (secretHash) => {
      evictions++;
      entries.map.delete(secretHash);
      revokedById.map.clear();
    },
    clear: () => {
      evictions++;
      entries.map.clear();
      revokedById.map.clear();
    },
    noteUsage(auth, at) {
      let keys = used.get(auth.creatorId);
      if (!keys) used.set(auth.creatorId, (keys = new Map()));
      const last = keys.get(auth.keyId);
      if (!last || last < at) keys.set(auth.keyId, at);
    },
    takeUsage() {
      const batch = [...used.entries()].map(([creatorId, keys]): [string, Array<{ keyId: string; at: Date }>] => [creatorId, [...keys].map(([keyId, at]) => ({ keyId, at }))]);
      used.clear();
      return batch;
    },
  };
}

export const API_KEY_REVOKED_CHANNEL = 'staryer_api_key_revoked';
