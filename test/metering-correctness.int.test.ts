import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { flushApiKeyUsage } from '../server/services/api-keys.js';

const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url);
});
afterAll(() => server.close());

async function creator(target: TestServer = server) {
  const { apiKey, creator } = await createCreatorWithKey(target.rt);
  return { call: api(target.url, apiKey), creatorId: creator.id, apiKey };
}

type Call = ReturnType<typeof api>;
const meter = async (call: Call, body: Record<string, unknown>) => {
  const response = await call('POST', '/api/usage/meters', { display_name: 'M', unit_name: 'units', ...body });
  expect(response.status, JSON.stringify(response.json)).toBe(201);
  return response.json as { id: string };
};
const track = (call: Call, body: unknown, headers: Record<string, string> = {}) => call('POST', '/api/usage/track', body, headers);

const count = async (query: ReturnType<typeof sql>) => Number((await server.rt.ownerDb.execute<{ n: string }>(query))[0]!.n);

describe('hard caps hold exactly under concurrency', () => {
  it('500 concurrent requests against a limit of 100 → exactly 100 accepted', async () => {
    const { call, creatorId } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'capped', limit_value: 100, hard_cap: true }] });
    await call('PUT', '/api/usage/customers/hot', { plan_name: 'capped' });
    const results = await Promise.all(Array.from({ length: 500 }, () => track(call, { event_name: 'calls', user_id: 'hot' })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(100);
    expect(statuses.filter((s) => s === 402)).toHaveLength(400);
    expect(await count(sql`select count(*) as n from usage_events where creator_id = ${creatorId}`)).toBe(100);
    const usage = await call('GET', '/api/usage/customers/hot/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '100', remaining: '0' });
  }, 60_000);

  it('1,000 concurrent requests against a limit of 1 → exactly 1 accepted', async () => {
    const { call, creatorId } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'one', limit_value: 1, hard_cap: true }] });
    await call('PUT', '/api/usage/customers/solo', { plan_name: 'one' });
    const results = await Promise.all(Array.from({ length: 1000 }, () => track(call, { event_name: 'calls', user_id: 'solo' })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(await count(sql`select count(*) as n from usage_events where creator_id = ${creatorId}`)).toBe(1);
  }, 60_000);

  it('two server processes against one database keep the cap exact', async () => {
    const other = await startTestServer(url);
    try {
      const { call, apiKey, creatorId } = await creator();
      const otherCall = api(other.url, apiKey);
      await meter(call, { event_name: 'calls', aggregation_type: 'sum', plan_limits: [{ plan_name: 'p', limit_value: 50, hard_cap: true }] });
      await call('PUT', '/api/usage/customers/shared', { plan_name: 'p' });
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => track(i % 2 ? otherCall : call, { event_name: 'calls', user_id: 'shared', value: 1 })),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(50);
      expect(await count(sql`select count(*) as n from usage_events where creator_id = ${creatorId}`)).toBe(50);
    } finally {
      await other.close();
    }
  }, 60_000);

  it('sum caps judge the value: an event that would overshoot is refused, a smaller one still fits', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'bytes', aggregation_type: 'sum', plan_limits: [{ plan_name: 'p', limit_value: 10, hard_cap: true }] });
    await call('PUT', '/api/usage/customers/u', { plan_name: 'p' });
    expect((await track(call, { event_name: 'bytes', user_id: 'u', value: 7 })).status).toBe(201);
    const over = await track(call, { event_name: 'bytes', user_id: 'u', value: 4 });
    expect(over.status).toBe(402);
    expect(over.json).toMatchObject({ used: '7', limit: '10', remaining: '3' });
    expect((await track(call, { event_name: 'bytes', user_id: 'u', value: 3 })).status).toBe(201);
  });
});

