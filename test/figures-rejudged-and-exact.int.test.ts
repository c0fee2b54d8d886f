import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodFiguresTiming } from '../server/services/insights.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Review of the figures the dashboard shows (insights, revenue, customers), each checked
 * against what the customer's own usage answer says, through the real HTTP server.
 */

const { url } = await useTestDatabase();
let server: TestServer;
const timing = { ...periodFiguresTiming };
beforeAll(async () => {
  server = await startTestServer(url, { workers: true });
  // Every overview poll recomputes its period figures: what it shows is of now.
  periodFiguresTiming.freshMs = 0;
  periodFiguresTiming.staleMs = 0;
});
afterAll(async () => {
  Object.assign(periodFiguresTiming, timing);
  await server.close();
});

type Call = ReturnType<typeof api>;

async function setUp() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  return { call: api(server.url, apiKey), creatorId: creator.id };
}

async function track(call: Call, event: Record<string, unknown>) {
  const tracked = await call('POST', '/api/usage/track', event);
  expect(tracked.status, tracked.text).toBe(201);
  return tracked.json;
}

/** The overview once its period figures were computed after `since`. */
async function overviewAfter(call: Call, since: number) {
  let data: Record<string, any> = {};
  await expect
    .poll(
      async () => {
        data = await trpcQuery(call, 'insights.overview');
        return Date.parse(data.period_figures_at) > since;
      },
      { timeout: 10_000, interval: 100 },
    )
    .toBe(true);
  return data;
}

describe('overview: customers near or over a limit, after the limit no longer says so', () => {
  it('a limit raised mid-period: the customer now within it is not "over limit" at 150 % of a limit that no longer applies', async () => {
    const { call } = await setUp();
    const meter = await createMeter(call, {
      event_name: 'calls',
      display_name: 'Calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [{ plan_name: 'pro', limit_value: 2, overage_price: '1', soft_limit_threshold: 0.5, hard_cap: false }],
    });
    expect((await call('PUT', '/api/usage/customers/alice', { plan_name: 'pro' })).status).toBeLessThan(300);
    for (let i = 0; i < 3; i++) await track(call, { event_name: 'calls', user_id: 'alice', value: 1 });
    // Over the limit of 2 (150 %): shown so.
    const over = await overviewAfter(call, Date.now());
    expect(over.meters.find((m: { event_name: string }) => m.event_name === 'calls')).toMatchObject({ near_limit: 0, over_limit: 1 });
    expect(over.attention.map((a: { user_id: string; limit: string; percent: number }) => [a.user_id, a.limit, a.percent])).toEqual([['alice', '2', 150]]);
    // A limit raised to 2.5: still over, now at 120 % of the limit in force.
    const raised = await call('PATCH', `/api/usage/meters/${meter.id}`, { plan_limits: [{ plan_name: 'pro', limit_value: 2.5, overage_price: '1', soft_limit_threshold: 0.5, hard_cap: false }] });
    expect(raised.status, raised.text).toBe(200);
    const still = await overviewAfter(call, Date.now());
    expect(still.attention.map((a: { user_id: string; limit: string; percent: number }) => [a.user_id, a.limit, a.percent])).toEqual([['alice', '2.5', 120]]);

    // The creator raises the plan's limit: alice (3 calls) is well within 100.
    const patched = await call('PATCH', `/api/usage/meters/${meter.id}`, { plan_limits: [{ plan_name: 'pro', limit_value: 100, overage_price: '1', soft_limit_threshold: 0.5, hard_cap: false }] });
    expect(patched.status, patched.text).toBe(200);
    const usage = await call('GET', '/api/usage/customers/alice/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '3', limit: '100', remaining: '97', overage_quantity: '0', overage_amount: '0' });

    const since = Date.now();
    const overview = await overviewAfter(call, since);
    // Its own overage figure agrees: nobody is beyond a limit.
    expect(overview.overage).toEqual({ amount: '0', customers: 0 });
    const calls = overview.meters.find((m: { event_name: string }) => m.event_name === 'calls');
    // What the creator should see: alice is neither near (3 % of 100) nor over her limit.
    expect({ near: calls.near_limit, over: calls.over_limit, attention: overview.attention.map((a: { user_id: string; limit: string; percent: number }) => [a.user_id, a.limit, a.percent]) }).toEqual({ near: 0, over: 0, attention: [] });
    expect(overview.attention.map((a: { user_id: string; limit: string; percent: number }) => [a.user_id, a.limit, a.percent])).toEqual([]);
  });

  it('a customer upgraded mid-period to a larger plan is not listed as over the smaller plan’s limit under the new plan’s name', async () => {
    const { call } = await setUp();
    await createMeter(call, {
      event_name: 'calls',
      display_name: 'Calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [
        { plan_name: 'free', limit_value: 2, overage_price: '1', hard_cap: false },
        { plan_name: 'business', limit_value: 1000, overage_price: '1', hard_cap: false },
      ],
    });
    expect((await call('PUT', '/api/usage/customers/bob', { plan_name: 'free' })).status).toBeLessThan(300);
    for (let i = 0; i < 4; i++) await track(call, { event_name: 'calls', user_id: 'bob', value: 1 });
    expect((await call('PUT', '/api/usage/customers/bob', { plan_name: 'business' })).status).toBe(200);
    const usage = await call('GET', '/api/usage/customers/bob/usage');
    expect(usage.json).toMatchObject({ plan_name: 'business' });
    expect(usage.json.meters[0]).toMatchObject({ used: '4', limit: '1000', overage_amount: '0' });

    const overview = await overviewAfter(call, Date.now());
    expect(overview.overage).toEqual({ amount: '0', customers: 0 });
    const calls = overview.meters.find((m: { event_name: string }) => m.event_name === 'calls');
    expect({ over: calls.over_limit, attention: overview.attention.map((a: { user_id: string; plan_name: string; limit: string; percent: number }) => [a.user_id, a.plan_name, a.limit, a.percent]) }).toEqual({ over: 0, attention: [] });
    // Now: [["bob", "business", "2", 200]] — bob at 200 % of "business", whose limit is 1000.
    expect(overview.attention.map((a: { user_id: string; plan_name: string; limit: string; percent: number }) => [a.user_id, a.plan_name, a.limit, a.percent])).toEqual([]);
  });
});

