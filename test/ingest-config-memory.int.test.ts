import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * The group commit keeps what it read of a creator's configuration (meters and their limits,
 * customers' plans and anchors, the default plan, the grace) between groups, trusted only while
 * the creator's configuration version is unchanged. Each test lets a server judge events by
 * what it read, changes the configuration another way — through a second server process on the
 * same database, or by SQL as an operator would — and expects the next event judged by the change.
 */
const { url } = await useTestDatabase();
let first: TestServer;
let second: TestServer;
beforeAll(async () => {
  first = await startTestServer(url);
  second = await startTestServer(url);
});
afterAll(async () => {
  await first.close();
  await second.close();
});

async function creatorWithCappedMeter() {
  const { apiKey, creator } = await createCreatorWithKey(first.rt);
  const viaFirst = api(first.url, apiKey);
  const viaSecond = api(second.url, apiKey);
  const meter = await viaFirst('POST', '/api/usage/meters', {
    event_name: 'calls',
    display_name: 'Calls',
    unit_name: 'calls',
    aggregation_type: 'sum',
    plan_limits: [
      { plan_name: 'pro', limit_value: null },
      { plan_name: 'free', limit_value: 100, hard_cap: true },
    ],
  });
  expect(meter.status, meter.text).toBe(201);
  expect((await viaFirst('PUT', '/api/usage/customers/u', { plan_name: 'pro' })).status).toBe(201);
  // The first server reads and keeps the configuration: u on unlimited pro
  const track = (value: number, call = viaFirst) => call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', value });
  expect((await track(90)).status).toBe(201);
  expect((await track(5)).status).toBe(201);
  return { viaFirst, viaSecond, track, creatorId: creator.id, meterId: meter.json.id as string };
}

describe('the configuration kept in memory between groups', () => {
  it('a plan change made through another server process applies to the next event here', async () => {
    const { viaSecond, track } = await creatorWithCappedMeter();
    expect((await viaSecond('PUT', '/api/usage/customers/u', { plan_name: 'free' })).status).toBe(200);
    const refused = await track(10);
    expect(refused.status, refused.text).toBe(402);
    expect(refused.json).toMatchObject({ used: '95', limit: '100', remaining: '5' });
    expect((await track(5)).status).toBe(201);
  });

  it('a limit lowered through another server process applies to the next event here', async () => {
    const { viaSecond, track, meterId } = await creatorWithCappedMeter();
    const patched = await viaSecond('PATCH', `/api/usage/meters/${meterId}`, {
      plan_limits: [
        { plan_name: 'pro', limit_value: 96, hard_cap: true },
        { plan_name: 'free', limit_value: 100, hard_cap: true },
      ],
    });
    expect(patched.status, patched.text).toBe(200);
    expect((await track(2)).status).toBe(402);
    expect((await track(1)).status).toBe(201);
  });

  it('a meter archived through another server process stops metering here', async () => {
    const { viaSecond, track, meterId } = await creatorWithCappedMeter();
    expect((await viaSecond('DELETE', `/api/usage/meters/${meterId}`)).status).toBe(200);
    const refused = await track(1);
    expect(refused.status, refused.text).toBe(422);
    expect(refused.json.type).toMatch(/unknown-meter$/);
  });

  it('an event for a meter not created yet is refused, and accepted once another process creates it', async () => {
    const { viaFirst, viaSecond } = await creatorWithCappedMeter();
    const early = await viaFirst('POST', '/api/usage/track', { event_name: 'storage', user_id: 'u', value: 1 });
    expect(early.status).toBe(422);
    const created = await viaSecond('POST', '/api/usage/meters', { event_name: 'storage', display_name: 'Storage', unit_name: 'GB', aggregation_type: 'sum' });
    expect(created.status, created.text).toBe(201);
    const late = await viaFirst('POST', '/api/usage/track', { event_name: 'storage', user_id: 'u', value: 1 });
    expect(late.status, late.text).toBe(201);
  });

  it('a default plan changed through another process is the plan of the next new customer here', async () => {
    const { viaFirst, viaSecond } = await creatorWithCappedMeter();
    // A new customer before the change: no default plan, so no limit
    expect((await viaFirst('POST', '/api/usage/track', { event_name: 'calls', user_id: 'before', value: 500 })).status).toBe(201);
    expect((await viaSecond('PUT', '/api/usage/settings', { default_plan: 'free' })).status).toBe(200);
    const refused = await viaFirst('POST', '/api/usage/track', { event_name: 'calls', user_id: 'after', value: 500 });
    expect(refused.status, refused.text).toBe(402);
    expect(refused.json).toMatchObject({ used: '0', limit: '100' });
  });

  it('a plan changed by an operator in SQL, without the API, applies to the next event', async () => {
    const { track, creatorId } = await creatorWithCappedMeter();
    await first.rt.ownerDb.execute(sql`update customers set plan_name = 'free' where creator_id = ${creatorId} and user_id = 'u'`);
    expect((await track(10)).status).toBe(402);
  });

  it('a customer deleted by an operator in SQL is created again by its next event, not refused', async () => {
    const { track, creatorId, viaFirst } = await creatorWithCappedMeter();
    await first.rt.ownerDb.transaction(async (tx) => {
      await tx.execute(sql`delete from usage_aggregates where creator_id = ${creatorId}`);
      await tx.execute(sql`delete from usage_events where creator_id = ${creatorId}`);
      await tx.execute(sql`delete from customer_plan_changes where creator_id = ${creatorId}`);
      await tx.execute(sql`delete from customers where creator_id = ${creatorId}`);
    });
    const again = await track(7);
    expect(again.status, again.text).toBe(201);
    expect((await viaFirst('GET', '/api/usage/customers/u/usage')).json.meters[0]).toMatchObject({ used: '7' });
  });

  it('a customer’s changed email or name does not make the next group read the configuration again', async () => {
    const { viaSecond, track, creatorId } = await creatorWithCappedMeter();
    const version = async () =>
      Number((await first.rt.ownerDb.execute(sql`select coalesce((select version from creator_config_versions where creator_id = ${creatorId}), 0) as v`))[0]!.v);
    const before = await version();
    expect((await viaSecond('PUT', '/api/usage/customers/u', { email: 'u@example.com', name: 'U' })).status).toBe(200);
    expect(await version()).toBe(before);
    expect((await viaSecond('PUT', '/api/usage/customers/u', { plan_name: 'free' })).status).toBe(200);
    expect(await version()).toBeGreaterThan(before);
    expect((await track(10)).status).toBe(402);
  });
});

