import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * `GET /api/usage/customers/{id}/usage?period=previous`: the period just closed, priced by
 * the plan and limit in force at its end, whatever changed since.
 */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-10-10T12:00:00.000Z'));

describe('usage of the previous period', () => {
  it('answers last period’s figures with the plan and limit that applied then, overage included', async () => {
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    // Given a customer on gold (10 GB included, 2 per GB beyond) who used 15 GB in October
    const meter = await createMeter(call, {
      event_name: 'storage',
      display_name: 'Storage',
      aggregation_type: 'sum',
      unit_name: 'gb',
      plan_limits: [
        { plan_name: 'gold', limit_value: 10, overage_price: 2 },
        { plan_name: 'silver', limit_value: 1, overage_price: 9 },
      ],
    });
    expect((await call('PUT', '/api/usage/customers/ann', { plan_name: 'gold' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'ann', value: 15 })).status).toBe(201);

    // When, in November, gold's limit is raised, ann moves to silver and uses 3 GB more
    setNow(new Date('2026-11-05T12:00:00.000Z'));
    const patched = await call('PATCH', `/api/usage/meters/${meter.id}`, { plan_limits: [{ plan_name: 'gold', limit_value: 20, overage_price: 1 }] });
    expect(patched.status, patched.text).toBe(200);
    expect((await call('PUT', '/api/usage/customers/ann', { plan_name: 'silver' })).status).toBe(200);
    expect((await call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'ann', value: 3 })).status).toBe(201);

    // Then October is shown as it was billed: gold, 15 of 10, 5 GB of overage at 2
    const previous = await call('GET', '/api/usage/customers/ann/usage?period=previous');
    expect(previous.status, previous.text).toBe(200);
    expect(previous.json).toEqual({
      user_id: 'ann',
      plan_name: 'gold',
      period_start: '2026-10-01T00:00:00.000Z',
      period_end: '2026-11-01T00:00:00.000Z',
      meters: [{ meter_id: meter.id, event_name: 'storage', used: '15', limit: '10', remaining: '-5', overage_quantity: '5', overage_amount: '10' }],
    });
    // And November by what applies now: silver, 3 of 1
    const current = await call('GET', '/api/usage/customers/ann/usage');
    expect(current.json).toMatchObject({ plan_name: 'silver', period_start: '2026-11-01T00:00:00.000Z' });
    expect(current.json.meters[0]).toMatchObject({ used: '3', limit: '1', overage_quantity: '2', overage_amount: '18' });
  });

  it('answers a customer with no usage last period with zero figures, not an error', async () => {
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    expect((await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' })).status).toBe(201);
    expect((await call('PUT', '/api/usage/customers/bea', { billing_anchor: '2026-01-31T15:30:00Z' })).status).toBe(201);
    const previous = await call('GET', '/api/usage/customers/bea/usage?period=previous');
    expect(previous.status, previous.text).toBe(200);
    expect(previous.json).toMatchObject({ plan_name: null, period_start: '2026-09-30T15:30:00.000Z', period_end: '2026-10-31T15:30:00.000Z' });
    expect(previous.json.meters).toEqual([expect.objectContaining({ used: '0', limit: null, overage_amount: '0' })]);
  });
});

describe('a billing anchor change next to a closed period', () => {
  it('is refused when a period still taking events would start inside a closed period with usage, and allowed when it starts after it', async () => {
    setNow(new Date('2026-10-25T12:00:00.000Z'));
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    // Given: 10 calls included, hard cap; cal used all 10 in October (calendar month) and nothing since
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'capped', limit_value: 10, hard_cap: true }] });
    expect((await call('PUT', '/api/usage/customers/cal', { plan_name: 'capped' })).status).toBe(201);
    const events = await call('POST', '/api/usage/track', Array.from({ length: 10 }, () => ({ event_name: 'calls', user_id: 'cal', timestamp: '2026-10-25T10:00:00Z' })));
    expect(events.json.results.map((r: { status: number }) => r.status)).toEqual(Array(10).fill(201));

    // When, on 5 November (October closed, the late-event grace of 24 h over), the anchor moves to the 20th
    setNow(new Date('2026-11-05T12:00:00.000Z'));
    const before = await call('GET', '/api/usage/customers/cal/usage');
    const moved = await call('PUT', '/api/usage/customers/cal', { billing_anchor: '2026-01-20T00:00:00Z' });

    // Then it is refused: 20 October – 20 November would take events again for days October's capped usage billed
    expect(moved.status, moved.text).toBe(409);
    expect(moved.json).toMatchObject({ type: expect.stringContaining('billing-anchor-in-use'), errors: [{ field: 'billing_anchor' }] });
    expect((await call('GET', '/api/usage/customers/cal/usage')).json).toEqual(before.json);
    // An event of 25 October still counts nowhere (its period closed), and the cap's period stays October's
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'cal', timestamp: '2026-10-25T11:00:00Z' })).status).toBe(422);

    // An anchor on the 3rd starts the periods still taking events after October ended: accepted
    const later = await call('PUT', '/api/usage/customers/cal', { billing_anchor: '2026-01-03T00:00:00Z' });
    expect(later.status, later.text).toBe(200);
    const usage = await call('GET', '/api/usage/customers/cal/usage');
    expect(usage.json).toMatchObject({ period_start: '2026-11-03T00:00:00.000Z', period_end: '2026-12-03T00:00:00.000Z' });
    expect(usage.json.meters[0]).toMatchObject({ used: '0', limit: '10' });
  });
});
