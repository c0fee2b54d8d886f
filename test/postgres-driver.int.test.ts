import net from 'node:net';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
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

/** A TCP relay in front of Postgres that counts the client's writes as they arrive. */
async function countingRelay(target: string): Promise<{ url: string; clientChunks: () => number; close: () => Promise<void> }> {
  const parsed = new URL(target);
  let chunks = 0;
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const upstream = net.connect(Number(parsed.port), parsed.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (data) => {
      chunks++;
      upstream.write(data);
    });
    upstream.on('data', (data) => client.write(data));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.port = String((relay.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    clientChunks: () => chunks,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}

/**
 * The patch also sends a plain BEGIN together with the transaction's first statements
 * instead of waiting for its answer first: every transaction of the product (each
 * dashboard call, each group commit) costs one round trip to Postgres fewer.
 */
describe('transactions through postgres.js', () => {
  it('send BEGIN with their first statement: two round trips for BEGIN, a statement and COMMIT', async () => {
    const relay = await countingRelay(url);
    const client = postgres(relay.url, { max: 1, onnotice: () => undefined });
    try {
      await client`select 1`; // connected, types fetched
      const before = relay.clientChunks();
      const [row] = await client.begin((tx) => tx`select txid_current() > 0 as in_tx, now() = statement_timestamp() as same_clock`);
      // A statement inside the transaction: now() is the transaction's start, not the statement's.
      expect(row).toEqual({ in_tx: true, same_clock: false });
      expect(relay.clientChunks() - before).toBe(2); // [BEGIN + SELECT], [COMMIT]; unpatched: 3
    } finally {
      await client.end();
      await relay.close();
    }
  });

  it('keep nothing of a transaction whose statement fails, and the connection serves on', async () => {
    const client = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      await client`create table tx_probe (n int primary key)`;
      await expect(
        client.begin(async (tx) => {
          await tx`insert into tx_probe values (1)`;
          await tx`insert into tx_probe values (1)`; // unique violation
        }),
      ).rejects.toMatchObject({ code: '23505' });
      // A failure the callback never awaited fails the transaction too.
      await expect(
        client.begin(async (tx) => {
          void tx`insert into tx_probe values (2)`.catch(() => undefined);
          void tx`select 1 / 0`.catch(() => undefined);
          await tx`select 1`.catch(() => undefined);
        }),
      ).rejects.toMatchObject({ code: '22012' });
      expect(await client`select count(*)::int as n from tx_probe`).toEqual([{ n: 0 }]);
      await client.begin((tx) => tx`insert into tx_probe values (3)`);
      expect(await client`select n from tx_probe`).toEqual([{ n: 3 }]);
    } finally {
      await client`drop table if exists tx_probe`;
      await client.end();
    }
  });

  it('start even when their connection’s pipeline is full (one connection, 100 queries queued ahead)', async () => {
    const client = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      await client`select 1`;
      // execute(): queued on the connection now (a query otherwise goes out when awaited).
      const queued = Array.from({ length: 100 }, () => client`select pg_sleep(0.001)`.execute());
      const began = client.begin((tx) => tx`select txid_current() > 0 as in_tx`);
      const answer = await Promise.race([began, new Promise((resolve) => setTimeout(() => resolve('no answer in 10 s'), 10_000))]);
      expect(answer).toEqual([{ in_tx: true }]);
      await Promise.all(queued);
      // And the connection is not left inside a transaction: a savepoint outside one is refused.
      await expect(client`savepoint probe`).rejects.toMatchObject({ code: '25P01' });
    } finally {
      await client.end({ timeout: 1 });
    }
  });

  it('wait for a BEGIN with options, so that a refused one runs nothing outside a transaction', async () => {
    const client = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      await client`create table tx_probe2 (n int)`;
      expect(await client.begin('isolation level serializable', (tx) => tx`select current_setting('transaction_isolation') as level`)).toEqual([{ level: 'serializable' }]);
      // "isolation level bogus" is refused by Postgres: the insert must not run in autocommit.
      await expect(client.begin('isolation level bogus', (tx) => tx`insert into tx_probe2 values (1)`)).rejects.toMatchObject({ code: '42601' });
      expect(await client`select count(*)::int as n from tx_probe2`).toEqual([{ n: 0 }]);
    } finally {
      await client`drop table if exists tx_probe2`;
      await client.end();
    }
  });
});
