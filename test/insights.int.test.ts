import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { D } from '../server/services/decimal.js';
import { periodAt } from '../server/services/periods.js';
import { periodFiguresTiming } from '../server/services/insights.js';
import { rebuildAggregates } from '../server/services/rollups.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * The dashboard's creator-wide figures (tRPC `insights.overview` and `insights.trends`)
 * on real ingestion and real rollup workers: meter rollups per plan and dimension, the
 * live overview, comparisons, and what bad input and other creators get.
 */

const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url, { workers: true });
});
afterAll(() => server.close());

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

type Call = ReturnType<typeof api>;
type Sent = { event_name: string; user_id: string; value: string; properties?: Record<string, unknown>; timestamp: string };

/** A tRPC query over HTTP as the SDK sends it: the answer's data, or the error's problem. */
async function query(call: Call, procedure: string, input?: unknown) {
  const search = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  const response = await call('GET', `/api/trpc/${procedure}${search}`);
  return { status: response.status, data: response.json?.result?.data, problem: response.json?.error?.data?.problem, code: response.json?.error?.data?.code };
}

async function track(call: Call, events: Sent[]) {
  for (let i = 0; i < events.length; i += 500) {
    const response = await call('POST', '/api/usage/track', events.slice(i, i + 500));
    expect(response.status, response.text).toBe(200);
    expect((response.json.results as Array<{ status: number }>).every((r) => r.status === 201), response.text).toBe(true);
  }
}

