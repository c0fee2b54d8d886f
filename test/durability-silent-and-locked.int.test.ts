import net from 'node:net';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { createApiKey } from '../server/services/api-keys.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer } from './harness/server.js';
import { withSilentDatabase } from './harness/silent-database.js';

/**
 * Ingestion's answers stay bounded under faults: a key looked up while the database is silent,
 * a counter held by a backend whose client vanished (half-open), and the partition job's lock
 * queued behind a long reader.
 */
const shared = await useTestDatabase();

type Answer = { status: number | 'no answer'; retryAfter: string | null; text: string };
const within = async (p: Promise<{ status: number; headers: Headers; text: string }>, ms: number): Promise<Answer> =>
  Promise.race([
    p.then((r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), text: r.text })).catch((e: unknown) => ({ status: 0, retryAfter: null, text: String(e) })),
    new Promise<Answer>((resolve) => setTimeout(() => resolve({ status: 'no answer', retryAfter: null, text: '' }), ms).unref()),
  ]);



describe('a database that stops answering, for a track request whose API key is not in the cache', () => {
  it('a key not used before (or whose cache entry expired, API_KEY_CACHE_TTL_MS) gets 503 + Retry-After within the commit deadline, not no answer for as long as the database is silent', async () => {
    await withSilentDatabase(shared.url, { API_KEY_CACHE_TTL_MS: '1000' }, async ({ relay, server, call, creatorId }) => {
      // A second key of the creator, never used yet (a new deployment of the creator's app).
      const { secret: freshKey } = await createApiKey(server.rt, creatorId, { name: 'second', scopes: ['track'] });
      await new Promise((r) => setTimeout(r, 1_200)); // the first key's cache entry has expired
      relay.silence();
      const started = Date.now();
      const timed = (p: Promise<Answer>) => p.then((a) => ({ status: a.status, seconds: Math.round((Date.now() - started) / 1000) }));
      const [fresh, expired] = await Promise.all([
        timed(within(api(server.url, freshKey)('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', idempotency_key: 'silent-fresh' }), 15_000)),
        timed(within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', idempotency_key: 'silent-expired' }), 15_000)),
      ]);
      relay.resume();
      // INGEST_TIMEOUT_MS is 3 s: each gets a 503 ("unavailable, retry") within it (plus slack),
      // as a request whose key is cached does (test/durability.int.test.ts).
      expect({ fresh: { status: fresh.status, inTime: fresh.seconds <= 5 }, expired: { status: expired.status, inTime: expired.seconds <= 5 } }).toEqual({
        fresh: { status: 503, inTime: true },
        expired: { status: 503, inTime: true },
      });
    });
  }, 60_000);
});


/**
 * A relay in front of Postgres that, once armed with a marker, freezes the connection whose
 * client sends the marker for the second time: nothing more passes either way, and neither
 * side is told (a half-open connection: a network partition, a NAT or load balancer that lost
 * its state, a failover). An ingestion group for an existing customer sends the user id with
 * its reads, then locks the counter, then sends it again with its writes (and the COMMIT behind
 * them): frozen there, its backend sits idle in transaction holding the counter's row lock.
 */