describe('idempotency', () => {
  it('replays the original answer with Idempotent-Replayed, never counts twice, and refuses a different payload', async () => {
    const { call, creatorId } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count' });
    const first = await track(call, { event_name: 'calls', user_id: 'u', idempotency_key: 'k-1' });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    await track(call, { event_name: 'calls', user_id: 'u' });
    const again = await track(call, { event_name: 'calls', user_id: 'u', idempotency_key: 'k-1' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json).toEqual(first.json);
    const header = await track(call, { event_name: 'calls', user_id: 'u' }, { 'idempotency-key': 'k-1' });
    expect(header.status).toBe(201);
    expect(header.json).toEqual(first.json);
    const different = await track(call, { event_name: 'calls', user_id: 'u', value: 2, idempotency_key: 'k-1' });
    expect(different.status).toBe(422);
    expect(different.json.type).toContain('idempotency-key-reused');
    expect(await count(sql`select count(*) as n from usage_events where creator_id = ${creatorId}`)).toBe(2);
  });

  it('a key whose event was refused stays unused, within a batch as across requests: a later event may take it', async () => {
    const { call, creatorId } = await creator();
    await meter(call, { event_name: 'gb', aggregation_type: 'sum', plan_limits: [{ plan_name: 'free', limit_value: 60, hard_cap: true }] });
    expect((await call('PUT', '/api/usage/customers/u', { plan_name: 'free' })).status).toBe(201);
    expect((await track(call, { event_name: 'gb', user_id: 'u', value: 20 })).status).toBe(201);
    // One batch: 50 more would pass the cap (402); then the same key on 5, which fits; then
    // 5 again under that key (a replay of it), and 50 under it (now a reuse).
    const batch = await track(call, [
      { event_name: 'gb', user_id: 'u', value: 50, idempotency_key: 'k' },
      { event_name: 'gb', user_id: 'u', value: 5, idempotency_key: 'k' },
      { event_name: 'gb', user_id: 'u', value: 5, idempotency_key: 'k' },
      { event_name: 'gb', user_id: 'u', value: 50, idempotency_key: 'k' },
    ]);
    expect(batch.status, batch.text).toBe(200);
    const results = batch.json.results as Array<{ status: number; replayed?: boolean; event?: { id: string; value: string }; type?: string }>;
    expect(results.map((r) => r.status)).toEqual([402, 201, 201, 422]);
    expect(results[1]!.event).toMatchObject({ value: '5' });
    expect(results[2]).toMatchObject({ replayed: true, event: results[1]!.event });
    // As sent later on their own: the key answers for the event of 5.
    const again = await track(call, { event_name: 'gb', user_id: 'u', value: 5, idempotency_key: 'k' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await track(call, { event_name: 'gb', user_id: 'u', value: 50, idempotency_key: 'k' })).status).toBe(422);
    expect(await count(sql`select count(*) as n from usage_events where creator_id = ${creatorId}`)).toBe(2);
    expect((await call('GET', '/api/usage/customers/u/usage')).json.meters[0]).toMatchObject({ used: '25' });
  });

  it('replays an accepted event forever: after its meter is archived and after its period closed', async () => {
    let clock = new Date('2026-03-31T23:00:00Z');
    const timed = await startTestServer(url, { now: () => clock });
    onTestFinished(() => timed.close());
    const { call } = await creator(timed);
    const archived = await meter(call, { event_name: 'old', aggregation_type: 'count' });
    await meter(call, { event_name: 'calls', aggregation_type: 'count' });
    const events = [
      { event_name: 'old', user_id: 'u', idempotency_key: 'k-old' },
      { event_name: 'calls', user_id: 'u', idempotency_key: 'k-march' },
    ];
    const first = await Promise.all(events.map((e) => track(call, e)));
    expect(first.map((r) => r.status)).toEqual([201, 201]);
    expect((await call('DELETE', `/api/usage/meters/${archived.id}`)).status).toBe(200);
    // April 3rd: March closed more than the late-event grace (24 h by default) ago.
    clock = new Date('2026-04-03T00:00:00Z');
    const replays = [...(await Promise.all(events.map((e) => track(call, e)))), (await track(call, events))];
    for (const i of events.keys()) {
      expect(replays[i]!.status).toBe(201);
      expect(replays[i]!.headers.get('idempotent-replayed')).toBe('true');
      expect(replays[i]!.json).toEqual(first[i]!.json);
      expect(replays[2]!.json.results[i]).toMatchObject({ status: 201, replayed: true, event: first[i]!.json });
    }
    // A new event for the closed period or the archived meter is still refused.
    expect((await track(call, { ...events[1]!, idempotency_key: 'k-new', timestamp: '2026-03-31T22:00:00Z' })).json.type).toContain('period-closed');
    expect((await track(call, { ...events[0]!, idempotency_key: 'k-new-old' })).json.type).toContain('unknown-meter');
    // The same key with another payload is still a reuse.
    expect((await track(call, { ...events[1]!, value: 2 })).json.type).toContain('idempotency-key-reused');
  });

  it('resending 20 % of events with the same keys, half of them concurrently → stored = distinct keys', async () => {
    const { call, creatorId } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'sum' });
    const events = Array.from({ length: 500 }, (_, i) => ({ event_name: 'calls', user_id: `u${i % 37}`, value: (i % 5) + 1, idempotency_key: `key-${i}` }));
    const resent = events.filter((_, i) => i % 5 === 0);
    const concurrent = resent.filter((_, i) => i % 2 === 0);
    const later = resent.filter((_, i) => i % 2 === 1);
    const firstRound = await Promise.all([...events, ...concurrent].map((e) => track(call, e)));
    expect(firstRound.every((r) => r.status === 201)).toBe(true);
    const secondRound = await Promise.all(later.map((e) => track(call, e)));
    expect(secondRound.every((r) => r.status === 201 && r.headers.get('idempotent-replayed') === 'true')).toBe(true);
    expect(await count(sql`select count(*) as n from usage_events where creator_id = ${creatorId}`)).toBe(500);
    const expectedSum = events.reduce((s, e) => s + e.value, 0);
    const [row] = await server.rt.ownerDb.execute<{ total: string }>(
      sql`select sum(value)::text as total from usage_aggregates where creator_id = ${creatorId} and "window" = 'period'`,
    );
    expect(Number(row!.total)).toBe(expectedSum);
  }, 60_000);

  it('is permanent: a key is remembered across periods and server restarts', async () => {
    const { call, apiKey } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count' });
    const first = await track(call, { event_name: 'calls', user_id: 'u', idempotency_key: 'forever' });
    const restarted = await startTestServer(url, { now: () => new Date(Date.now() + 400 * 86_400_000) });
    try {
      const replay = await api(restarted.url, apiKey)('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u', idempotency_key: 'forever' });
      expect(replay.status).toBe(201);
      expect(replay.json.id).toBe(first.json.id);
    } finally {
      await restarted.close();
    }
  });

  it('judges a batch per event in order, replaying duplicates inside it', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'p', limit_value: 2, hard_cap: true }] });
    await call('PUT', '/api/usage/customers/u', { plan_name: 'p' });
    const response = await track(call, [
      { event_name: 'calls', user_id: 'u', idempotency_key: 'a' },
      { event_name: 'nope', user_id: 'u' },
      { event_name: 'calls', user_id: 'u', idempotency_key: 'a' },
      { event_name: 'calls', user_id: 'u', idempotency_key: 'b' },
      { event_name: 'calls', user_id: 'u', idempotency_key: 'c' },
      { event_name: 'calls', user_id: 'u', value: -1 },
    ]);
    expect(response.status).toBe(200);
    const results = response.json.results as Array<{ index: number; status: number; id?: string; replayed?: boolean; error?: { type: string } }>;
    expect(results.map((r) => r.status)).toEqual([201, 422, 201, 201, 402, 422]);
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(results[2]!.id).toBe(results[0]!.id);
    expect(results[2]!.replayed).toBe(true);
    expect(results[1]!.error!.type).toContain('unknown-meter');
    // The refused event did not consume its key: once there is room, it is accepted.
    await call('PATCH', `/api/usage/meters/${(await call('GET', '/api/usage/meters')).json.meters[0].id}`, {
      plan_limits: [{ plan_name: 'p', limit_value: 3, hard_cap: true }],
    });
    expect((await track(call, { event_name: 'calls', user_id: 'u', idempotency_key: 'c' })).status).toBe(201);
  });

  it('refuses an Idempotency-Key header on a batch (it names one event; a retried batch would count twice): 422, nothing recorded', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count' });
    const batch = [{ event_name: 'calls', user_id: 'u' }, { event_name: 'calls', user_id: 'v' }];
    const refused = await track(call, batch, { 'idempotency-key': 'batch-1' });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.json.errors).toEqual([expect.objectContaining({ field: 'Idempotency-Key' })]);
    expect((await call('GET', '/api/usage/customers/u/usage')).status).toBe(404);
    // Keys per event are how a batch is made safe to retry.
    const keyed = batch.map((e, i) => ({ ...e, idempotency_key: `batch-1-${i}` }));
    expect((await track(call, keyed)).json.results.map((r: { status: number }) => r.status)).toEqual([201, 201]);
    expect((await track(call, keyed)).json.results.map((r: { replayed?: boolean }) => r.replayed)).toEqual([true, true]);
  });
});

