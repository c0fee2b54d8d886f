import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCreator } from '../db/tenant.js';
import { apiKeys } from '../db/schema.js';
import { flushApiKeyUsage } from '../server/services/api-keys.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestRuntime, startTestServer, type TestServer } from './harness/server.js';

const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url);
});
afterAll(() => server.close());

describe('API keys over HTTP', () => {
  it('creates a key whose secret is shown once, authenticates with it, and lists it without the secret', async () => {
    const { apiKey, email } = await createCreatorWithKey(server.rt);
    const admin = api(server.url, apiKey);
    const created = await admin('POST', '/api/usage/keys', { name: 'backend', scopes: ['track', 'read'] });
    expect(created.status).toBe(201);
    expect(created.json.api_key).toMatch(/^su_live_[0-9A-Za-z]{36}$/);
    expect(created.json).toMatchObject({ name: 'backend', scopes: ['track', 'read'], revoked_at: null });
    expect(created.json.api_key.startsWith(created.json.prefix)).toBe(true);

    const me = await api(server.url, created.json.api_key)('GET', '/api/usage/me');
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ email, auth: 'api_key', key: { prefix: created.json.prefix, scopes: ['track', 'read'] } });

    const list = await admin('GET', '/api/usage/keys');
    expect(list.status).toBe(200);
    expect(list.json.keys.map((k: { prefix: string }) => k.prefix)).toContain(created.json.prefix);
    expect(list.text).not.toContain(created.json.api_key);
    expect(JSON.stringify(list.json)).not.toMatch(/secret|hash/i);
  });

  it('answers 401 problem JSON for a missing, malformed, unknown or mistyped key', async () => {
    const { apiKey } = await createCreatorWithKey(server.rt);
    const mistyped = apiKey.slice(0, -1) + (apiKey.endsWith('a') ? 'b' : 'a');
    const cases: Array<[string, Record<string, string>]> = [
      ['missing', {}],
      ['not bearer', { authorization: `Basic ${apiKey}` }],
      ['unknown', { authorization: 'Bearer su_live_000000000000000000000000000000000000' }],
      ['bad checksum', { authorization: `Bearer ${mistyped}` }],
      ['too short', { authorization: 'Bearer abc' }],
    ];
    for (const [label, headers] of cases) {
      const response = await api(server.url)('GET', '/api/usage/me', undefined, headers);
      expect(response.status, label).toBe(401);
      expect(response.headers.get('content-type'), label).toBe('application/problem+json');
      expect(response.json, label).toMatchObject({ type: expect.stringContaining('/problems/unauthorized'), status: 401, detail: expect.any(String) });
    }
  });

  it('enforces scopes: track-only keys cannot administer keys (403), admin implies read and track', async () => {
    const { apiKey: adminKey } = await createCreatorWithKey(server.rt);
    const { json: trackKey } = await api(server.url, adminKey)('POST', '/api/usage/keys', { name: 't', scopes: ['track'] });
    const track = api(server.url, trackKey.api_key);
    const before = await api(server.url, adminKey)('GET', '/api/usage/keys');

    expect((await track('GET', '/api/usage/me')).status).toBe(200);
    const list = await track('GET', '/api/usage/keys');
    expect(list.status).toBe(403);
    expect(list.json.detail).toContain('admin');
    // Scope is checked before the body: even a valid body changes nothing.
    expect((await track('POST', '/api/usage/keys', { name: 'escalate', scopes: ['admin'] })).status).toBe(403);
    expect((await track('DELETE', `/api/usage/keys/${before.json.keys[0].id}`)).status).toBe(403);
    const after = await api(server.url, adminKey)('GET', '/api/usage/keys');
    expect(after.json).toEqual(before.json);
  });

  it("answers 404 for another creator's key and changes nothing", async () => {
    const a = await createCreatorWithKey(server.rt);
    const b = await createCreatorWithKey(server.rt);
    const response = await api(server.url, b.apiKey)('DELETE', `/api/usage/keys/${a.key.id}`);
    expect(response.status).toBe(404);
    expect(response.json.type).toContain('/problems/not-found');
    expect((await api(server.url, a.apiKey)('GET', '/api/usage/me')).status).toBe(200);
    const keysOfB = await api(server.url, b.apiKey)('GET', '/api/usage/keys');
    expect(keysOfB.json.keys.map((k: { id: string }) => k.id)).toEqual([b.key.id]);
  });

  it('fails a revoked key on the very next request, although lookups are cached', async () => {
    const { apiKey } = await createCreatorWithKey(server.rt);
    const admin = api(server.url, apiKey);
    const { json: victim } = await admin('POST', '/api/usage/keys', { name: 'victim', scopes: ['read'] });
    const victimApi = api(server.url, victim.api_key);
    expect((await victimApi('GET', '/api/usage/me')).status).toBe(200); // now cached
    const revoked = await admin('DELETE', `/api/usage/keys/${victim.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.json.revoked_at).not.toBeNull();
    const after = await victimApi('GET', '/api/usage/me');
    expect(after.status).toBe(401);
    expect(after.json.detail).toMatch(/revoked/);
    // Revoking again (a retry, another tab) answers the key as it is, revoked when it was: DELETE is idempotent.
    const again = await admin('DELETE', `/api/usage/keys/${victim.id}`);
    expect(again.status, again.text).toBe(200);
    expect(again.json).toMatchObject({ id: victim.id, revoked_at: revoked.json.revoked_at });
    expect((await victimApi('GET', '/api/usage/me')).status).toBe(401);
  });

  it('evicts a revoked key from the cache of another server process at once', async () => {
    const other = await startTestServer(url);
    try {
      const { apiKey } = await createCreatorWithKey(server.rt);
      const { json: victim } = await api(server.url, apiKey)('POST', '/api/usage/keys', { name: 'v', scopes: ['read'] });
      expect((await api(other.url, victim.api_key)('GET', '/api/usage/me')).status).toBe(200); // cached over there
      expect((await api(server.url, apiKey)('DELETE', `/api/usage/keys/${victim.id}`)).status).toBe(200);
      let status = 200;
      for (let i = 0; i < 50 && status === 200; i++) {
        await new Promise((r) => setTimeout(r, 20)); // NOTIFY crosses processes asynchronously
        status = (await api(other.url, victim.api_key)('GET', '/api/usage/me')).status;
      }
      expect(status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it('a browser token dies with the API key that minted it, here and in another process — not only when it expires', async () => {
    const other = await startTestServer(url);
    try {
      const { apiKey } = await createCreatorWithKey(server.rt);
      const admin = api(server.url, apiKey);
      expect((await admin('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' })).status).toBe(201);
      const { json: backend } = await admin('POST', '/api/usage/keys', { name: 'backend', scopes: ['track'] });
      const minted = await api(server.url, backend.api_key)('POST', '/api/usage/tokens', { user_id: 'u1', ttl_seconds: 3600 });
      expect(minted.status).toBe(201);
      // A token minted by another key (the admin's) stays valid throughout.
      const { json: survivor } = await admin('POST', '/api/usage/tokens', { user_id: 'u1', ttl_seconds: 3600 });
      const track = (base: string, token: string) => api(base, token)('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1' });
      expect((await track(server.url, minted.json.token)).status).toBe(201);
      expect((await track(other.url, minted.json.token)).status).toBe(201); // the key's state cached over there too

      expect((await admin('DELETE', `/api/usage/keys/${backend.id}`)).status).toBe(200);
      const here = await track(server.url, minted.json.token);
      expect(here.status).toBe(401);
      expect(here.json.detail).toMatch(/revoked/);
      let status = 201;
      for (let i = 0; i < 50 && status === 201; i++) {
        await new Promise((r) => setTimeout(r, 20)); // NOTIFY crosses processes asynchronously
        status = (await track(other.url, minted.json.token)).status;
      }
      expect(status).toBe(401);
      expect((await api(server.url, minted.json.token)('GET', '/api/usage/check?user_id=u1&event_name=calls')).status).toBe(401);
      expect((await track(server.url, survivor.token)).status).toBe(201);
      expect((await track(other.url, survivor.token)).status).toBe(201);
    } finally {
      await other.close();
    }
  });

  it('records when a key was last used', async () => {
    const { apiKey, creator, key } = await createCreatorWithKey(server.rt);
    expect((await api(server.url, apiKey)('GET', '/api/usage/me')).status).toBe(200);
    await flushApiKeyUsage(server.rt);
    const [row] = await withCreator(server.rt.db, creator.id, (tx) => tx.select().from(apiKeys));
    expect(row?.keyId).toBe(key.id);
    expect(row?.lastUsedAt).toBeInstanceOf(Date);
  });

  it('rejects bad key input with 422 naming the field, and creates nothing', async () => {
    const { apiKey } = await createCreatorWithKey(server.rt);
    const admin = api(server.url, apiKey);
    const before = (await admin('GET', '/api/usage/keys')).json;
    const cases: Array<[unknown, string]> = [
      [{ name: 'x', scopes: ['superuser'] }, 'scopes[0]'],
      [{ name: 'x', scopes: [] }, 'scopes'],
      [{ name: '', scopes: ['track'] }, 'name'],
      [{ name: 'a'.repeat(101), scopes: ['track'] }, 'name'],
      [{ name: 'nul\u0000byte', scopes: ['track'] }, 'name'],
      [{ name: 'lone \ud800 surrogate', scopes: ['track'] }, 'name'],
      [{ scopes: ['track'] }, 'name'],
      [{ name: 'x', scopes: 'track' }, 'scopes'],
      [{ name: 42, scopes: ['track'] }, 'name'],
      [['not', 'an', 'object'], '(body)'],
    ];
    for (const [body, field] of cases) {
      const response = await admin('POST', '/api/usage/keys', body);
      expect(response.status, JSON.stringify(body)).toBe(422);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.json.errors.map((e: { field: string }) => e.field), JSON.stringify(body)).toContain(field);
    }
    expect((await admin('DELETE', '/api/usage/keys/not-a-uuid')).status).toBe(422);
    expect((await admin('GET', '/api/usage/keys')).json).toEqual(before);
  });
});

describe('bootstrap from the environment', () => {
  it('creates the creator and admin key once, and is idempotent on every later start', async () => {
    const env = {
      STARYER_BOOTSTRAP_EMAIL: 'ops@example.com',
      STARYER_BOOTSTRAP_PASSWORD: 'a long enough password',
      STARYER_BOOTSTRAP_API_KEY: 'bootstrap-key-for-automation-0123456789',
    };
    const first = await startTestRuntime(url, { env });
    await first.close();
    const second = await startTestRuntime(url, { env });
    try {
      const me = await api(server.url, env.STARYER_BOOTSTRAP_API_KEY)('GET', '/api/usage/keys');
      expect(me.status).toBe(200);
      expect(me.json.keys).toHaveLength(1);
      expect(me.json.keys[0]).toMatchObject({ name: 'bootstrap', scopes: ['admin'] });
    } finally {
      await second.close();
    }
  });

  it('a new STARYER_BOOTSTRAP_API_KEY rotates the key: the new one works, the earlier one is revoked, other keys stay', async () => {
    const env = {
      STARYER_BOOTSTRAP_EMAIL: 'rotate@example.com',
      STARYER_BOOTSTRAP_PASSWORD: 'a long enough password',
      STARYER_BOOTSTRAP_API_KEY: 'bootstrap-key-before-rotation-0123456789',
    };
    const first = await startTestRuntime(url, { env });
    await first.close();
    const other = await api(server.url, env.STARYER_BOOTSTRAP_API_KEY)('POST', '/api/usage/keys', { name: 'backend', scopes: ['track'] });
    expect(other.status).toBe(201);
    const rotated = { ...env, STARYER_BOOTSTRAP_API_KEY: 'bootstrap-key-after-rotation-9876543210' };
    const second = await startTestRuntime(url, { env: rotated });
    try {
      // Revoked by the other runtime: this server hears it through NOTIFY, asynchronously.
      let status = 200;
      for (let i = 0; i < 50 && status === 200; i++) {
        status = (await api(server.url, env.STARYER_BOOTSTRAP_API_KEY)('GET', '/api/usage/keys')).status;
        if (status === 200) await new Promise((r) => setTimeout(r, 20));
      }
      expect(status).toBe(401);
      const keys = await api(server.url, rotated.STARYER_BOOTSTRAP_API_KEY)('GET', '/api/usage/keys');
      expect(keys.status).toBe(200);
      const byName = (keys.json.keys as Array<{ name: string; revoked_at: string | null }>).map((k) => [k.name, k.revoked_at === null]).sort();
      expect(byName).toEqual([
        ['backend', true],
        ['bootstrap', false],
        ['bootstrap', true],
      ]);
      expect((await api(server.url, other.json.api_key)('GET', '/api/usage/me')).status).toBe(200);
    } finally {
      await second.close();
    }
  });
});
