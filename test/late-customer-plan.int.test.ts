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

describe('a late event for a customer whose plan or limit changed since its period ended', () => {
  it('is judged by the plan and limit in force at that period’s end, as the period is billed', async () => {
    // Given, in October, plan free (2 calls, hard cap) and plan pro (10 calls, overage)
    setNow(new Date('2026-10-20T12:00:00.000Z'));
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    const meter = await createMeter(call, {
      event_name: 'calls',
      display_name: 'Calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [
        { plan_name: 'free', limit_value: 2, hard_cap: true },
        { plan_name: 'pro', limit_value: 10, overage_price: 1 },
      ],
    });
    // two customers on free, each at its October cap
    for (const user of ['mover', 'stayer']) {
      expect((await call('PUT', `/api/usage/customers/${user}`, { plan_name: 'free' })).status).toBe(201);
      for (let i = 0; i < 2; i++) expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: user })).status).toBe(201);
      expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: user })).status).toBe(402);
    }

    // When, after October closed, one customer moves to pro and free's limit is raised to 5…
    setNow(new Date('2026-11-01T00:10:00.000Z'));
    expect((await call('PUT', '/api/usage/customers/mover', { plan_name: 'pro' })).status).toBe(200);
    const raised = await call('PATCH', `/api/usage/meters/${meter.id as string}`, { plan_limits: [{ plan_name: 'free', limit_value: 5, hard_cap: true }] });
    expect(raised.status, raised.text).toBe(200);
    // …and events stamped in October arrive within the grace
    const late = (user: string) => call('POST', '/api/usage/track', { event_name: 'calls', user_id: user, timestamp: '2026-10-31T23:00:00Z' });

    // Then both are refused by October's plan and limit (free, capped at 2), not today's
    for (const user of ['mover', 'stayer']) {
      const refused = await late(user);
      expect(refused.status, refused.text).toBe(402);
      expect(refused.json).toMatchObject({ type: expect.stringMatching(/quota-exceeded$/), used: '2', limit: '2', remaining: '0', period_end: '2026-11-01T00:00:00.000Z' });
      const october = await call('GET', `/api/usage/customers/${user}/usage?period=previous`);
      expect(october.json).toMatchObject({ plan_name: 'free' });
      expect(october.json.meters[0]).toMatchObject({ used: '2', limit: '2' });
    }
    // while November's events are judged by today's: pro for one, free at 5 for the other
    const november = await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'mover' });
    expect(november.status).toBe(201);
    expect(november.json.usage).toMatchObject({ used: '1', limit: '10' });
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'stayer' })).json.usage).toMatchObject({ used: '1', limit: '5' });
  });
});