describe('aggregations over a period', () => {
  it('sum is exact in decimals; max keeps the largest; unique counts distinct property values exactly', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'money', aggregation_type: 'sum' });
    await meter(call, { event_name: 'peak', aggregation_type: 'max' });
    await meter(call, { event_name: 'seats', aggregation_type: 'unique', unique_property: 'member' });
    await track(call, { event_name: 'money', user_id: 'u', value: 0.1 });
    const sum = await track(call, { event_name: 'money', user_id: 'u', value: '0.2' });
    expect(sum.json.usage.used).toBe('0.3');
    for (const v of [3, 9.5, 2]) await track(call, { event_name: 'peak', user_id: 'u', value: v });
    for (const m of ['ann', 'bob', 'ann', 1, '1']) await track(call, { event_name: 'seats', user_id: 'u', properties: { member: m } });
    const usage = await call('GET', '/api/usage/customers/u/usage');
    const byName = Object.fromEntries(usage.json.meters.map((m: { event_name: string; used: string }) => [m.event_name, m.used]));
    expect(byName).toEqual({ money: '0.3', peak: '9.5', seats: '4' });
  });

  it('a unique meter with a hard cap refuses only new values past the limit', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'seats', aggregation_type: 'unique', unique_property: 'member', plan_limits: [{ plan_name: 'p', limit_value: 2, hard_cap: true }] });
    await call('PUT', '/api/usage/customers/u', { plan_name: 'p' });
    const send = (member: string) => track(call, { event_name: 'seats', user_id: 'u', properties: { member } });
    expect((await send('a')).status).toBe(201);
    expect((await send('b')).status).toBe(201);
    expect((await send('c')).status).toBe(402);
    expect((await send('a')).status).toBe(201);
  });

  it('a unique meter counting values at its cap: check allows a value already seen, as track accepts it, and refuses a new one', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'regions', aggregation_type: 'unique', plan_limits: [{ plan_name: 'p', limit_value: 2, hard_cap: true }] });
    await call('PUT', '/api/usage/customers/u', { plan_name: 'p' });
    for (const value of [1, 2]) expect((await track(call, { event_name: 'regions', user_id: 'u', value })).status).toBe(201);
    const check = async (value: string) => (await call('GET', `/api/usage/check?user_id=u&event_name=regions&value=${value}`)).json;
    expect(await check('2')).toMatchObject({ allowed: true, used: '2', limit: '2' });
    expect(await check('2.0')).toMatchObject({ allowed: true });
    expect(await check('3')).toMatchObject({ allowed: false, used: '2' });
    expect((await track(call, { event_name: 'regions', user_id: 'u', value: 2 })).status).toBe(201);
    expect((await track(call, { event_name: 'regions', user_id: 'u', value: 3 })).status).toBe(402);
    // With a unique_property, the value tells nothing: a new distinct value is assumed (the worst case)
    await meter(call, { event_name: 'seats', aggregation_type: 'unique', unique_property: 'member', plan_limits: [{ plan_name: 'p', limit_value: 1, hard_cap: true }] });
    expect((await track(call, { event_name: 'seats', user_id: 'u', properties: { member: 'a' } })).status).toBe(201);
    expect((await call('GET', '/api/usage/check?user_id=u&event_name=seats')).json).toMatchObject({ allowed: false });
  });

  it('a unique meter counts long values exactly, however long (up to the property limits)', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'docs', aggregation_type: 'unique', unique_property: 'doc' });
    // Incompressible and longer than a Postgres index entry may be (~2.7 kB); two of
    // them share their first 300 characters.
    const prefix = randomBytes(225).toString('base64');
    const long = (n: number) => prefix + randomBytes(5_400).toString('base64') + String(n);
    const [first, second] = [long(1), long(2)];
    const sent = [first, second, first];
    const statuses = [];
    for (const doc of sent) statuses.push((await track(call, { event_name: 'docs', user_id: 'u', properties: { doc } })).status);
    expect(statuses).toEqual([201, 201, 201]);
    const batch = await track(call, [second, long(3)].map((doc) => ({ event_name: 'docs', user_id: 'u', properties: { doc } })));
    expect(batch.json.results.map((r: { status: number }) => r.status)).toEqual([201, 201]);
    const usage = await call('GET', '/api/usage/customers/u/usage');
    expect(usage.json.meters[0]).toMatchObject({ event_name: 'docs', used: '3' });
  });

  it('a max meter with a hard cap refuses values above the limit only', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'concurrent', aggregation_type: 'max', plan_limits: [{ plan_name: 'p', limit_value: 10, hard_cap: true }] });
    await call('PUT', '/api/usage/customers/u', { plan_name: 'p' });
    expect((await track(call, { event_name: 'concurrent', user_id: 'u', value: 10 })).status).toBe(201);
    expect((await track(call, { event_name: 'concurrent', user_id: 'u', value: 11 })).status).toBe(402);
    expect((await track(call, { event_name: 'concurrent', user_id: 'u', value: 4 })).status).toBe(201);
  });

  it('duration converts seconds to the unit and caps in that unit', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'minutes', aggregation_type: 'duration', unit_name: 'minutes', plan_limits: [{ plan_name: 'p', limit_value: 2, hard_cap: true }] });
    await call('PUT', '/api/usage/customers/u', { plan_name: 'p' });
    const first = await track(call, { event_name: 'minutes', user_id: 'u', value: 100 });
    expect(first.json.usage).toMatchObject({ used: '1.666666667', limit: '2', remaining: '0.333333333' });
    expect((await track(call, { event_name: 'minutes', user_id: 'u', value: 21 })).status).toBe(402);
    expect((await track(call, { event_name: 'minutes', user_id: 'u', value: 20 })).json.usage.used).toBe('2');
  });

  it('Σ period counters = Σ raw events for every meter and customer', async () => {
    const { call, creatorId } = await creator();
    await meter(call, { event_name: 'a', aggregation_type: 'sum' });
    await meter(call, { event_name: 'b', aggregation_type: 'count' });
    const batch = Array.from({ length: 600 }, (_, i) => ({ event_name: i % 3 ? 'a' : 'b', user_id: `c${i % 11}`, value: `${i % 7}.${i % 10}` }));
    await Promise.all([track(call, batch.slice(0, 300)), track(call, batch.slice(300))]);
    const mismatches = await server.rt.ownerDb.execute(sql`
      with raw as (
        select e.meter_id, e.customer_id, e.period_start,
               case when m.aggregation_type = 'count' then count(*)::numeric else sum(e.value) end as total, count(*) as n
        from usage_events e join usage_meters m on m.creator_id = e.creator_id and m.meter_id = e.meter_id
        where e.creator_id = ${creatorId} group by 1, 2, 3, m.aggregation_type)
      select * from raw full join usage_aggregates a
        on a.creator_id = ${creatorId} and a.meter_id = raw.meter_id and a.customer_id = raw.customer_id
       and a.window = 'period' and a.window_start = raw.period_start
      where (a.creator_id is null or a.creator_id = ${creatorId}) and (a.value is distinct from raw.total or a.event_count is distinct from raw.n)`);
    expect(mismatches).toEqual([]);
  });
});

