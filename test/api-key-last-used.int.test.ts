import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { flushApiKeyUsage } from '../server/services/api-keys.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * An API key's last_used_at is written in the background (a flush now and then), but it says
 * when the key was last used, not when the flush ran: a key used, then revoked, and flushed
 * after showed "used" after its revocation.
 */
const { url } = await useTestDatabase();
const start = new Date('2026-11-20T10:00:00.000Z');
const { server, setNow } = useClockedServer(url, start);

describe('last_used_at', () => {
  it('is the time of the key’s last use, never after its revocation, and never moves back', async () => {
    const admin = await createCreatorWithKey(server().rt);
    const call = api(server().url, admin.apiKey);
    const created = await call('POST', '/api/usage/keys', { name: 'ci', scopes: ['track'] });
    expect(created.status, created.text).toBe(201);
    const ci = api(server().url, created.json.api_key as string);
    const usedAt = '2026-11-20T10:00:05.000Z';
    setNow(new Date(usedAt));
    expect((await ci('GET', '/api/usage/check?user_id=u&event_name=nothing')).status).toBeLessThan(500);
    setNow(new Date('2026-11-20T10:00:09.000Z'));
    expect((await call('DELETE', `/api/usage/keys/${created.json.id}`)).status).toBe(200);
    setNow(new Date('2026-11-20T10:00:30.000Z'));
    await flushApiKeyUsage(server().rt);
    const listed = await call('GET', '/api/usage/keys');
    const key = (listed.json.keys as Array<{ id: string; last_used_at: string | null; revoked_at: string | null }>).find((k) => k.id === created.json.id)!;
    expect(key.revoked_at).toBe('2026-11-20T10:00:09.000Z');
    expect(key.last_used_at).toBe(usedAt);

    // A flush carrying an older use (another process's, late) does not move it back.
    setNow(new Date('2026-11-20T10:01:00.000Z'));
    expect((await call('GET', '/api/usage/keys')).status).toBe(200);
    await flushApiKeyUsage(server().rt);
    // Read in the database: a request with the key would be a use of its own.
    const adminKeyAt = async () => {
      const [row] = await server().rt.ownerDb.execute<{ at: Date | string }>(sql`select last_used_at as at from api_keys where key_id = ${admin.key.id}`);
      return new Date(row!.at).toISOString();
    };
    expect(await adminKeyAt()).toBe('2026-11-20T10:01:00.000Z');
    server().rt.apiKeys.noteUsage({ creatorId: admin.creator.id, keyId: admin.key.id, prefix: admin.key.prefix, scopes: ['admin'], revoked: false }, new Date('2026-11-20T10:00:40.000Z'));
    await flushApiKeyUsage(server().rt);
    expect(await adminKeyAt()).toBe('2026-11-20T10:01:00.000Z');
  });
});
