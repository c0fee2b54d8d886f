import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { withDatabase } from '../db/client.js';
import { startEmbeddedPostgres } from '../db/embedded.js';
import { ensureDatabase, runMigrations } from '../db/migrate.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { withSilentDatabase } from './harness/silent-database.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

type Answer = { status: number | 'no answer'; retryAfter: string | null; text: string };
const within = async (p: Promise<{ status: number; headers: Headers; text: string }>, ms: number): Promise<Answer> =>
  Promise.race([
    p.then((r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), text: r.text })).catch((e: unknown) => ({ status: 0, retryAfter: null, text: String(e) })),
    new Promise<Answer>((resolve) => setTimeout(() => resolve({ status: 'no answer', retryAfter: null, text: '' }), ms).unref()),
  ]);

describe('the embedded postmaster killed (SIGKILL) mid-traffic and restarted by the supervisor', () => {
  it('every request answered 201 or 503+Retry-After in bounded time; after recovery: serves, health ok, 201s stored once, retries with the keys count once, a rollup job for each stored event', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-review-'));
    await fs.chmod(dataDir, 0o755);
    dirs.push(dataDir);
    const pg = await startEmbeddedPostgres({ dataDir });
    const ownerUrl = withDatabase(pg.url, 'staryer');
    let server: TestServer | undefined;
    try {
      await ensureDatabase(ownerUrl);
      await runMigrations(ownerUrl);
      server = await startTestServer(ownerUrl);
      const s = server;
      const { apiKey, creator } = await createCreatorWithKey(s.rt);
      const call = api(s.url, apiKey);
      expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
      const answers = new Map<string, Answer>();
      let n = 0;
      let running = true;
      const sender = async () => {
        while (running) {
          const key = `k-${n++}`;
          const a = await within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: `u${n % 5}`, idempotency_key: key }), 20_000);
          answers.set(key, a);
          if (a.status !== 201) await new Promise((r) => setTimeout(r, 50));
        }
      };
      const senders = Array.from({ length: 12 }, sender);
      await new Promise((r) => setTimeout(r, 700));
      const pid = Number((await fs.readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
      process.kill(pid, 'SIGKILL');
      // The supervisor starts it again; tracking resumes without restarting the server.
      const afterAnswers: Answer[] = [];
      await expect.poll(async () => { const a = await within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'after', idempotency_key: `after-${afterAnswers.length}` }), 5_000); afterAnswers.push(a); return a.status; }, { timeout: 40_000, interval: 500 }).toBe(201);
      console.log('after', afterAnswers.map((a) => `${a.status} ${a.text.slice(0, 160)}`));
      await new Promise((r) => setTimeout(r, 500));
      running = false;
      await Promise.all(senders);
      const all = [...answers.values()];
      const tally = new Map<string, number>();
      for (const a of all) tally.set(`${a.status} ${a.status === 201 ? '' : a.text.slice(0, 200)}`, (tally.get(`${a.status} ${a.status === 201 ? '' : a.text.slice(0, 200)}`) ?? 0) + 1);
      console.log(tally);
      expect(all.filter((a) => a.status === 503).length).toBeGreaterThan(0); // the kill was felt
      expect(all.filter((a) => a.status !== 201 && a.status !== 503).map((a) => `${a.status} ${a.text}`)).toEqual([]);
      expect(all.filter((a) => a.status === 503 && a.retryAfter === null)).toEqual([]);
      const health = await within(call('GET', '/api/health'), 5_000);
      expect(health.status).toBe(200);

      // Retry every 503 with its key until it is answered 201.
      const failed = [...answers].filter(([, a]) => a.status !== 201).map(([k]) => k);
      for (const key of failed) {
        const i = Number(key.slice(2));
        await expect.poll(async () => (await within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: `u${(i + 1) % 5}`, idempotency_key: key }), 5_000)).status, { timeout: 10_000 }).toBe(201);
      }
      const keys = [...answers.keys()];
      const [row] = await s.rt.ownerDb.execute<{ n: number; distinct_keys: number }>(sql`
        select count(*)::int as n, count(distinct idempotency_key)::int as distinct_keys from usage_events
        where creator_id = ${creator.id} and idempotency_key = any(${`{${keys.join(',')}}`}::text[])`);
      expect(row).toEqual({ n: keys.length, distinct_keys: keys.length });
      const [counted] = await s.rt.ownerDb.execute<{ n: number }>(sql`
        select coalesce(sum(event_count), 0)::int as n from usage_aggregates where creator_id = ${creator.id} and "window" = 'period' and customer_id in (select customer_id from customers where creator_id = ${creator.id} and user_id like 'u%')`);
      expect(counted!.n).toBe(keys.length);
      // A rollups.apply job for every stored event (queued in the same transaction).
      const [missing] = await s.rt.ownerDb.execute<{ n: number }>(sql`
        select count(*)::int as n from usage_events e where e.creator_id = ${creator.id}
        and not exists (select 1 from pgboss.job j where j.name = 'rollups.apply' and j.data -> 'eventIds' ? e.event_id::text)`);
      expect(missing!.n).toBe(0);
    } finally {
      await server?.close();
      await pg.stop();
    }
  }, 120_000);
});