describe('periods, timestamps and plans', () => {
  it('counts an event in the period its timestamp falls in, at ±1 ms of the boundary', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count' });
    await call('PUT', '/api/usage/settings', { late_event_grace_hours: 24 * 35 }); // the previous period stays open
    const now = new Date();
    const boundary = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const before = await track(call, { event_name: 'calls', user_id: 'u', timestamp: new Date(boundary.getTime() - 1).toISOString() });
    const at = await track(call, { event_name: 'calls', user_id: 'u', timestamp: boundary.toISOString() });
    expect(before.status).toBe(201);
    expect(new Date(before.json.usage.period_end).getTime()).toBe(boundary.getTime());
    expect(new Date(at.json.usage.period_start).getTime()).toBe(boundary.getTime());
    expect(at.json.usage.used).toBe('1');
  });

  it('accepts late events within the grace, refuses them after (period-closed), and refuses the far future', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count' });
    const now = new Date();
    const previousPeriodEvent = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - 60_000).toISOString();
    await call('PUT', '/api/usage/settings', { late_event_grace_hours: 0 });
    const closed = await track(call, { event_name: 'calls', user_id: 'u', timestamp: previousPeriodEvent });
    expect(closed.status).toBe(422);
    expect(closed.json.type).toContain('period-closed');
    await call('PUT', '/api/usage/settings', { late_event_grace_hours: 24 * 35 });
    expect((await track(call, { event_name: 'calls', user_id: 'u', timestamp: previousPeriodEvent })).status).toBe(201);
    const future = await track(call, { event_name: 'calls', user_id: 'u', timestamp: new Date(Date.now() + 6 * 60_000).toISOString() });
    expect(future.status).toBe(422);
    expect(future.json.errors[0].field).toBe('timestamp');
    expect((await track(call, { event_name: 'calls', user_id: 'u', timestamp: new Date(Date.now() + 60_000).toISOString() })).status).toBe(201);
  });

  it('puts unknown users on the default plan; a plan change applies from the next event to the period total', async () => {
    const { call } = await creator();
    await meter(call, {
      event_name: 'calls',
      aggregation_type: 'count',
      plan_limits: [
        { plan_name: 'free', limit_value: 2, hard_cap: true },
        { plan_name: 'pro', limit_value: 5, hard_cap: true },
      ],
    });
    await call('PUT', '/api/usage/settings', { default_plan: 'free' });
    for (let i = 0; i < 2; i++) expect((await track(call, { event_name: 'calls', user_id: 'new-user' })).status).toBe(201);
    expect((await track(call, { event_name: 'calls', user_id: 'new-user' })).status).toBe(402);
    const upgraded = await call('PUT', '/api/usage/customers/new-user', { plan_name: 'pro' });
    expect(upgraded.status).toBe(200);
    const next = await track(call, { event_name: 'calls', user_id: 'new-user' });
    expect(next.status).toBe(201);
    expect(next.json.usage).toMatchObject({ used: '3', limit: '5', remaining: '2' });
  });

  it('a customer created without a plan_name is on the default plan, as check judged it before; plan_name null says no plan', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'free', limit_value: 1, hard_cap: true }] });
    expect((await call('PUT', '/api/usage/settings', { default_plan: 'free' })).status).toBe(200);
    expect((await call('GET', '/api/usage/check?user_id=signup&event_name=calls')).json).toMatchObject({ allowed: true, limit: '1', hard_cap: true });
    const created = await call('PUT', '/api/usage/customers/signup', { email: 'signup@example.com' });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({ user_id: 'signup', plan_name: 'free', email: 'signup@example.com' });
    expect((await call('GET', '/api/usage/check?user_id=signup&event_name=calls')).json).toMatchObject({ allowed: true, limit: '1', hard_cap: true });
    expect((await track(call, { event_name: 'calls', user_id: 'signup' })).status).toBe(201);
    expect((await track(call, { event_name: 'calls', user_id: 'signup' })).status).toBe(402);
    // Updating it without plan_name leaves its plan; null takes it off any plan
    expect((await call('PUT', '/api/usage/customers/signup', { name: 'Sign Up' })).json).toMatchObject({ plan_name: 'free' });
    const planless = await call('PUT', '/api/usage/customers/explicit', { plan_name: null });
    expect(planless.status, planless.text).toBe(201);
    expect(planless.json).toMatchObject({ plan_name: null });
    for (let i = 0; i < 2; i++) expect((await track(call, { event_name: 'calls', user_id: 'explicit' })).status).toBe(201);
  });

  it('customers without a plan are recorded and never limited; a changed limit applies to the next event', async () => {
    const { call } = await creator();
    const m = await meter(call, { event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'p', limit_value: 1, hard_cap: true }] });
    for (let i = 0; i < 3; i++) expect((await track(call, { event_name: 'calls', user_id: 'planless' })).json.usage.limit).toBeNull();
    await call('PUT', '/api/usage/customers/capped', { plan_name: 'p' });
    expect((await track(call, { event_name: 'calls', user_id: 'capped' })).status).toBe(201);
    expect((await track(call, { event_name: 'calls', user_id: 'capped' })).status).toBe(402);
    const patched = await call('PATCH', `/api/usage/meters/${m.id}`, { plan_limits: [{ plan_name: 'p', limit_value: null }] });
    expect(patched.json.plan_limits[0].limit_value).toBeNull();
    expect((await track(call, { event_name: 'calls', user_id: 'capped' })).status).toBe(201);
  });

  it('an archived meter stops metering and keeps its history', async () => {
    const { call } = await creator();
    const m = await meter(call, { event_name: 'calls', aggregation_type: 'count' });
    await track(call, { event_name: 'calls', user_id: 'u' });
    const archived = await call('DELETE', `/api/usage/meters/${m.id}`);
    expect(archived.json.status).toBe('archived');
    expect((await track(call, { event_name: 'calls', user_id: 'u' })).json.type).toContain('unknown-meter');
    expect((await call('GET', '/api/usage/meters')).json.meters).toEqual([]);
    expect((await call('GET', '/api/usage/meters?include_archived=true')).json.meters).toHaveLength(1);
    expect((await call('GET', '/api/usage/customers/u/usage')).json.meters[0]).toMatchObject({ event_name: 'calls', used: '1' });
    expect((await meter(call, { event_name: 'calls', aggregation_type: 'sum' })).id).not.toBe(m.id);
  });

  it('leaves no customer or counter behind for a new user whose only events were refused', async () => {
    const { call, creatorId } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'sum', plan_limits: [{ plan_name: 'tiny', limit_value: 5, hard_cap: true }] });
    await call('PUT', '/api/usage/settings', { default_plan: 'tiny' });
    await track(call, { event_name: 'calls', user_id: 'known', idempotency_key: 'shared-key' });
    const reused = await track(call, { event_name: 'calls', user_id: 'ghost-1', idempotency_key: 'shared-key' });
    expect(reused.status).toBe(422);
    const customersOf = async () =>
      (await server.rt.ownerDb.execute<{ user_id: string }>(sql`select user_id from customers where creator_id = ${creatorId} order by user_id`)).map((r) => r.user_id);
    const countersOf = async () => count(sql`select count(*) as n from usage_aggregates where creator_id = ${creatorId}`);
    expect(await customersOf()).toEqual(['known']);
    expect(await countersOf()).toBe(1);
    // Refused by the hard cap far below it (one event larger than the whole limit): no alert
    // (the customer is not at the cap), so nothing of the new user is left either.
    const capped = await track(call, { event_name: 'calls', user_id: 'ghost-2', value: 6 });
    expect(capped.status).toBe(402);
    expect(await customersOf()).toEqual(['known']);
    expect(await countersOf()).toBe(1);
    expect((await call('GET', '/api/usage/alerts?user_id=ghost-2')).json.alerts).toEqual([]);
    // Refused at the cap (a limit of 0 takes nothing): the refusal is an alert, so the customer stays.
    await meter(call, { event_name: 'blocked', aggregation_type: 'count', plan_limits: [{ plan_name: 'tiny', limit_value: 0, hard_cap: true }] });
    const blocked = await track(call, { event_name: 'blocked', user_id: 'ghost-3' });
    expect(blocked.status).toBe(402);
    expect(await customersOf()).toEqual(['ghost-3', 'known']);
    const alerts = await call('GET', '/api/usage/alerts?user_id=ghost-3');
    expect(alerts.json.alerts.map((a: { kind: string; used: string }) => [a.kind, a.used])).toEqual([['hard_limit_reached', '0']]);
  });

  it('refuses a second live meter with the same event_name (409)', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count' });
    const again = await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'x', aggregation_type: 'count', unit_name: 'u' });
    expect(again.status).toBe(409);
    expect(again.json.errors[0].field).toBe('event_name');
  });
});

