import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { GroupCommitter } from '../server/services/group-commit.js';
import { prepareEvent } from '../server/services/ingest.js';

/**
 * Each idempotency key is written once, at the end of its group's transaction (ADR 0009).
 * Two servers get the same key at the same moment; both groups read "no answer yet"
 * before either commits (an outside lock on the customer's counter holds them there), so
 * the loser's insert of the key fails and its whole group is retried. What a client
 * sees must not change: one event recorded, the other request answered as a replay
 * (same payload) or refused as a reused key (different payload).
 */
const { url } = await useTestDatabase();
let first: TestServer;
let second: TestServer;
beforeAll(async () => {
  first = await startTestServer(url);
  second = await startTestServer(url);
});
afterAll(async () => {
  await first?.close();
  await second?.close();
});

async function setUp() {
  const { apiKey, creator } = await createCreatorWithKey(first.rt);
  const one = api(first.url, apiKey);
  const two = api(second.url, apiKey);
  const created = await one('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'sum' });
  expect(created.status).toBe(201);
  // The customer and its period counter exist, so both groups will queue on its row lock.
  expect((await one('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 1 })).status).toBe(201);
  return { one, two, creatorId: creator.id };
}

const retries = () => first.rt.ingest.stats.retries + second.rt.ingest.stats.retries;

/** Runs both requests while the customer's counter is locked from outside, until both groups wait on it. */
async function raceOnLockedCounter<T>(creatorId: string, requests: () => Array<Promise<T>>): Promise<T[]> {
  let pending: Array<Promise<T>> = [];
  await first.rt.ownerDb.transaction(async (tx) => {
    await tx.execute(sql`select 1 from usage_aggregates where creator_id = ${creatorId} and "window" = 'period' for update`);
    pending = requests();
    // Both groups have read the idempotency keys (no answer yet) and now wait for the lock
    // (this database only: other test files share the Postgres cluster).
    for (let i = 0; i < 400; i++) {
      const [row] = await first.rt.ownerDb.execute<{ n: number }>(
        sql`select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock' and query like '%from usage_aggregates c%for update%'`,
      );
      if (row!.n >= 2) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('the two groups never waited on the counter lock together');
  });
  return Promise.all(pending);
}

describe('a key sent to two servers at the same moment', () => {
  it('same payload: recorded once; one answer is the original, the other its replay', async () => {
    const { one, two, creatorId } = await setUp();
    const before = retries();
    const event = { event_name: 'calls', user_id: 'u', value: '2.5', idempotency_key: 'race-same' };
    const [a, b] = await raceOnLockedCounter(creatorId, () => [one('POST', '/api/usage/track', event), two('POST', '/api/usage/track', event)]);
    expect([a!.status, b!.status]).toEqual([201, 201]);
    expect(a!.json.id).toBe(b!.json.id);
    expect(a!.json).toEqual(b!.json);
    const replayed = [a!, b!].map((r) => r.headers.get('idempotent-replayed'));
    expect(replayed.filter((h) => h === 'true')).toHaveLength(1);
    expect(retries()).toBeGreaterThan(before);
    const [row] = await first.rt.ownerDb.execute<{ events: number; keys: number; total: string }>(sql`
      select (select count(*)::int from usage_events where creator_id = ${creatorId} and idempotency_key = 'race-same') as events,
             (select count(*)::int from usage_idempotency_keys where creator_id = ${creatorId} and idempotency_key = 'race-same') as keys,
             (select value::text from usage_aggregates where creator_id = ${creatorId} and "window" = 'period') as total`);
    expect(row).toEqual({ events: 1, keys: 1, total: '3.5' });
    const usage = await one('GET', '/api/usage/customers/u/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '3.5' });
  }, 60_000);

  it('different payloads: one recorded, the other refused as a reused key (422), nothing of it recorded', async () => {
    const { one, two, creatorId } = await setUp();
    const before = retries();
    const [a, b] = await raceOnLockedCounter(creatorId, () => [
      one('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 2, idempotency_key: 'race-diff' }),
      two('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value: 7, idempotency_key: 'race-diff' }),
    ]);
    const statuses = [a!.status, b!.status].sort();
    expect(statuses).toEqual([201, 422]);
    const refused = a!.status === 422 ? a! : b!;
    const accepted = a!.status === 201 ? a! : b!;
    expect(refused.json).toMatchObject({ type: expect.stringContaining('idempotency-key-reused'), errors: [{ field: 'idempotency_key' }] });
    expect(retries()).toBeGreaterThan(before);
    const [row] = await first.rt.ownerDb.execute<{ events: number; total: string }>(sql`
      select (select count(*)::int from usage_events where creator_id = ${creatorId} and idempotency_key = 'race-diff') as events,
             (select value::text from usage_aggregates where creator_id = ${creatorId} and "window" = 'period') as total`);
    expect(row!.events).toBe(1);
    expect(Number(row!.total)).toBe(1 + Number(accepted.json.value));
  }, 60_000);

  it('a key lost inside a group shared with another creator: the whole group is retried; the key replays and the other creator’s event is recorded', async () => {
    // Two creators; `a` sorts first, so in a group holding both, a's writes are queued
    // ahead of b's statements — and a's failed key insert makes b's statements fail too.
    const [x, y] = [await setUp(), await setUp()];
    const [a, b] = x.creatorId < y.creatorId ? [x, y] : [y, x];
    // A committer of our own on the first server's runtime: one transaction in flight, so
    // what queues behind it forms one group.
    const committer = new GroupCommitter(first.rt.db, { boss: first.rt.boss, maxEvents: 1000, maxInFlight: 1, now: () => new Date(), log: first.rt.log });
    const waiting = async (n: number) => {
      for (let i = 0; i < 400; i++) {
        const [row] = await first.rt.ownerDb.execute<{ n: number }>(
          sql`select count(*)::int as n from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock' and query like '%from usage_aggregates c%for update%'`,
        );
        if (row!.n === n) return;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`never ${n} groups waiting on counter locks`);
    };
    const lockFromOutside = (creatorId: string) => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const done = first.rt.ownerDb.transaction(async (tx) => {
        await tx.execute(sql`select 1 from usage_aggregates where creator_id = ${creatorId} and "window" = 'period' for update`);
        locked();
        await released;
      });
      return { isLocked, release: async () => (release(), await done) };
    };
    const key = { event_name: 'calls', user_id: 'u', value: '2.5', idempotency_key: 'race-shared' };
    const before = retries();
    const lockB = lockFromOutside(b.creatorId);
    const lockA = lockFromOutside(a.creatorId);
    await Promise.all([lockB.isLocked, lockA.isLocked]);
    // 1. A group for b alone, stuck on b's counter: what comes next queues behind it.
    const stuck = committer.submit(b.creatorId, [prepareEvent({ event_name: 'calls', user_id: 'u', value: '1' })]);
    await waiting(1);
    const [shareA, shareB] = [
      committer.submit(a.creatorId, [prepareEvent(key)]),
      committer.submit(b.creatorId, [prepareEvent({ event_name: 'calls', user_id: 'u', value: '4' })]),
    ];
    // 2. The second server takes the same key for a: it waits on a's counter.
    const elsewhere = a.two('POST', '/api/usage/track', key);
    await waiting(2);
    // 3. b's counter is released: the stuck group commits, and {a's key, b's event} starts as
    //    one group, finds no answer for the key yet, and queues on a's counter behind the other server.
    await lockB.release();
    expect((await stuck)[0]).toMatchObject({ ok: true, status: 201 });
    await waiting(2);
    // 4. a's counter is released: the other server commits the key first; our group's key
    //    insert then fails, and b's statements behind it with it.
    await lockA.release();
    const [[mine], [theirs], answer] = await Promise.all([shareA, shareB, elsewhere]);
    expect(answer.status).toBe(201);
    expect(mine).toMatchObject({ ok: true, status: 201, replayed: true, body: answer.json });
    expect(theirs).toMatchObject({ ok: true, status: 201, replayed: false, body: { user_id: 'u', value: '4' } });
    expect(committer.stats.retries).toBeGreaterThan(0);
    expect(retries()).toBe(before); // the other server's group never lost a race
    const [row] = await first.rt.ownerDb.execute<{ keyed: number; a_total: string; b_total: string }>(sql`
      select (select count(*)::int from usage_events where creator_id = ${a.creatorId} and idempotency_key = 'race-shared') as keyed,
             (select value::text from usage_aggregates where creator_id = ${a.creatorId} and "window" = 'period') as a_total,
             (select value::text from usage_aggregates where creator_id = ${b.creatorId} and "window" = 'period') as b_total`);
    // a: the setup's 1 + the key's 2.5 once; b: the setup's 1 + 1 + 4.
    expect(row).toEqual({ keyed: 1, a_total: '3.5', b_total: '6' });
    await committer.close();
  }, 60_000);
});
