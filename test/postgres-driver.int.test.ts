import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/**
 * postgres.js 3.4.9 flushes small writes from a timer; when the connection closed in the
 * meantime, that timer threw on the null socket — an exception no caller can catch, and
 * the server process ended (a restarted Postgres, pg_terminate_backend, a network blip
 * under load). patches/postgres+3.4.9.patch fails the waiting queries with
 * CONNECTION_CLOSED instead (porsager/postgres#1154, #1208): the requests on those
 * connections answer 503 and the server carries on.
 */
const { url } = await useTestDatabase();
const testServer = useTestServer(url);

describe('connections to Postgres cut under load', () => {
  it('cost the requests on them a 503, never the process; every 201 is stored, and tracking goes on', async () => {
    const server = testServer();
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' })).status).toBe(201);
    const statuses: Array<number | 'no answer'> = [];
    const accepted: string[] = [];
    let n = 0;
    let running = true;
    const sender = async () => {
      while (running) {
        const key = `k-${n++}`;
        // An answer that never comes (a transaction left waiting on a dead connection) is a
        // failure too, named as such rather than a test timeout.
        const response = await Promise.race([
          call('POST', '/api/usage/track', { event_name: 'calls', user_id: `u${n % 7}`, idempotency_key: key }),
          new Promise<{ status: 'no answer' }>((resolve) => setTimeout(() => resolve({ status: 'no answer' }), 15_000).unref()),
        ]);
        statuses.push(response.status);
        if (response.status === 201) accepted.push(key);
      }
    };
    const senders = Array.from({ length: 16 }, sender);
    // Cut the application's connections, several times, while events flow (this test
    // file's database only: other files run beside it on the same Postgres).
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await server.rt.ownerDb.execute(sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'staryer-usage' and datname = current_database() and pid <> pg_backend_pid()`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    running = false;
    await Promise.all(senders);
    expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0); // the cuts were felt
    // Still serving: new events are committed (the pool reconnects).
    await expect.poll(async () => (await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'after' })).status, { timeout: 10_000 }).toBe(201);
    const [row] = await server.rt.ownerDb.execute<{ n: number }>(sql`
      select count(*)::int as n from usage_events where creator_id = ${creator.id} and idempotency_key = any(${`{${accepted.join(',')}}`}::text[])`);
    expect(row!.n).toBe(accepted.length);
  }, 60_000);
});
