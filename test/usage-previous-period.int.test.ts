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