describe('groups judged from memory (one round trip)', () => {
  const fromMemory = (server: TestServer) => server.rt.ingest.stats.fromMemory;
  const missed = (server: TestServer) => server.rt.ingest.stats.memoryMissed;

  it('a customer’s later events are judged from memory, each answered with the usage the database then holds', async () => {
    const { track, viaFirst } = await creatorWithCappedMeter();
    const before = fromMemory(first);
    const used: string[] = [];
    for (const value of [1, 2, 3, 4]) {
      const answer = await track(value);
      expect(answer.status, answer.text).toBe(201);
      used.push(answer.json.usage.used);
    }
    expect(fromMemory(first) - before).toBeGreaterThanOrEqual(3);
    expect(used).toEqual(['96', '98', '101', '105']);
    expect((await viaFirst('GET', '/api/usage/customers/u/usage')).json.meters[0]).toMatchObject({ used: '105' });
  });

  it('two processes taking turns on one capped customer: each one’s memory is stale after the other’s commit, and the cap is exact', async () => {
    const { viaFirst, viaSecond } = await creatorWithCappedMeter();
    expect((await viaFirst('PUT', '/api/usage/customers/c', { plan_name: 'free' })).status).toBe(201);
    const statuses: number[] = [];
    const missedBefore = missed(first) + missed(second);
    for (let i = 0; i < 30; i++) {
      const answer = await (i % 2 === 0 ? viaFirst : viaSecond)('POST', '/api/usage/track', { event_name: 'calls', user_id: 'c', value: 7 });
      statuses.push(answer.status);
      if (answer.status === 201) expect(answer.json.usage.used).toBe(String(7 * statuses.filter((s) => s === 201).length));
    }
    // 14 × 7 = 98 ≤ 100; the 15th would make 105
    expect(statuses.filter((s) => s === 201)).toHaveLength(14);
    expect(statuses.slice(14).every((s) => s === 402)).toBe(true);
    expect(missed(first) + missed(second) - missedBefore).toBeGreaterThan(0);
    expect((await viaSecond('GET', '/api/usage/customers/c/usage')).json.meters[0]).toMatchObject({ used: '98', limit: '100' });
  });

  it('concurrent events from two processes against a cap, with both memories warm: exactly the cap is accepted', async () => {
    const { viaFirst, viaSecond } = await creatorWithCappedMeter();
    expect((await viaFirst('PUT', '/api/usage/customers/d', { plan_name: 'free' })).status).toBe(201);
    for (const call of [viaFirst, viaSecond]) expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'd', value: 1 })).status).toBe(201);
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? viaFirst : viaSecond)('POST', '/api/usage/track', { event_name: 'calls', user_id: 'd', value: 1 })),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(98);
    expect(answers.filter((a) => a.status === 402)).toHaveLength(202);
    expect((await viaFirst('GET', '/api/usage/customers/d/usage')).json.meters[0]).toMatchObject({ used: '100' });
  });

  it('an accepted event sent again is replayed, not judged again from memory (even once its customer is capped)', async () => {
    const { viaFirst } = await creatorWithCappedMeter();
    expect((await viaFirst('PUT', '/api/usage/customers/r', { plan_name: 'free' })).status).toBe(201);
    const send = (value: number, key: string) => viaFirst('POST', '/api/usage/track', { event_name: 'calls', user_id: 'r', value, idempotency_key: key });
    const original = await send(60, 'r-1');
    expect(original.status).toBe(201);
    const again = await send(60, 'r-1');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json).toEqual(original.json);
    expect((await send(40, 'r-2')).status).toBe(201);
    // At the cap now: the first event's replay is still its first answer, not a 402
    const late = await send(60, 'r-1');
    expect(late.status, late.text).toBe(201);
    expect(late.json).toEqual(original.json);
    expect((await send(1, 'r-3')).status).toBe(402);
    expect((await viaFirst('GET', '/api/usage/customers/r/usage')).json.meters[0]).toMatchObject({ used: '100' });
  });
});
