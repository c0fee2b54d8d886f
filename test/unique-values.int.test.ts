import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { checkConsistency } from '../server/services/rollups.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * Unique meters whose property holds objects: one object is one value whatever order its
 * keys were sent in — as the consistency check and the meter preview (reading jsonb) count it.
 */
const { url } = await useTestDatabase();
const { server } = useClockedServer(url, new Date('2026-10-25T12:00:00.000Z'));

describe('distinct values that are objects', () => {
  it('count once whatever the key order, and the consistency check agrees with the counter', async () => {
    const { apiKey, creator } = await createCreatorWithKey(server().rt);
    const call = api(server().url, apiKey);
    await createMeter(call, { event_name: 'seats', display_name: 'Seats', aggregation_type: 'unique', unit_name: 'seats', unique_property: 'seat' });
    const track = (seat: unknown) => call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'org', properties: { seat } });
    // The same seat, its keys in two orders (and nested), then a different seat.
    expect((await track({ team: 'a', user: 1 })).json.usage.used).toBe('1');
    expect((await track({ user: 1, team: 'a' })).json.usage.used).toBe('1');
    expect((await track({ user: 1, team: 'a', tags: [{ y: 2, x: 1 }] })).json.usage.used).toBe('2');
    expect((await track({ tags: [{ x: 1, y: 2 }], team: 'a', user: 1 })).json.usage.used).toBe('2');
    expect((await track({ team: 'b', user: 1 })).json.usage.used).toBe('3');
    const report = await checkConsistency(server().rt, { creatorIds: [creator.id] });
    expect(report.disagreements).toEqual([]);
  });

  it('a value stored before keys were sorted (as sent) is not counted again when it comes back', async () => {
    const { apiKey, creator } = await createCreatorWithKey(server().rt);
    const call = api(server().url, apiKey);
    const meter = await createMeter(call, { event_name: 'seats', display_name: 'Seats', aggregation_type: 'unique', unit_name: 'seats', unique_property: 'seat' });
    expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'org', properties: { seat: { team: 'x' } } })).json.usage.used).toBe('1');
    // A value recorded by the earlier version: its key is the JSON as sent, keys unsorted.
    await server().rt.ownerDb.execute(sql`
      insert into usage_unique_values (creator_id, meter_id, customer_id, period_start, value)
      select creator_id, meter_id, customer_id, period_start, ${'p:{"user":7,"team":"a"}'} from usage_unique_values
      where creator_id = ${creator.id} and meter_id = ${meter.id} limit 1`);
    await server().rt.ownerDb.execute(sql`
      update usage_aggregates set value = value + 1, event_count = event_count + 1
      where creator_id = ${creator.id} and meter_id = ${meter.id} and "window" = 'period'`);
    // It comes back in either order: already seen this period.
    expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'org', properties: { seat: { user: 7, team: 'a' } } })).json.usage.used).toBe('2');
    expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'org', properties: { seat: { team: 'a', user: 7 } } })).json.usage.used).toBe('2');
  });
});
