import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * A customer first seen through a late event (back-dated into the period that just
 * closed, within the grace) is judged at ingest on the plan it is created on; every later
 * view of that period judges it on the same plan: the usage endpoint, Top users and the
 * what-if.
 */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-10-20T12:00:00.000Z'));

describe('a customer first seen through a late event', () => {
  it('is shown on the plan ingest judged it on for the period the event fell in', async () => {
    // Given a meter with plan pro (10 included, 2 each beyond), the creator's default plan
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    const meter = await createMeter(call, {
      event_name: 'storage',
      display_name: 'Storage',
      aggregation_type: 'sum',
      unit_name: 'gb',
      plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: 2 }],
    });
    expect((await call('PUT', '/api/usage/settings', { default_plan: 'pro' })).status).toBe(200);

    // When, just after October closed, an event stamped in October arrives for an unknown user
    setNow(new Date('2026-11-01T00:00:05.000Z'));
    const late = await call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'p1', value: 15, timestamp: '2026-10-31T23:59:59Z' });
    expect(late.status, late.text).toBe(201);
    expect(late.json.usage).toMatchObject({ used: '15', limit: '10', remaining: '-5', period_start: '2026-10-01T00:00:00.000Z' });
    // And a customer the creator created to back-fill October
    expect((await call('PUT', '/api/usage/customers/p2', { plan_name: 'pro' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'p2', value: 12, timestamp: '2026-10-30T10:00:00Z' })).status).toBe(201);

    // Then October is shown on pro, with its overage, wherever it is looked at
    const usage = await call('GET', '/api/usage/customers/p1/usage?period=previous');
    expect(usage.status, usage.text).toBe(200);
    expect(usage.json).toMatchObject({ plan_name: 'pro', period_start: '2026-10-01T00:00:00.000Z' });
    expect(usage.json.meters[0]).toMatchObject({ used: '15', limit: '10', overage_quantity: '5', overage_amount: '10' });
    expect((await call('GET', '/api/usage/customers/p2/usage?period=previous')).json.meters[0]).toMatchObject({ used: '12', limit: '10', overage_amount: '4' });

    const top = await trpcQuery(call, 'customers.top', { meter_id: meter.id, period: 'previous' });
    expect(top.customers).toEqual([
      expect.objectContaining({ user_id: 'p1', plan_name: 'pro', used: '15', limit: '10', overage_quantity: '5', overage_amount: '10' }),
      expect.objectContaining({ user_id: 'p2', plan_name: 'pro', used: '12', limit: '10', overage_quantity: '2', overage_amount: '4' }),
    ]);

    const whatIf = await trpcQuery(call, 'revenue.whatIf', { meter_id: meter.id, plan_name: 'pro', limit_value: '10', overage_price: '2', hard_cap: false });
    expect(whatIf).toMatchObject({ customers_considered: 2, before: { revenue: '14', overage_quantity: '7', customers_in_overage: 2 } });
  });
});