/** Waits until the workers have applied every rollup job of the creator. */
async function rollupsSettled(creatorId: string) {
  const pending = async () =>
    (
      await server.rt.ownerDb.execute<{ n: number }>(sql`
        select count(*)::int as n from pgboss.job
        where name = 'rollups.apply' and state in ('created', 'retry', 'active') and data ->> 'creatorId' = ${creatorId}`)
    )[0]!.n;
  const deadline = Date.now() + 15_000;
  while ((await pending()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(await pending()).toBe(0);
}

async function meterRollups(creatorId: string) {
  return [
    ...(await server.rt.ownerDb.execute<Record<string, unknown>>(sql`
      select meter_id, grain, window_start, dimension, dimension_value, trim_scale(value)::text as value, event_count
      from usage_meter_rollups where creator_id = ${creatorId}
      order by grain, window_start, meter_id, dimension, dimension_value`)),
  ];
}

async function setUp() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  expect((await call('PUT', '/api/usage/settings', { late_event_grace_hours: 840 })).status).toBe(200);
  const meter = async (body: Record<string, unknown>) => {
    const created = await call('POST', '/api/usage/meters', { display_name: String(body.event_name), ...body });
    expect(created.status, created.text).toBe(201);
    return created.json.id as string;
  };
  const calls = await meter({
    event_name: 'calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    rollup_dimensions: ['endpoint'],
    plan_limits: [
      { plan_name: 'free', limit_value: 10, soft_limit_threshold: 0.5, hard_cap: true },
      { plan_name: 'pro', limit_value: 4, overage_price: '0.25', hard_cap: false },
    ],
  });
  const watch = await meter({ event_name: 'watch', aggregation_type: 'duration', unit_name: 'minutes' });
  const peak = await meter({ event_name: 'peak', aggregation_type: 'max', unit_name: 'seats' });
  for (const [userId, plan] of [
    ['alice', 'free'],
    ['bob', 'pro'],
    ['carol', null],
  ] as const) {
    expect((await call('PUT', `/api/usage/customers/${userId}`, { plan_name: plan })).status).toBeLessThan(300);
  }
  return { call, creatorId: creator.id, meters: { calls, watch, peak } };
}

describe('insights.trends: per-meter charts from meter rollups', () => {
  const now = Date.now();
  const today = Math.floor(now / DAY) * DAY;
  // Three whole days back, three events a day per customer, on two endpoints.
  const events: Sent[] = [];
  for (let d = 1; d <= 3; d++) {
    for (const [i, userId] of ['alice', 'bob', 'carol'].entries()) {
      for (let k = 0; k < 3; k++) {
        const at = new Date(today - d * DAY + (2 + k * 5 + i) * HOUR).toISOString();
        events.push({ event_name: 'calls', user_id: userId, value: '1', properties: { endpoint: k === 0 ? '/search' : '/items' }, timestamp: at });
        events.push({ event_name: 'watch', user_id: userId, value: String(60 * (d + k)), timestamp: at });
        events.push({ event_name: 'peak', user_id: userId, value: String(d * 10 + k + i), timestamp: at });
      }
    }
  }
  let ctx: Awaited<ReturnType<typeof setUp>>;
  const range = { from: new Date(today - 3 * DAY).toISOString(), to: new Date(today).toISOString() };

  beforeAll(async () => {
    ctx = await setUp();
    await track(ctx.call, events);
    await rollupsSettled(ctx.creatorId);
  });

  it('daily totals per meter in the meter unit, every day of the range present', async () => {
    const calls = await query(ctx.call, 'insights.trends', { meter_id: ctx.meters.calls, grain: 'day', ...range });
    expect(calls.status, JSON.stringify(calls.problem)).toBe(200);
    expect(calls.data.series).toEqual(['Total']);
    expect(calls.data.points.map((p: { values: { Total: number } }) => p.values.Total)).toEqual([9, 9, 9]);
    expect(calls.data.total).toBe('27');
    expect(calls.data.events).toBe(27);

    // Duration in minutes: Σ 60·(d+k) seconds per customer per day = (d + d+1 + d+2) minutes × 3 customers.
    const watch = await query(ctx.call, 'insights.trends', { meter_id: ctx.meters.watch, grain: 'day', ...range });
    expect(watch.data.points.map((p: { values: { Total: number } }) => p.values.Total)).toEqual([3 * (3 * 3 + 3), 3 * (3 * 2 + 3), 3 * (3 * 1 + 3)]);

    // Max: the largest value of the day across customers; over the range, the largest of all.
    const peak = await query(ctx.call, 'insights.trends', { meter_id: ctx.meters.peak, grain: 'day', ...range });
    expect(peak.data.points.map((p: { values: { Total: number } }) => p.values.Total)).toEqual([34, 24, 14]);
    expect(peak.data.total).toBe('34');
  });

  it('hourly points, a breakdown by plan and by a property, and the previous range beside', async () => {
    const hourly = await query(ctx.call, 'insights.trends', { meter_id: ctx.meters.calls, grain: 'hour', from: new Date(today - DAY).toISOString(), to: new Date(today).toISOString() });
    expect(hourly.data.points).toHaveLength(24);
    const busy = hourly.data.points.filter((p: { values: { Total: number } }) => p.values.Total > 0).map((p: { bucket: string }) => new Date(p.bucket).getUTCHours());
    expect(busy).toEqual([2, 3, 4, 7, 8, 9, 12, 13, 14]);

    const byPlan = await query(ctx.call, 'insights.trends', { meter_id: ctx.meters.calls, grain: 'day', breakdown: 'plan', ...range });
    expect([...byPlan.data.series].sort()).toEqual(['(no plan)', 'free', 'pro']);
    for (const point of byPlan.data.points) expect(point.values).toEqual({ free: 3, pro: 3, '(no plan)': 3 });

    const byEndpoint = await query(ctx.call, 'insights.trends', { meter_id: ctx.meters.calls, grain: 'day', breakdown: 'dimension', dimension: 'endpoint', ...range });
    expect(byEndpoint.data.series).toEqual(['/items', '/search']);
    for (const point of byEndpoint.data.points) expect(point.values).toEqual({ '/items': 6, '/search': 3 });

    // The two days before the last one, against the two before them.
    const compared = await query(ctx.call, 'insights.trends', {
      meter_id: ctx.meters.calls,
      grain: 'day',
      compare: true,
      from: new Date(today - 2 * DAY).toISOString(),
      to: range.to,
    });
    expect(compared.data.total).toBe('18');
    expect(compared.data.previous.total).toBe('9');
    expect(compared.data.previous.points.map((p: { value: number }) => p.value)).toEqual([0, 9]);
    expect(compared.data.previous.from).toBe(new Date(today - 4 * DAY).toISOString());
  });

  it('a rebuild from raw events gives the meter rollups the workers built', async () => {
    const incremental = await meterRollups(ctx.creatorId);
    expect(incremental.length).toBeGreaterThan(0);
    await rebuildAggregates(server.rt, ctx.creatorId);
    expect(await meterRollups(ctx.creatorId)).toEqual(incremental);
  });

  it('bad input names the field; another creator’s meter is not found; a track-only key is refused', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ meter_id: 'nope', ...range }, 'meter_id'],
      [{ meter_id: ctx.meters.calls, from: range.to, to: range.from }, 'to'],
      [{ meter_id: ctx.meters.calls, from: 'yesterday', to: range.to }, 'from'],
      [{ meter_id: ctx.meters.calls, grain: 'week', ...range }, 'grain'],
      [{ meter_id: ctx.meters.calls, breakdown: 'dimension', ...range }, 'dimension'],
      [{ meter_id: ctx.meters.calls, breakdown: 'dimension', dimension: 'region', ...range }, 'dimension'],
      [{ meter_id: ctx.meters.watch, breakdown: 'dimension', dimension: 'endpoint', ...range }, 'dimension'],
      [{ meter_id: ctx.meters.calls, grain: 'hour', from: new Date(today - 40 * DAY).toISOString(), to: range.to }, 'from'],
    ];
    for (const [input, field] of cases) {
      const answer = await query(ctx.call, 'insights.trends', input);
      expect(answer.status, JSON.stringify(input)).toBe(422);
      expect(answer.code).toBe('UNPROCESSABLE_CONTENT');
      expect(answer.problem.errors.map((e: { field: string }) => e.field), JSON.stringify(input)).toContain(field);
    }

    const other = await createCreatorWithKey(server.rt);
    const stranger = await query(api(server.url, other.apiKey), 'insights.trends', { meter_id: ctx.meters.calls, ...range });
    expect(stranger.status).toBe(404);
    expect(stranger.problem.type).toMatch(/not-found$/);
    expect(stranger.code).toBe('NOT_FOUND');
    const strangerOverview = await query(api(server.url, other.apiKey), 'insights.overview');
    expect(strangerOverview.data.meters).toEqual([]);
    expect(strangerOverview.data.has_usage).toBe(false);

    const trackOnly = await createCreatorWithKey(server.rt, { scopes: ['track'] });
    expect((await query(api(server.url, trackOnly.apiKey), 'insights.overview')).status).toBe(403);
  });
});

