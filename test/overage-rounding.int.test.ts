import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodFiguresTiming } from '../server/services/insights.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/** Totals added up in SQL round each customer's amount as the customer's own usage answer does (half-even at 9 decimals). */
const { url } = await useTestDatabase();
let server: TestServer;
let now = new Date('2026-10-20T12:00:00.000Z');
beforeAll(async () => {
  server = await startTestServer(url, { now: () => now });
  periodFiguresTiming.freshMs = 0;
  periodFiguresTiming.staleMs = 0;
});
afterAll(() => server.close());

type Call = ReturnType<typeof api>;

const query = async (call: Call, procedure: string, input?: unknown) => {
  const search = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  const response = await call('GET', `/api/trpc/${procedure}${search}`);
  return { status: response.status, data: response.json?.result?.data, error: response.json?.error, text: response.text };
};

async function track(call: Call, events: Array<Record<string, unknown>>): Promise<string[]> {
  const response = await call('POST', '/api/usage/track', events);
  expect(response.status, response.text).toBe(200);
  const results = response.json.results as Array<{ status: number; id: string; error?: unknown }>;
  expect(results.filter((r) => r.status !== 201), JSON.stringify(results.find((r) => r.status !== 201))).toEqual([]);
  return results.map((r) => r.id);
}

async function setUp() {
  const a = await createCreatorWithKey(server.rt);
  const call = api(server.url, a.apiKey);
  expect((await call('PUT', '/api/usage/settings', { late_event_grace_hours: 840 })).status).toBe(200);
  const meter = async (body: Record<string, unknown>) => {
    const created = await call('POST', '/api/usage/meters', { display_name: String(body.event_name), ...body });
    expect(created.status, created.text).toBe(201);
    return created.json.id as string;
  };
  return { call, creatorId: a.creator.id, meter };
}

describe('overview: overage so far this period', () => {
  it('equals the sum of the customers’ overage amounts, rounded as each customer’s usage answer rounds them (half-even at 9 decimals)', async () => {
    now = new Date('2026-10-20T12:00:00.000Z');
    const { call, meter } = await setUp();
    // A sum meter billed a tenth of a microcent per unit beyond 1: 0.5 units over owe 0.0000000005 exactly.
    await meter({ event_name: 'bytes', aggregation_type: 'sum', unit_name: 'bytes', plan_limits: [{ plan_name: 'p', limit_value: '1', overage_price: '0.000000001' }] });
    expect((await call('PUT', '/api/usage/customers/a', { plan_name: 'p' })).status).toBe(201);
    await track(call, [{ event_name: 'bytes', user_id: 'a', value: '1.5', timestamp: '2026-10-05T10:00:00Z' }]);

    const usage = (await call('GET', '/api/usage/customers/a/usage')).json;
    expect(usage.meters[0]).toMatchObject({ used: '1.5', overage_quantity: '0.5', overage_amount: '0' });
    const top = await query(call, 'customers.top', { meter_id: usage.meters[0].meter_id });
    expect(top.data.customers[0].overage_amount).toBe('0');

    const overview = await query(call, 'insights.overview');
    expect(overview.status, overview.text).toBe(200);
    // The overview's "overage so far" must be what the customers' answers add up to.
    expect(overview.data.overage.amount).toBe('0');
    // And the revenue page's, per meter, per plan and in all.
    const revenue = await query(call, 'revenue.overview');
    expect(revenue.status, revenue.text).toBe(200);
    expect([revenue.data.totals.amount_so_far, revenue.data.meters[0].amount_so_far, revenue.data.plans[0].amount_so_far]).toEqual(['0', '0', '0']);
  });
});