describe('overview: the customers needing attention are ranked among live meters', () => {
  it('an archived meter’s standing alert does not take one of the ten places (the list came back with nine, an at-cap customer missing)', async () => {
    const { call } = await setUp();
    const old = await createMeter(call, { event_name: 'old', display_name: 'Old', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'starter', limit_value: 1, overage_price: '1' }] });
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'starter', limit_value: 2, overage_price: '1' }] });
    // Eleven customers past the calls limit (150 %), and one far past the old meter's (600 %) before it is archived.
    for (let i = 0; i < 11; i++) {
      expect((await call('PUT', `/api/usage/customers/c${i}`, { plan_name: 'starter' })).status).toBe(201);
      for (let n = 0; n < 3; n++) await track(call, { event_name: 'calls', user_id: `c${i}`, value: 1 });
    }
    for (let n = 0; n < 6; n++) await track(call, { event_name: 'old', user_id: 'c0', value: 1 });
    expect((await call('DELETE', `/api/usage/meters/${old.id}`)).status).toBe(200);
    const overview = await overviewAfter(call, Date.now());
    const listed = overview.attention as Array<{ user_id: string; event_name: string; percent: number }>;
    expect(listed).toHaveLength(10);
    expect(new Set(listed.map((a) => a.event_name))).toEqual(new Set(['calls']));
    expect(listed.every((a) => a.percent === 150)).toBe(true);
  });
});

describe('revenue: projections are exact decimals', () => {
  it('a max meter projects at its current value: projected overage equals overage so far, to the last decimal', async () => {
    const { call } = await setUp();
    await createMeter(call, {
      event_name: 'storage.peak',
      display_name: 'Peak storage',
      aggregation_type: 'max',
      unit_name: 'GB',
      plan_limits: [{ plan_name: 'pro', limit_value: 0, overage_price: '1', hard_cap: false }],
    });
    expect((await call('PUT', '/api/usage/customers/carol', { plan_name: 'pro' })).status).toBeLessThan(300);
    await track(call, { event_name: 'storage.peak', user_id: 'carol', value: '12345678.123456789' });
    const usage = await call('GET', '/api/usage/customers/carol/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '12345678.123456789', overage_amount: '12345678.123456789' });

    const revenue = await trpcQuery(call, 'revenue.overview');
    const row = revenue.meters.find((m: { event_name: string }) => m.event_name === 'storage.peak');
    expect(row).toMatchObject({ projection: 'current', quantity_so_far: '12345678.123456789', amount_so_far: '12345678.123456789' });
    // Now: '12345678.1234568' — the projection ran in float8 and came back with 15 significant digits.
    expect({ quantity: row.quantity_projected, amount: row.amount_projected, total: revenue.totals.amount_projected }).toEqual({
      quantity: '12345678.123456789',
      amount: '12345678.123456789',
      total: '12345678.123456789',
    });
  });
});

describe('overage so far: rounded half-even at 9 decimals without losing digits', () => {
  it('the overview and the revenue page owe what the customer’s usage answer owes, for an amount of nine integer digits', async () => {
    const { call } = await setUp();
    await createMeter(call, {
      event_name: 'bytes',
      display_name: 'Bytes',
      aggregation_type: 'sum',
      unit_name: 'bytes',
      plan_limits: [{ plan_name: 'pro', limit_value: 0, overage_price: '1', hard_cap: false }],
    });
    expect((await call('PUT', '/api/usage/customers/dave', { plan_name: 'pro' })).status).toBeLessThan(300);
    await track(call, { event_name: 'bytes', user_id: 'dave', value: '123456789.123456789' });
    const usage = await call('GET', '/api/usage/customers/dave/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '123456789.123456789', overage_amount: '123456789.123456789' });

    const revenue = await trpcQuery(call, 'revenue.overview');
    const overview = await overviewAfter(call, Date.now());
    // Now: '123456789.12345679' on both — app_round_half_even divides by 10^9 at Postgres's default division scale.
    expect({ revenue: revenue.totals.amount_so_far, overview: overview.overage.amount }).toEqual({ revenue: '123456789.123456789', overview: '123456789.123456789' });
  });
});