describe('insights.trends by plan: the plan the customer was on when the event occurred', () => {
  it('before and after a plan change, a late event included, incrementally and after a rebuild', async () => {
    const ctx = await setUp();
    expect((await ctx.call('PUT', '/api/usage/customers/dan', { plan_name: 'free' })).status).toBe(201);
    const onFree = new Date().toISOString();
    await track(ctx.call, [1, 2].map(() => ({ event_name: 'calls', user_id: 'dan', value: '1', timestamp: onFree })));
    await rollupsSettled(ctx.creatorId);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await ctx.call('PUT', '/api/usage/customers/dan', { plan_name: 'pro' })).status).toBe(200);
    await track(ctx.call, [1, 2, 3].map(() => ({ event_name: 'calls', user_id: 'dan', value: '1', timestamp: new Date().toISOString() })));
    // A late event from before the change, applied after it: still the free plan's.
    await track(ctx.call, [{ event_name: 'calls', user_id: 'dan', value: '1', timestamp: onFree }]);
    await rollupsSettled(ctx.creatorId);

    const today = Math.floor(Date.now() / DAY) * DAY;
    const byPlan = async () => {
      const answer = await query(ctx.call, 'insights.trends', { meter_id: ctx.meters.calls, grain: 'day', breakdown: 'plan', from: new Date(today).toISOString(), to: new Date(today + DAY).toISOString() });
      expect(answer.status, JSON.stringify(answer.problem)).toBe(200);
      return answer.data.points[0].values;
    };
    expect(await byPlan()).toEqual({ free: 3, pro: 3 });
    await rebuildAggregates(server.rt, ctx.creatorId);
    expect(await byPlan()).toEqual({ free: 3, pro: 3 });
  });
});

