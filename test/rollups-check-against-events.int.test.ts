import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { getCustomerDetail } from '../server/services/customer-insights.js';
import { getTrends } from '../server/services/insights.js';
import { checkConsistency } from '../server/services/rollups.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { applyRollupJobs } from './harness/rollups.js';
import { useClockedServer } from './harness/server.js';

/**
 * `aggregates check` compares each window with the raw events in it (from a review): the
 * meters' rollups (what Trends and the overview chart read, written by their own statement),
 * which were never compared with anything — a Trends day of 6 calls for 1 event passed — and
 * each customer hour, which was only summed against its period — usage filed under the wrong
 * day of the right period passed.
 */
const { url } = await useTestDatabase();
const NOW = new Date('2026-12-01T00:10:00.000Z');
const { server, setNow } = useClockedServer(url, NOW);

async function creatorWithEvents() {
  const { apiKey, creator } = await createCreatorWithKey(server().rt);
  const call = api(server().url, apiKey);
  const meters = {
    calls: (await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' })).id as string,
    peak: (await createMeter(call, { event_name: 'peak', display_name: 'Peak', aggregation_type: 'max', unit_name: 'seats' })).id as string,
    visitors: (await createMeter(call, { event_name: 'visitors', display_name: 'Visitors', aggregation_type: 'unique', unit_name: 'visitors', unique_property: 'visitor' })).id as string,
  };
  expect((await call('PUT', '/api/usage/customers/bob', { plan_name: 'pro' })).status).toBe(201);
  const events = [
    { event_name: 'calls', user_id: 'ann', timestamp: '2026-11-30T23:59:59.999Z' },
    { event_name: 'calls', user_id: 'bob', timestamp: '2026-12-01T00:00:00.000Z' },
    { event_name: 'peak', user_id: 'ann', value: 4, timestamp: '2026-11-30T10:00:00Z' },
    { event_name: 'peak', user_id: 'bob', value: 7, timestamp: '2026-11-30T11:00:00Z' },
    { event_name: 'visitors', user_id: 'ann', properties: { visitor: 'v1' }, timestamp: '2026-11-30T10:00:00Z' },
    { event_name: 'visitors', user_id: 'ann', properties: { visitor: 'v1' }, timestamp: '2026-11-30T12:00:00Z' },
    { event_name: 'visitors', user_id: 'bob', properties: { visitor: 'v1' }, timestamp: '2026-11-30T12:00:00Z' },
  ];
  const tracked = await call('POST', '/api/usage/track', events);
  expect(tracked.json.results.map((r: { status: number }) => r.status), tracked.text).toEqual(events.map(() => 201));
  return { creatorId: creator.id, meters };
}

const mine = (report: { disagreements: Array<{ creatorId: string; kind: string }> }, creatorId: string) => report.disagreements.filter((d) => d.creatorId === creatorId);

describe('aggregates check: the meters’ rollups against the raw events', () => {
  it('agree after the jobs ran (count, max and unique meters, a day boundary), and while jobs are still pending', async () => {
    setNow(NOW);
    const { creatorId } = await creatorWithEvents();
    // Jobs not applied yet: their events are left out of the comparison, as in the other checks.
    expect(mine(await checkConsistency(server().rt, { creatorIds: [creatorId] }), creatorId)).toEqual([]);
    await applyRollupJobs(server().rt, creatorId);
    expect(mine(await checkConsistency(server().rt, { creatorIds: [creatorId] }), creatorId)).toEqual([]);
  }, 60_000);

  it('a day of the meter rollups that no longer agrees with its events is reported (Trends showed 6 calls for 1)', async () => {
    setNow(NOW);
    const { creatorId, meters } = await creatorWithEvents();
    await applyRollupJobs(server().rt, creatorId);
    await server().rt.ownerDb.execute(sql`
      update usage_meter_rollups set value = value + 5, event_count = event_count + 5
      where creator_id = ${creatorId} and meter_id = ${meters.calls} and grain = 'day' and dimension = '' and window_start = '2026-11-30T00:00:00Z'`);
    const trends = await getTrends(server().rt, creatorId, { meter_id: meters.calls, grain: 'day', from: '2026-11-30T00:00:00Z', to: '2026-12-01T00:00:00Z' });
    expect(trends.total).toBe('6'); // what the creator saw, against 1 raw event
    const found = mine(await checkConsistency(server().rt, { creatorIds: [creatorId] }), creatorId);
    expect(found).toEqual([
      expect.objectContaining({
        kind: 'meter_rollups_vs_events',
        meterId: meters.calls,
        customerId: null,
        windowStart: '2026-11-30T00:00:00.000Z',
        windowEnd: '2026-12-01T00:00:00.000Z',
        actual: { value: '6', eventCount: 6 },
        expected: { value: '1', eventCount: 1 },
      }),
    ]);
  }, 60_000);
});

describe('aggregates check: each customer hour against its events', () => {
  it('usage filed under the wrong day of the right period (the day and its hours moved together) is reported', async () => {
    setNow(NOW);
    const { creatorId, meters } = await creatorWithEvents();
    await applyRollupJobs(server().rt, creatorId);
    await server().rt.ownerDb.execute(sql`
      update usage_aggregates set window_start = window_start - interval '1 day', window_end = window_end - interval '1 day'
      where creator_id = ${creatorId} and meter_id = ${meters.peak} and "window" in ('hour', 'day')`);
    // What the creator sees (in November): ann's peak on the 29th; her event is of the 30th.
    setNow(new Date('2026-11-30T12:00:00Z'));
    const detail = await getCustomerDetail(server().rt, creatorId, 'ann');
    expect(detail.daily.filter((d) => d.meter_id === meters.peak).map((d) => d.day)).toEqual(['2026-11-29T00:00:00.000Z']);
    setNow(NOW);
    const found = mine(await checkConsistency(server().rt, { creatorIds: [creatorId] }), creatorId).filter((d) => d.kind === 'hours_vs_events');
    // Both customers' peak hours: each missing where its event is, and a stray a day before.
    expect(found).toHaveLength(4);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ meterId: meters.peak, windowStart: '2026-11-30T10:00:00.000Z', actual: null, expected: { value: '4', eventCount: 1 } }),
        expect.objectContaining({ meterId: meters.peak, windowStart: '2026-11-29T10:00:00.000Z', actual: { value: '4', eventCount: 1 }, expected: { value: '0', eventCount: 0 } }),
      ]),
    );
  }, 60_000);
});

