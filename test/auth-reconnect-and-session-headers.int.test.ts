import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiKey } from '../server/services/api-keys.js';
import { authenticateSession, createSession } from '../server/services/sessions.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, uniqueEmail } from './harness/fixtures.js';
import { startTestRuntime, startTestServer, type TestServer } from './harness/server.js';
import { startTcpRelay } from './harness/tcp-relay.js';

const { url, name: dbName } = await useTestDatabase();

const raw = (base: string, path: string, init: RequestInit = {}) => fetch(base + path, { redirect: 'manual', ...init });

describe('API key revocation across processes', () => {
  it('a key revoked while a process was briefly cut off from Postgres fails there once it is back (not for the rest of the cache TTL)', async () => {
    const relay = await startTcpRelay(url);
    // "Process B": serves through the relay. "Process A" (e.g. the CLI or another web
    // instance) revokes over its own connection.
    const b = await startTestServer(relay.url);
    const a = await startTestRuntime(url);
    const owner = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      const { creator, key, apiKey } = await createCreatorWithKey(a.rt, { scopes: ['read'] });
      const asB = api(b.url, apiKey);
      expect((await asB('GET', '/api/usage/me')).status).toBe(200); // cached on B

      const listeners = async () =>
        Number(
          (await owner`select count(*)::int as n from pg_stat_activity where datname = ${dbName} and query ilike 'listen%staryer_api_key_revoked%'`)[0]!.n,
        );
      const before = await listeners(); // A's and B's
      expect(before).toBeGreaterThanOrEqual(2);

      relay.cut();
      for (let i = 0; i < 100 && (await listeners()) !== before - 1; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await listeners()).toBe(before - 1); // B's LISTEN connection is gone

      // Revoked the documented way (evict + NOTIFY), while B cannot hear it.
      await revokeApiKey(a.rt, creator.id, key.id);
      relay.restore();

      // B reconnects by itself and LISTENs again.
      for (let i = 0; i < 300 && (await listeners()) !== before; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await listeners()).toBe(before);

      let status = 503;
      for (let i = 0; i < 50 && status >= 500; i++) {
        status = (await asB('GET', '/api/usage/me')).status;
        if (status >= 500) await new Promise((r) => setTimeout(r, 50));
      }
      // ADR 0005: "a revoked key fails on the next request everywhere". B answers 200 for
      // the rest of API_KEY_CACHE_TTL_MS (30 s by default).
      expect(status).toBe(401);
    } finally {
      await owner.end();
      await b.close();
      await a.close();
      await relay.close();
    }
  }, 30_000);
});

describe('tRPC over the session cookie answers like tRPC over an API key', () => {
  let dashboard: TestServer;
  beforeAll(async () => {
    dashboard = await startTestServer(url, { pages: true, env: { AUTH_RATE_LIMIT_PER_EMAIL: '1', AUTH_RATE_LIMIT_PER_IP: '1000' } });
  });
  afterAll(() => dashboard?.close());

  it('a rate-limited call sent with the session cookie carries Retry-After, as without it', async () => {
    const { creator } = await createCreatorWithKey(dashboard.rt);
    const { sessionToken } = await createSession(dashboard.rt, { creatorId: creator.id, ip: null, userAgent: null });
    const { csrfSecret } = (await authenticateSession(dashboard.rt, sessionToken))!;
    const login = (email: string, headers: Record<string, string>) =>
      raw(dashboard.url, '/api/trpc/auth.login', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ email, password: 'wrong passphrase' }),
      });
    const withoutCookie = uniqueEmail('nocookie');
    await login(withoutCookie, {});
    const plain = await login(withoutCookie, {});
    expect(plain.status).toBe(429);
    expect(Number(plain.headers.get('retry-after'))).toBeGreaterThan(0);

    const withCookie = uniqueEmail('cookie');
    const headers = { cookie: `staryer_session=${sessionToken}`, 'x-csrf-token': csrfSecret, origin: dashboard.url };
    expect((await login(withCookie, headers)).status).toBe(401);
    const limited = await login(withCookie, headers);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