describe('Postgres refusing new connections: "sorry, too many clients already" (53300)', () => {
  it('requests that need a new connection get 503 with Retry-After, not 500; once slots free up the server serves without a restart', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'staryer-review-'));
    await fs.chmod(dataDir, 0o755);
    dirs.push(dataDir);
    const pg = await startEmbeddedPostgres({ dataDir, settings: { max_connections: '40' } });
    const ownerUrl = withDatabase(pg.url, 'staryer');
    let server: TestServer | undefined;
    const fillers: postgres.Sql[] = [];
    try {
      await ensureDatabase(ownerUrl);
      await runMigrations(ownerUrl);
      server = await startTestServer(ownerUrl);
      const s = server;
      const { apiKey } = await createCreatorWithKey(s.rt);
      const call = api(s.url, apiKey);
      expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
      const { apiKey: fresh } = await createCreatorWithKey(s.rt); // not in the key cache yet
      // The server's application connections go (a restart, a failover); meanwhile other clients take every slot.
      const admin = postgres(ownerUrl, { max: 1, onnotice: () => undefined });
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'staryer-usage' and pid <> pg_backend_pid()`;
      for (;;) {
        const c = postgres(ownerUrl, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
        try {
          await c`select 1`;
          fillers.push(c);
        } catch (error) {
          expect((error as { code?: string }).code).toBe('53300');
          await c.end({ timeout: 1 });
          break;
        }
      }
      const answers = {
        track: await within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', idempotency_key: 'full-1' }), 15_000),
        trackFreshKey: await within(api(s.url, fresh)('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1' }), 15_000),
        check: await within(call('GET', '/api/usage/check?user_id=u1&event_name=calls'), 15_000),
        health: await within(call('GET', '/api/health'), 15_000),
      };
      const seen = Object.fromEntries(Object.entries(answers).map(([k, a]) => [k, `${a.status} retry-after=${a.retryAfter}`]));
      console.log(Object.fromEntries(Object.entries(answers).map(([k, a]) => [k, `${a.status} ${a.text.slice(0, 200)}`])));
      expect.soft(seen).toEqual({ track: '503 retry-after=5', trackFreshKey: '503 retry-after=5', check: '503 retry-after=5', health: '503 retry-after=5' });
      for (const c of fillers.splice(0)) await c.end({ timeout: 1 });
      await admin.end({ timeout: 1 });
      await expect.poll(async () => (await within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', idempotency_key: 'full-1' }), 5_000)).status, { timeout: 15_000 }).toBe(201);
    } finally {
      for (const c of fillers) await c.end({ timeout: 1 });
      await server?.close();
      await pg.stop();
    }
  }, 120_000);
});

const shared = await useTestDatabase();



describe('a database that stops answering (hung, or the network to it drops packets)', () => {
  it('a track request is answered within a bounded time (503 + Retry-After), not held for as long as the database is silent; a retry with its key after recovery counts it once', async () => {
    await withSilentDatabase(shared.url, {}, async ({ relay, server, call, creatorId }) => {
      relay.silence();
      const started = Date.now();
      const [track, health] = await Promise.all([
        within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', idempotency_key: 'silent-1' }), 10_000),
        within(call('GET', '/api/health'), 10_000),
      ]);
      const took = Date.now() - started;
      relay.resume();
      expect(health.status).toBe(503); // health tells the truth
      expect({ status: track.status, retryAfter: track.retryAfter, withinDeadline: took < 10_000 }).toEqual({ status: 503, retryAfter: '5', withinDeadline: true });
      // Its transaction was under way: the answer cannot say it was not recorded.
      expect(track.text).toContain('may or may not have been recorded');
      await expect.poll(async () => (await within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', idempotency_key: 'silent-1' }), 5_000)).status, { timeout: 15_000 }).toBe(201);
      const [row] = await server.rt.ownerDb.execute<{ n: number }>(sql`select count(*)::int as n from usage_events where creator_id = ${creatorId} and idempotency_key = 'silent-1'`);
      expect(row!.n).toBe(1);
    });
  }, 120_000);
});

describe('requests queued behind commits that a silent database holds', () => {
  it('are answered 503 "nothing was recorded" at the deadline and taken out of the queue: after recovery none of them is recorded', async () => {
    await withSilentDatabase(shared.url, {}, async ({ relay, server, call, creatorId }) => {
      relay.silence();
      // Two transactions may be in flight for single events; the other two requests wait in the queue.
      const answers: Answer[] = [];
      const sent: Array<Promise<void>> = [];
      for (let i = 0; i < 4; i++) {
        sent.push(within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', idempotency_key: `held-${i}` }), 10_000).then((a) => void (answers[i] = a)));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await Promise.all(sent);
      relay.resume();
      expect(answers.map((a) => a.status)).toEqual([503, 503, 503, 503]);
      const queued = answers.flatMap((a, i) => (a.text.includes('nothing was recorded') ? [`held-${i}`] : []));
      const underWay = answers.flatMap((a, i) => (a.text.includes('may or may not have been recorded') ? [`held-${i}`] : []));
      expect({ queued: queued.length, underWay: underWay.length }).toEqual({ queued: 2, underWay: 2 });
      // Once the database answers again, the transactions under way finish (or fail); the queued requests never ran.
      await expect.poll(async () => (await within(call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u2', idempotency_key: 'after' }), 5_000)).status, { timeout: 15_000 }).toBe(201);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const rows = await server.rt.ownerDb.execute<{ key: string }>(sql`select idempotency_key as key from usage_events where creator_id = ${creatorId} and idempotency_key like 'held-%'`);
      expect(rows.map((r) => r.key).filter((k) => queued.includes(k))).toEqual([]);
    });
  }, 60_000);
});