async function freezingRelay(target: string) {
  const parsed = new URL(target);
  const sockets = new Set<net.Socket>();
  let marker: string | null = null;
  let frozen = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(parsed.port), parsed.hostname);
    sockets.add(client).add(upstream);
    let seen = 0;
    let freeze = false;
    client.on('data', (data) => {
      if (freeze) return;
      if (marker !== null && data.toString('latin1').includes(marker) && ++seen === 2) {
        freeze = true;
        marker = null;
        frozen++;
        return;
      }
      upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (!freeze) client.write(data);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    arm: (m: string) => void (marker = m),
    frozen: () => frozen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('a server process that loses its connection (half-open) while its group holds a counter lock', () => {
  it("another server keeps committing other creators' events: a creator whose customer never sent anything to the lost server is not refused with 503 for as long as the lost backend holds its lock", async () => {
    const relay = await freezingRelay(shared.url);
    const serverA = await startTestServer(relay.url, { env: { INGEST_TIMEOUT_MS: '3000' } });
    const serverB = await startTestServer(shared.url, { env: { INGEST_TIMEOUT_MS: '3000' } });
    try {
      const x = await createCreatorWithKey(serverB.rt);
      const y = await createCreatorWithKey(serverB.rt);
      const meter = { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' };
      const xa = api(serverA.url, x.apiKey);
      const xb = api(serverB.url, x.apiKey);
      const yb = api(serverB.url, y.apiKey);
      expect((await xb('POST', '/api/usage/meters', meter)).status).toBe(201);
      expect((await yb('POST', '/api/usage/meters', meter)).status).toBe(201);
      const hot = `hot-${Date.now().toString(36)}`;
      // The customer and its counter exist (so a group's only writes carrying the user id are its events).
      expect((await xa('POST', '/api/usage/track', { event_name: 'calls', user_id: hot })).status).toBe(201);
      expect((await yb('POST', '/api/usage/track', { event_name: 'calls', user_id: 'y-user' })).status).toBe(201);

      // Server A's connection is lost after its group locked X's counter of `hot`.
      relay.arm(hot);
      const lost = await within(xa('POST', '/api/usage/track', { event_name: 'calls', user_id: hot, idempotency_key: 'on-a' }), 10_000);
      expect(relay.frozen()).toBe(1);
      expect(lost.status).toBe(503); // "may or may not have been recorded": fine

      // On server B: X's customer sends two events (their groups wait for the lock), then creator Y — unrelated — sends its.
      const hotOnB = [0, 1].map((i) => within(xb('POST', '/api/usage/track', { event_name: 'calls', user_id: hot, idempotency_key: `on-b-${i}` }), 10_000));
      await new Promise((r) => setTimeout(r, 300));
      const yAnswers: Answer[] = [];
      yAnswers.push(await within(yb('POST', '/api/usage/track', { event_name: 'calls', user_id: 'y-user', idempotency_key: 'y-1' }), 10_000));
      await Promise.all(hotOnB);
      // Later still (every request above has had its answer): Y again.
      yAnswers.push(await within(yb('POST', '/api/usage/track', { event_name: 'calls', user_id: 'y-user', idempotency_key: 'y-2' }), 10_000));
      // The database answers (B's own connections, a fresh one): only X's counter of `hot` is locked.
      const [row] = await serverB.rt.ownerDb.execute<{ n: number }>(sql`select count(*)::int as n from usage_events where creator_id = ${y.creator.id}`);
      expect(row!.n).toBeGreaterThanOrEqual(1);
      expect(yAnswers.map((a) => `${a.status} ${a.status === 201 ? '' : a.text.slice(0, 140)}`)).toEqual(['201 ', '201 ']);
    } finally {
      await relay.close();
      await serverB.close();
      await serverA.close();
    }
  }, 90_000);
});

describe('the daily partition job creating a month while a long read of usage_events runs (pg_dump, the consistency check, an export)', () => {
  it("track requests keep being committed: ingestion does not queue behind the job's ACCESS EXCLUSIVE lock request for as long as the reader runs", async () => {
    const server = await startTestServer(shared.url, { env: { INGEST_TIMEOUT_MS: '3000' } });
    const reader = postgres(shared.url, { max: 1, onnotice: () => undefined });
    const maintenance = postgres(shared.url, { max: 1, onnotice: () => undefined });
    try {
      const { apiKey } = await createCreatorWithKey(server.rt);
      const call = api(server.url, apiKey);
      expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
      expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1' })).status).toBe(201);
      // A long reader of usage_events (pg_dump holds such a lock on every table for the whole dump).
      const held = await reader.reserve();
      await held`begin`;
      await held`select count(*) from usage_events`;
      // The daily job (server/services/maintenance.ts) reaches a month that has no partition yet.
      const job = maintenance`select created, failed from app_ensure_usage_event_partitions('2041-01-01T00:00:00Z'::timestamptz, '2041-02-01T00:00:00Z'::timestamptz)`.then(
        (r) => r,
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 500));
      const answer = await within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', idempotency_key: 'during-maintenance' }), 10_000);
      await held`commit`;
      held.release();
      await job;
      expect(`${answer.status} ${answer.status === 201 ? '' : answer.text.slice(0, 160)}`).toBe('201 ');
    } finally {
      await reader.end({ timeout: 1 });
      await maintenance.end({ timeout: 1 });
      await server.close();
    }
  }, 60_000);
});
