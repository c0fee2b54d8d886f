import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';
import { startTcpRelay } from './harness/tcp-relay.js';

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
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 60 + 30 * (i % 4)));
      await server.rt.ownerDb.execute(sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'staryer-usage' and datname = current_database() and pid <> pg_backend_pid()`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    running = false;
    await Promise.all(senders);
    expect(statuses.filter((s) => s !== 201 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0); // the cuts were felt
    // Still serving: new events are committed (the pool reconnects).
    await expect.poll(async () => (await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'after' })).status, { timeout: 10_000 }).toBe(201);
    const [row] = await server.rt.ownerDb.execute<{ n: number }>(sql`
      select count(*)::int as n from usage_events where creator_id = ${creator.id} and idempotency_key = any(${`{${accepted.join(',')}}`}::text[])`);
    expect(row!.n).toBe(accepted.length);
    // Nothing half-recorded either: no statement of a cut transaction ran outside it, so
    // the live counters agree with the events stored, customer by customer.
    const disagreements = await server.rt.ownerDb.execute(sql`
      select e.customer_id, e.n, a.counted from
        (select customer_id, count(*)::int as n from usage_events where creator_id = ${creator.id} group by customer_id) e
        full join (select customer_id, sum(event_count)::int as counted from usage_aggregates
                   where creator_id = ${creator.id} and "window" = 'period' group by customer_id) a using (customer_id)
      where e.n is distinct from a.counted`);
    expect(disagreements).toEqual([]);
  }, 60_000);
});

/** A TCP relay in front of Postgres that counts the client's writes as they arrive, can hold some back, and can cut the client off with a reset. */
async function countingRelay(
  target: string,
  /** Sees each client write first; true keeps it from Postgres. */
  hold: (data: Buffer) => boolean = () => false,
): Promise<{ url: string; clientChunks: () => number; reset: () => void; close: () => Promise<void> }> {
  let chunks = 0;
  const relay = await startTcpRelay(target, {
    toUpstream: (data, forward) => {
      chunks++;
      if (!hold(data)) forward();
    },
  });
  return {
    url: relay.url,
    clientChunks: () => chunks,
    /** Cuts every client connection with a TCP reset (the client sees ECONNRESET, not an orderly close). */
    reset: () => {
      for (const c of relay.clients) c.resetAndDestroy();
    },
    close: relay.close,
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

/**
 * A transaction whose connection closes (pg_terminate_backend, a restarted Postgres, a
 * network cut) is over: `begin()` rejects at once, but the callback may still be running.
 * Unpatched, what the callback sent next went to the connection the pool opened again in
 * its place — in autocommit, outside any transaction, or answered with another query's
 * results — and what it had queued waited for ever (porsager/postgres#1186, #1215): a
 * request answered 503 whose event was stored after all, and a server that never stopped.
 */
describe('a transaction whose connection is cut', () => {
  /** The promise's outcome, or 'pending' if it has none within `ms`. */
  const settled = (p: Promise<unknown>, ms = 5_000) =>
    Promise.race([
      p.then(() => 'resolved', (e: { code?: string }) => `rejected ${e.code}`),
      new Promise<string>((resolve) => setTimeout(() => resolve('pending'), ms)),
    ]);

  it('fails what it had queued, and the next query on the reopened connection gets its own answer', async () => {
    const client = postgres(url, { max: 1, onnotice: () => undefined });
    const killer = postgres(url, { max: 1 });
    try {
      let slow!: Promise<unknown>;
      let queued!: Promise<unknown>;
      const began = client.begin(async (tx) => {
        const { pid } = (await tx<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!;
        // A statement with parameters is described first: the next one waits in the
        // transaction's own queue, not on the connection.
        slow = tx`select pg_sleep(${30})`.execute();
        queued = tx`select 1 as one`.execute();
        setTimeout(() => void killer`select pg_terminate_backend(${pid})`.execute(), 200);
        await Promise.all([slow, queued]);
      });
      expect(await settled(began)).toBe('rejected CONNECTION_CLOSED');
      expect(await settled(slow)).toMatch(/^rejected /);
      expect(await settled(queued)).toMatch(/^rejected /);
      // Not the old backend's error: the connection opened again answers its own query.
      expect(await client`select 2 as two`).toEqual([{ two: 2 }]);
    } finally {
      await client.end({ timeout: 1 });
      await killer.end();
    }
  });

  it('reset (ECONNRESET): the ROLLBACK sent between the error and the close takes no answer meant for a later query', async () => {
    const relay = await countingRelay(url);
    const client = postgres(relay.url, { max: 1, onnotice: () => undefined });
    try {
      await client`select 1`;
      const began = client.begin(async (tx) => {
        setTimeout(relay.reset, 200);
        await tx`select pg_sleep(5)`; // fails with the reset; the transaction then sends ROLLBACK
      });
      expect(await settled(began)).toMatch(/^rejected /);
      // The connection opens again: each query gets its own answer, and the next one too.
      expect(await settled(client`select 2 as two`.then((rows) => expect(rows).toEqual([{ two: 2 }])))).toBe('resolved');
      expect(await settled(client`select 3 as three`.then((rows) => expect(rows).toEqual([{ three: 3 }])))).toBe('resolved');
    } finally {
      await client.end({ timeout: 1 });
      await relay.close();
    }
  });

  it('a backend killed while a new connection fetches its types: no unhandled rejection (it ended the process), and the first query is answered on the next connection', async () => {
    const admin = postgres(url, { max: 1 });
    let killed: Promise<unknown> | undefined;
    // Holds the first connection's type fetch and has its backend terminated meanwhile:
    // Postgres sends FATAL 57P01, then closes.
    const relay = await countingRelay(url, (data) => {
      if (killed || !data.includes('typcategory')) return false;
      killed = admin`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'types-probe' and datname = current_database()`.execute();
      return true;
    });
    const client = postgres(relay.url, { max: 1, onnotice: () => undefined, connection: { application_name: 'types-probe' } });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      expect(await settled(client`select 1 as one`.then((rows) => expect(rows).toEqual([{ one: 1 }])))).toBe('resolved');
      expect(killed).toBeDefined();
      await killed;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await client.end({ timeout: 1 });
      await admin.end();
      await relay.close();
    }
  });

  it('runs nothing its callback sends afterwards: no statement outside the transaction, no COMMIT of another', async () => {
    const client = postgres(url, { max: 1, onnotice: () => undefined });
    const killer = postgres(url, { max: 1 });
    await killer`create table tx_cut (n int)`;
    try {
      let resume!: () => void;
      const paused = new Promise<void>((resolve) => (resume = resolve));
      let late!: Promise<unknown>;
      let lateSent!: () => void;
      const sent = new Promise<void>((resolve) => (lateSent = resolve));
      let callbackEnded!: Promise<unknown>;
      const began = client.begin((tx) => {
        callbackEnded = (async () => {
          await tx`insert into tx_cut values (1)`;
          const { pid } = (await tx<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!;
          await killer`select pg_terminate_backend(${pid})`;
          await paused; // the callback goes on after its connection closed…
          late = tx`insert into tx_cut values (2)`.execute();
          lateSent();
          await late;
        })();
        return callbackEnded;
      });
      expect(await settled(began)).toMatch(/^rejected /);
      // …while the pool opens the connection again for other work, and a transaction of
      // its own takes it.
      const other = client.begin(async (tx) => {
        await tx`insert into tx_cut values (3)`;
        resume();
        await new Promise((resolve) => setTimeout(resolve, 300));
        return tx`select count(*)::int as n from tx_cut`;
      });
      await sent;
      expect(await settled(late)).toBe('rejected CONNECTION_CLOSED');
      expect(await settled(callbackEnded)).toBe('rejected CONNECTION_CLOSED');
      expect(await other).toEqual([{ n: 1 }]);
      expect(await client`select n from tx_cut order by n`).toEqual([{ n: 3 }]);
    } finally {
      await killer`drop table if exists tx_cut`;
      await client.end({ timeout: 1 });
      await killer.end();
    }
  });
});