describe('insights.overview: the live picture of this period', () => {
  it('events per minute, active customers, usage per meter, customers near or over a limit and overage so far', async () => {
    const ctx = await setUp();
    const empty = await query(ctx.call, 'insights.overview');
    expect(empty.status).toBe(200);
    expect(empty.data).toMatchObject({ has_usage: false, events_last_hour: 0, active_customers: 0, open_alerts: 0, attention: [], overage: { amount: '0', customers: 0 } });
    expect(empty.data.events_per_minute).toHaveLength(60);

    const now = Date.now();
    const period = periodAt(new Date(now), null);
    // Within the last hour and this period: alice 6 calls (free: soft at 5, cap 10), bob 7
    // (pro: limit 4, overage 0.25 each), carol 1; two of them 10 minutes ago.
    const at = (minutesAgo: number) => new Date(Math.max(now - minutesAgo * MINUTE, period.start.getTime())).toISOString();
    const sent: Sent[] = [
      ...Array.from({ length: 6 }, (_, i) => ({ event_name: 'calls', user_id: 'alice', value: '1', timestamp: at(i < 2 ? 10 : 0) })),
      ...Array.from({ length: 7 }, () => ({ event_name: 'calls', user_id: 'bob', value: '1', timestamp: at(0) })),
      { event_name: 'calls', user_id: 'carol', value: '1', timestamp: at(0) },
      { event_name: 'watch', user_id: 'carol', value: '90', timestamp: at(0) },
    ];
    await track(ctx.call, sent);
    await rollupsSettled(ctx.creatorId);

    // The period figures are recomputed in the background within seconds of being stale;
    // the page polls until they include the events.
    let answer = await query(ctx.call, 'insights.overview');
    await expect
      .poll(
        async () => {
          answer = await query(ctx.call, 'insights.overview');
          return answer.data.active_customers;
        },
        { timeout: 10_000, interval: 250 },
      )
      .toBe(3);
    const { status, data } = answer;
    expect(status).toBe(200);
    expect(Date.parse(data.generated_at) - Date.parse(data.period_figures_at)).toBeLessThan(10_000);
    expect(data.has_usage).toBe(true);
    expect(data.events_last_hour).toBe(15);
    expect(data.events_per_minute.reduce((s: number, m: { events: number }) => s + m.events, 0)).toBe(15);
    // The last point is the minute the figures were generated in (the test may cross a minute boundary while it polls).
    expect(data.events_per_minute.at(-1).minute).toBe(new Date(Math.floor(Date.parse(data.generated_at) / MINUTE) * MINUTE).toISOString());
    expect(data.active_customers).toBe(3);

    const byName = Object.fromEntries(data.meters.map((m: { event_name: string }) => [m.event_name, m]));
    expect(byName.calls).toMatchObject({ used: '14', customers: 3, near_limit: 1, over_limit: 1 });
    expect(byName.watch).toMatchObject({ used: '1.5', customers: 1, near_limit: 0, over_limit: 0, unit_name: 'minutes' });
    expect(byName.peak).toMatchObject({ used: '0', customers: 0 });

    // bob is 175 % of his limit, alice 60 % (past her soft threshold); bob's 3 extra calls cost 0.75.
    expect(data.attention.map((a: { user_id: string; percent: number; kind: string }) => [a.user_id, a.percent, a.kind])).toEqual([
      ['bob', 175, 'overage_started'],
      ['alice', 60, 'soft_limit_reached'],
    ]);
    expect(data.overage).toEqual({ amount: '0.75', customers: 1 });
    expect(data.open_alerts).toBeGreaterThanOrEqual(2);
    expect(new D(data.attention[0].used).toNumber()).toBe(7);
  });

  it('after a quiet spell, the first page shows figures of now, not the last ones computed (a meter created since included)', async () => {
    const { call } = await setUp();
    const first = await query(call, 'insights.overview');
    expect(first.data.meters.map((m: { event_name: string }) => m.event_name).sort()).toEqual(['calls', 'peak', 'watch']);
    // A new meter and usage of it, then nobody looks for longer than figures may be served stale.
    const created = await call('POST', '/api/usage/meters', { event_name: 'exports', display_name: 'Exports', aggregation_type: 'count', unit_name: 'exports' });
    expect(created.status, created.text).toBe(201);
    await track(call, [{ event_name: 'exports', user_id: 'alice', value: '1', timestamp: new Date().toISOString() }]);
    const timing = { ...periodFiguresTiming };
    Object.assign(periodFiguresTiming, { freshMs: 50, staleMs: 100 });
    try {
      // Quiet for well past staleMs and past 5 × the last computation's time (figures that took
      // long stay fresh longer: 40 ms under a loaded CI box keeps them 200 ms).
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const next = await query(call, 'insights.overview');
      expect(next.data.meters.map((m: { event_name: string }) => m.event_name).sort()).toEqual(['calls', 'exports', 'peak', 'watch']);
      expect(next.data.meters.find((m: { event_name: string }) => m.event_name === 'exports')).toMatchObject({ used: '1', customers: 1 });
      expect(Date.parse(next.data.period_figures_at)).toBeGreaterThan(Date.parse(first.data.period_figures_at));
    } finally {
      Object.assign(periodFiguresTiming, timing);
    }
  });
});