describe('check API and browser tokens', () => {
  it('answers allowed/used/limit/remaining from the live counter and records nothing', async () => {
    const { call, creatorId } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'p', limit_value: 3, hard_cap: true }] });
    await call('PUT', '/api/usage/customers/u', { plan_name: 'p' });
    await track(call, { event_name: 'calls', user_id: 'u' });
    await track(call, { event_name: 'calls', user_id: 'u' });
    const ok = await call('GET', '/api/usage/check?user_id=u&event_name=calls');
    expect(ok.json).toMatchObject({ allowed: true, used: '2', limit: '3', remaining: '1', hard_cap: true });
    const tooMuch = await call('GET', '/api/usage/check?user_id=u&event_name=calls&value=2');
    expect(tooMuch.json.allowed).toBe(true); // count meters count events, not values
    await track(call, { event_name: 'calls', user_id: 'u' });
    expect((await call('GET', '/api/usage/check?user_id=u&event_name=calls')).json).toMatchObject({ allowed: false, remaining: '0' });
    expect((await call('GET', '/api/usage/check?user_id=unknown&event_name=calls')).json).toMatchObject({ allowed: true, used: '0', limit: null });
    expect(await count(sql`select count(*) as n from usage_events where creator_id = ${creatorId}`)).toBe(3);
  });

  it('mints a token that tracks and checks only for its own user, and expires', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count' });
    const minted = await call('POST', '/api/usage/tokens', { user_id: 'browser-user', ttl_seconds: 60 });
    expect(minted.status).toBe(201);
    const asUser = api(server.url, minted.json.token);
    expect((await asUser('POST', '/api/usage/track', { event_name: 'calls', user_id: 'browser-user' })).status).toBe(201);
    expect((await asUser('POST', '/api/usage/track', { event_name: 'calls', user_id: 'someone-else' })).status).toBe(403);
    expect((await asUser('GET', '/api/usage/check?user_id=browser-user&event_name=calls')).json.used).toBe('1');
    expect((await asUser('GET', '/api/usage/check?user_id=someone-else&event_name=calls')).status).toBe(403);
    expect((await asUser('GET', '/api/usage/meters')).status).toBe(403);
    expect((await asUser('POST', '/api/usage/tokens', { user_id: 'browser-user' })).status).toBe(403);
    const tampered = minted.json.token.slice(0, -2) + (minted.json.token.endsWith('AA') ? 'BB' : 'AA');
    expect((await api(server.url, tampered)('POST', '/api/usage/track', { event_name: 'calls', user_id: 'browser-user' })).status).toBe(401);
    const later = await startTestServer(url, { now: () => new Date(Date.now() + 120_000) });
    try {
      const expired = await api(later.url, minted.json.token)('POST', '/api/usage/track', { event_name: 'calls', user_id: 'browser-user' });
      expect(expired.status).toBe(401);
      expect(expired.json.detail).toContain('expired');
    } finally {
      await later.close();
    }
  });
});

