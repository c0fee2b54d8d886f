import { describe, expect, it } from 'vitest';
import type { ApiKeyAuth } from '../../db/queries/api-keys.js';
import { createApiKeyCache } from './api-key-cache.js';

const auth = (revoked: boolean) => ({ keyId: 'k', creatorId: 'c', scopes: ['track'], revoked }) as unknown as ApiKeyAuth;

describe('the API key cache', () => {
  it('does not keep a look-up that began before a revocation was evicted: the revoked key is read again next time', () => {
    const cache = createApiKeyCache(30_000);
    // A request reads the key (still valid in the database)…
    const mark = cache.readMark();
    // …while the key is revoked and evicted everywhere…
    cache.evict('h');
    // …and its answer arrives after: not cached, so the next request sees the revocation
    cache.set('h', auth(false), mark);
    expect(cache.get('h')).toBeUndefined();
    // A look-up made after the eviction is cached as usual
    cache.set('h', auth(true), cache.readMark());
    expect(cache.get('h')).toMatchObject({ revoked: true });
  });

  it('keeps entries for the TTL only', () => {
    let now = 0;
    const cache = createApiKeyCache(1_000, () => now);
    cache.set('h', auth(false), cache.readMark());
    expect(cache.get('h')).toBeDefined();
    now = 1_000;
    expect(cache.get('h')).toBeUndefined();
  });
});
