import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { applyRollupJobs } from './harness/rollups.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Trends' legend: the made-up series ("Other" gathering the smaller ones, "(no plan)") never
 * share a name, or their figures, with a real property value or plan of that name.
 */
const { url } = await useTestDatabase();
let server: TestServer;
let now = new Date('2026-11-20T12:00:00.000Z');
beforeAll(async () => {
  server = await startTestServer(url, { now: () => now });
});
afterAll(() => server.close());

type Call = ReturnType<typeof api>;

const query = async (call: Call, procedure: string, input: unknown = {}) => {
  const response = await call('GET', `/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`);
  expect(response.status, response.text).toBe(200);
  return response.json.result.data;
};

async function track(call: Call, events: Array<Record<string, unknown>>) {
  const response = await call('POST', '/api/usage/track', events);
  expect(response.status, response.text).toBe(200);
  const results = response.json.results as Array<{ status: number; id: string; error?: unknown }>;
  expect(results.filter((r) => r.status !== 201), JSON.stringify(results.find((r) => r.status !== 201))).toEqual([]);
}


async function setUp() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  return { call: api(server.url, apiKey), creatorId: creator.id };
}

describe('trends broken down by a property whose value is literally "Other"', () => {
  it('keeps the customers’ "Other" category apart from the smaller categories gathered into the chart’s "Other" series', async () => {
    now = new Date('2026-11-20T12:00:00.000Z');
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'tickets', display_name: 'Tickets', aggregation_type: 'count', unit_name: 'tickets', rollup_dimensions: ['category'] });
    // "Other" is a category of the creator's own app (a common choice in a select box), the busiest one: 20 tickets.
    const categories: Array<[string, number]> = [['Other', 20], ['billing', 9], ['bug', 8], ['login', 7], ['feature', 6], ['account', 5], ['refund', 4], ['spam', 3], ['legal', 2], ['misc', 1]];
    const events = categories.flatMap(([category, n]) =>
      Array.from({ length: n }, (_, i) => ({ event_name: 'tickets', user_id: `u${i % 3}`, timestamp: '2026-11-19T10:00:00Z', properties: { category } })),
    );
    await track(call, events);
    await applyRollupJobs(server.rt, creatorId);
    const trend = await query(call, 'insights.trends', {
      meter_id: meter.id,
      grain: 'day',
      breakdown: 'dimension',
      dimension: 'category',
      from: '2026-11-19T00:00:00Z',
      to: '2026-11-20T00:00:00Z',
    });
    // Legend entries are distinct names, and the category "Other" shows its own 20 tickets:
    // the three smallest categories (spam 3, legal 2, misc 1), gathered into the chart's rest, must not be added to it.
    expect(new Set(trend.series).size, `series: ${JSON.stringify(trend.series)}`).toBe(trend.series.length);
    expect(trend.points[0].values.Other).toBe(20);
  });

  it('keeps a plan literally named "(no plan)" apart from the customers without a plan', async () => {
    now = new Date('2026-11-20T12:00:00.000Z');
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    expect((await call('PUT', '/api/usage/customers/planned', { plan_name: '(no plan)' })).status).toBe(201);
    const at = '2026-11-19T10:00:00Z';
    await track(call, [
      ...Array.from({ length: 3 }, () => ({ event_name: 'calls', user_id: 'planned', timestamp: at })),
      { event_name: 'calls', user_id: 'planless', timestamp: at },
    ]);
    await applyRollupJobs(server.rt, creatorId);
    const trend = await query(call, 'insights.trends', { meter_id: meter.id, grain: 'day', breakdown: 'plan', from: '2026-11-19T00:00:00Z', to: '2026-11-20T00:00:00Z' });
    expect(trend.series).toEqual(['(no plan)', '(no plan) (2)']);
    expect(trend.points[0].values).toEqual({ '(no plan)': 3, '(no plan) (2)': 1 });
  });

  it('names the gathered rest "Other (3 more)" when "Other" is a real value', async () => {
    now = new Date('2026-11-20T12:00:00.000Z');
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'tickets', display_name: 'Tickets', aggregation_type: 'count', unit_name: 'tickets', rollup_dimensions: ['category'] });
    const categories: Array<[string, number]> = [['Other', 20], ['billing', 9], ['bug', 8], ['login', 7], ['feature', 6], ['account', 5], ['refund', 4], ['spam', 3], ['legal', 2], ['misc', 1]];
    await track(call, categories.flatMap(([category, n]) => Array.from({ length: n }, () => ({ event_name: 'tickets', user_id: 'u', timestamp: '2026-11-19T10:00:00Z', properties: { category } }))));
    await applyRollupJobs(server.rt, creatorId);
    const trend = await query(call, 'insights.trends', { meter_id: meter.id, grain: 'day', breakdown: 'dimension', dimension: 'category', from: '2026-11-19T00:00:00Z', to: '2026-11-20T00:00:00Z' });
    expect(trend.series).toEqual(['Other', 'billing', 'bug', 'login', 'feature', 'account', 'refund', 'Other (3 more)']);
    expect(trend.points[0].values['Other (3 more)']).toBe(6);
  });
});
