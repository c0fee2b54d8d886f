import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

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
});