describe('tokens naming a creator that does not exist', () => {
  it('are refused (401) at the cost of one database look-up a minute, not one per request', async () => {
    // Anyone can write such a token: its signature cannot be checked without a creator's secret
    const claims = Buffer.from(JSON.stringify({ cid: crypto.randomUUID(), sub: 'x', aud: 'staryer-usage:track', exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
    const forged = api(server.url, `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${claims}.c2lnbmF0dXJl`);
    // Counting the application's transactions while they come in — after recording the keys
    // earlier tests used, which the server does every 10 s in a transaction of its own.
    await flushApiKeyUsage(server.rt);
    const db = server.rt.db;
    const transaction = db.transaction.bind(db);
    let transactions = 0;
    db.transaction = ((...args: Parameters<typeof transaction>) => (transactions++, transaction(...args))) as typeof db.transaction;
    try {
      for (let i = 0; i < 20; i++) expect((await forged('GET', '/api/usage/check?user_id=x&event_name=calls')).status).toBe(401);
    } finally {
      db.transaction = transaction;
    }
    expect(transactions).toBe(1);
  });
});

describe('tenant isolation of metering', () => {
  it("gives creator B's key a turn at every one of creator A's resources: 404 or nothing of A's, nothing changed", async () => {
    const a = await creator();
    const b = await creator();
    const m = await meter(a.call, { event_name: 'calls', aggregation_type: 'count', plan_limits: [{ plan_name: 'p', limit_value: 5 }] });
    await a.call('PUT', '/api/usage/customers/alice', { plan_name: 'p', email: 'alice@example.com' });
    await track(a.call, { event_name: 'calls', user_id: 'alice', idempotency_key: 'a-key' });
    await a.call('PUT', '/api/usage/settings', { default_plan: 'p' });
    const snapshot = async () => ({
      meters: (await a.call('GET', '/api/usage/meters?include_archived=true')).json,
      usage: (await a.call('GET', '/api/usage/customers/alice/usage')).json,
      settings: (await a.call('GET', '/api/usage/settings')).json,
    });
    const before = await snapshot();

    expect((await b.call('GET', `/api/usage/meters/${m.id}`)).status).toBe(404);
    expect((await b.call('PATCH', `/api/usage/meters/${m.id}`, { display_name: 'pwned' })).status).toBe(404);
    expect((await b.call('DELETE', `/api/usage/meters/${m.id}`)).status).toBe(404);
    expect((await b.call('GET', '/api/usage/meters')).json.meters).toEqual([]);
    expect((await b.call('GET', '/api/usage/customers/alice/usage')).status).toBe(404);
    expect((await b.call('GET', '/api/usage/check?user_id=alice&event_name=calls')).status).toBe(422); // B has no such meter
    expect((await track(b.call, { event_name: 'calls', user_id: 'alice', idempotency_key: 'a-key' })).status).toBe(422);
    expect((await b.call('GET', '/api/usage/settings')).json.default_plan).toBeNull();
    // B's own customer "alice" is a different customer; A's is untouched.
    expect((await b.call('PUT', '/api/usage/customers/alice', { plan_name: 'other' })).status).toBe(201);

    expect(await snapshot()).toEqual(before);
  });
});

describe('billing anchor changes', () => {
  it('a new anchor that would move recorded usage to other periods is refused (409) and changes nothing', async () => {
    const { call } = await creator();
    await meter(call, { event_name: 'gb', aggregation_type: 'sum', plan_limits: [{ plan_name: 'hc', limit_value: '0.3', hard_cap: true }] });
    expect((await call('PUT', '/api/usage/customers/c1', { plan_name: 'hc' })).status).toBe(201);
    for (const value of [0.1, 0.2]) expect((await track(call, { event_name: 'gb', user_id: 'c1', value })).status).toBe(201);
    const before = (await call('GET', '/api/usage/customers/c1/usage')).json;

    // An anchor 40 days back starts periods on another day of the month than the calendar month's 1st.
    const anchor = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const moved = await call('PUT', '/api/usage/customers/c1', { billing_anchor: anchor });
    expect(moved.status).toBe(409);
    expect(moved.json).toMatchObject({ type: expect.stringContaining('billing-anchor-in-use'), errors: [{ field: 'billing_anchor' }] });
    expect((await call('GET', '/api/usage/customers/c1/usage')).json).toEqual(before);
    // The cap still holds on the usage already recorded.
    expect((await track(call, { event_name: 'gb', user_id: 'c1', value: 0.1 })).status).toBe(402);

    // The calendar month's own anchor (00:00 on the 1st) gives the same periods: accepted.
    const first = before.meters[0].period_start as string;
    expect((await call('PUT', '/api/usage/customers/c1', { billing_anchor: first })).status).toBe(200);
    // A customer without usage takes any anchor.
    expect((await call('PUT', '/api/usage/customers/c2', { plan_name: 'hc' })).status).toBe(201);
    expect((await call('PUT', '/api/usage/customers/c2', { billing_anchor: anchor })).status).toBe(200);
  });
});
