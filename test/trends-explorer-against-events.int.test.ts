import { describe, expect, it } from 'vitest';
import { D } from '../server/services/decimal.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { applyRollupJobs } from './harness/rollups.js';
import { useClockedServer } from './harness/server.js';

/**
 * The figures of Trends, Top users and the customer page's events explorer against
 * the raw events sent (oracles computed here from what was sent).
 */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-11-20T12:00:00.000Z'));

type Call = ReturnType<typeof api>;
type Sent = { event_name: string; user_id: string; value?: string; properties?: Record<string, unknown>; timestamp: string };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function track(call: Call, events: Sent[]): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < events.length; i += 500) {
    const response = await call('POST', '/api/usage/track', events.slice(i, i + 500));
    expect(response.status, response.text).toBe(200);
    const results = response.json.results as Array<{ status: number; id: string }>;
    expect(results.filter((r) => r.status !== 201), JSON.stringify(results.find((r) => r.status !== 201))).toEqual([]);
    ids.push(...results.map((r) => r.id));
  }
  return ids;
}

async function setUp() {
  const { apiKey, creator } = await createCreatorWithKey(server().rt);
  const call = api(server().url, apiKey);
  expect((await call('PUT', '/api/usage/settings', { late_event_grace_hours: 840 })).status).toBe(200);
  return { call, creatorId: creator.id };
}

/** Oracle: the meter's figure of a set of events (unique: events flagged new by sending order per customer × calendar month). */
function oracle(kind: string, events: Sent[], all: Sent[], uniqueProperty = 'page', unitSeconds = 1): D {
  if (kind === 'count') return new D(events.length);
  if (kind === 'sum') return events.reduce((s, e) => s.plus(e.value ?? '1'), new D(0));
  if (kind === 'duration') return events.reduce((s, e) => s.plus(e.value ?? '1'), new D(0)).dividedBy(unitSeconds);
  if (kind === 'max') return events.reduce((m, e) => D.max(m, new D(e.value ?? '1')), new D(0));
  // unique: an event counts when its value is new to its customer's calendar month, in sending order.
  const seen = new Set<string>();
  const isNew = new Map<Sent, boolean>();
  for (const e of all) {
    const raw = e.properties?.[uniqueProperty];
    if (raw === undefined || raw === null) {
      isNew.set(e, false);
      continue;
    }
    const key = `${e.user_id}|${e.timestamp.slice(0, 7)}|${JSON.stringify(raw)}`;
    isNew.set(e, !seen.has(key));
    seen.add(key);
  }
  return new D(events.filter((e) => isNew.get(e)).length);
}

const inRange = (events: Sent[], from: string | number, to: string | number) => {
  const f = typeof from === 'number' ? from : Date.parse(from);
  const t = typeof to === 'number' ? to : Date.parse(to);
  return events.filter((e) => Date.parse(e.timestamp) >= f && Date.parse(e.timestamp) < t);
};

describe('Trends per aggregation against the raw events', () => {
  it('hour and day points and totals of count, sum (decimals), max, unique, duration (minutes, hours) equal the oracle', async () => {
    setNow(new Date('2026-11-20T12:00:00.000Z'));
    const { call, creatorId } = await setUp();
    const meters: Record<string, { id: string; kind: string; unit: number }> = {};
    for (const [name, kind, unit, extra] of [
      ['calls', 'count', 'calls', {}],
      ['bytes', 'sum', 'gb', {}],
      ['peak', 'max', 'seats', {}],
      ['pages', 'unique', 'pages', { unique_property: 'page' }],
      ['watch', 'duration', 'minutes', {}],
      ['watchh', 'duration', 'hours', {}],
    ] as const) {
      const m = await createMeter(call, { event_name: name, display_name: name, aggregation_type: kind, unit_name: unit, ...extra });
      meters[name] = { id: m.id, kind, unit: unit === 'minutes' ? 60 : unit === 'hours' ? 3600 : 1 };
    }
    const events: Sent[] = [];
    const base = Date.parse('2026-11-16T00:00:00Z');
    for (let k = 0; k < 40; k++) {
      const at = new Date(base + k * 2.3 * HOUR + (k % 7) * 60_000).toISOString();
      const user = ['ann', 'ben', 'cat'][k % 3]!;
      events.push(
        { event_name: 'calls', user_id: user, value: String(k % 4), timestamp: at },
        { event_name: 'bytes', user_id: user, value: `0.${(k % 9) + 1}`, timestamp: at },
        { event_name: 'peak', user_id: user, value: String(((k * 7) % 13) + 0.5), timestamp: at },
        { event_name: 'pages', user_id: user, properties: { page: k % 5 === 0 ? 5 : `/p${k % 4}` }, timestamp: at },
        { event_name: 'watch', user_id: user, value: String(10 * k + 1), timestamp: at },
        { event_name: 'watchh', user_id: user, value: String(10 * k + 1), timestamp: at },
      );
    }
    await track(call, events);
    await applyRollupJobs(server().rt, creatorId);

    const failures: string[] = [];
    for (const [name, m] of Object.entries(meters)) {
      const mine = events.filter((e) => e.event_name === name);
      for (const grain of ['hour', 'day'] as const) {
        const from = grain === 'hour' ? '2026-11-18T00:00:00.000Z' : '2026-11-17T00:00:00.000Z';
        const to = '2026-11-20T00:00:00.000Z';
        const t = await trpcQuery(call, 'insights.trends', { meter_id: m.id, grain, from, to });
        const step = grain === 'hour' ? HOUR : DAY;
        for (const p of t.points as Array<{ bucket: string; values: { Total: number }; events: number }>) {
          const b = Date.parse(p.bucket);
          const bucketEvents = inRange(mine, b, b + step);
          const expected = oracle(m.kind, bucketEvents, mine, 'page', m.unit).toNumber();
          if (Math.abs(p.values.Total - expected) > 1e-9 || p.events !== bucketEvents.length) failures.push(`${name} ${grain} ${p.bucket}: ${p.values.Total}/${p.events} != ${expected}/${bucketEvents.length}`);
        }
        const expectedTotal = oracle(m.kind, inRange(mine, from, to), mine, 'page', m.unit);
        if (!new D(t.total).equals(expectedTotal.toDecimalPlaces(9, D.ROUND_HALF_EVEN))) failures.push(`${name} ${grain} total ${t.total} != ${expectedTotal.toFixed()}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('Trends over a range that cuts through an hour or a day', () => {
  it('counts only the events in the range it answers for ([from, to) of the answer)', async () => {
    setNow(new Date('2026-11-20T12:00:00.000Z'));
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    const events: Sent[] = ['10:10', '10:40', '11:15', '12:10', '12:45', '13:05'].map((t) => ({ event_name: 'calls', user_id: 'ann', timestamp: `2026-11-19T${t}:00Z` }));
    await track(call, events);
    await applyRollupJobs(server().rt, creatorId);

    // Hourly, 10:30 → 12:30.
    const hourly = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'hour', from: '2026-11-19T10:30:00Z', to: '2026-11-19T12:30:00Z' });
    const inAnswer = inRange(events, hourly.from, hourly.to).length;
    expect({ from: hourly.from, to: hourly.to, total: hourly.total, events: hourly.events }).toEqual({ from: hourly.from, to: hourly.to, total: String(inAnswer), events: inAnswer });
  });

  it('a daily range ending mid-day is read, and answered, to the end of that day', async () => {
    setNow(new Date('2026-11-20T12:00:00.000Z'));
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    const events: Sent[] = ['2026-11-18T06:00:00Z', '2026-11-18T18:00:00Z', '2026-11-19T06:00:00Z', '2026-11-19T18:00:00Z'].map((timestamp) => ({ event_name: 'calls', user_id: 'ann', timestamp }));
    await track(call, events);
    await applyRollupJobs(server().rt, creatorId);
    const daily = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'day', from: '2026-11-18T00:00:00Z', to: '2026-11-19T12:00:00Z' });
    // Days are read whole: the answer's range is Nov 18 00:00 – Nov 20 00:00 (it said it ended at
    // Nov 19 12:00 while counting the 19th's 18:00 event), and its total is the events in it.
    expect({ from: daily.from, to: daily.to }).toEqual({ from: '2026-11-18T00:00:00.000Z', to: '2026-11-20T00:00:00.000Z' });
    expect(daily.total).toBe(String(inRange(events, daily.from, daily.to).length));
  });
});

describe('Trends compared with the previous range', () => {
  it('the previous range’s points and total equal the raw events of that range, for sum with decimals', async () => {
    setNow(new Date('2026-11-20T12:00:00.000Z'));
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'bytes', display_name: 'Bytes', aggregation_type: 'sum', unit_name: 'gb' });
    const events: Sent[] = [];
    for (let d = 10; d < 20; d++) for (const v of ['0.1', '0.2', '1.05']) events.push({ event_name: 'bytes', user_id: d % 2 ? 'ann' : 'ben', value: v, timestamp: `2026-11-${d}T0${d % 10}:30:00Z` });
    await track(call, events);
    await applyRollupJobs(server().rt, creatorId);
    const t = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'day', from: '2026-11-15T00:00:00Z', to: '2026-11-20T00:00:00Z', compare: true });
    expect(t.total).toBe(oracle('sum', inRange(events, t.from, t.to), events).toFixed());
    expect(t.previous.total).toBe(oracle('sum', inRange(events, t.previous.from, t.previous.to), events).toFixed());
    expect(t.previous.points.map((p: { value: number }) => p.value)).toEqual(
      t.previous.points.map((p: { bucket: string }) => oracle('sum', inRange(events, Date.parse(p.bucket), Date.parse(p.bucket) + DAY), events).toNumber()),
    );
  });
});

describe('Trends by plan: a customer who changed plan mid-period', () => {
  it('files each event under the plan at its time, by hour and day, late events included', async () => {
    setNow(new Date('2026-11-20T08:00:00.000Z'));
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'bytes', display_name: 'Bytes', aggregation_type: 'sum', unit_name: 'gb' });
    expect((await call('PUT', '/api/usage/customers/pc', { plan_name: 'free' })).status).toBe(201);
    await track(call, [{ event_name: 'bytes', user_id: 'pc', value: '1.5', timestamp: '2026-11-20T08:00:00Z' }]);
    await applyRollupJobs(server().rt, creatorId);
    setNow(new Date('2026-11-20T10:00:00.000Z'));
    expect((await call('PUT', '/api/usage/customers/pc', { plan_name: 'pro' })).status).toBe(200);
    setNow(new Date('2026-11-20T10:31:00.000Z'));
    await track(call, [{ event_name: 'bytes', user_id: 'pc', value: '2.25', timestamp: '2026-11-20T10:30:00Z' }]);
    await applyRollupJobs(server().rt, creatorId);
    // Late: occurred on free at 09:15, sent on pro.
    setNow(new Date('2026-11-20T11:00:00.000Z'));
    await track(call, [{ event_name: 'bytes', user_id: 'pc', value: '0.25', timestamp: '2026-11-20T09:15:00Z' }]);
    await applyRollupJobs(server().rt, creatorId);
    const day = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'day', breakdown: 'plan', from: '2026-11-20T00:00:00Z', to: '2026-11-21T00:00:00Z' });
    expect(day.points[0].values).toEqual({ free: 1.75, pro: 2.25 });
    const hour = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'hour', breakdown: 'plan', from: '2026-11-20T08:00:00Z', to: '2026-11-20T11:00:00Z' });
    expect(hour.points.map((p: { values: Record<string, number> }) => p.values)).toEqual([
      { free: 1.5, pro: 0 },
      { free: 0.25, pro: 0 },
      { free: 0, pro: 2.25 },
    ]);
  });
});

describe('Trends by a rollup dimension', () => {
  it('numbers, booleans and strings alike are one value; missing, null, object and array are "(no v)"', async () => {
    setNow(new Date('2026-11-20T12:00:00.000Z'));
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', rollup_dimensions: ['v'] });
    const at = '2026-11-19T10:00:00Z';
    const props: Array<Record<string, unknown>> = [{ v: 1 }, { v: '1' }, { v: 1.5 }, { v: '1.5' }, { v: true }, { v: 'true' }, {}, { v: null }, { v: { a: 1 } }, { v: [1] }];
    await track(call, props.map((properties) => ({ event_name: 'calls', user_id: 'ann', properties, timestamp: at })));
    await applyRollupJobs(server().rt, creatorId);
    const t = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'day', breakdown: 'dimension', dimension: 'v', from: '2026-11-19T00:00:00Z', to: '2026-11-20T00:00:00Z' });
    expect(t.points[0].values).toEqual({ '1': 2, '1.5': 2, true: 2, '(no v)': 4 });
  });
});

describe('Late events inside the grace, after the rollups ran', () => {
  it('are in Trends, the customer page history and Top users of the previous period', async () => {
    setNow(new Date('2026-10-31T20:00:00.000Z'));
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'watch', display_name: 'Watch', aggregation_type: 'duration', unit_name: 'minutes', plan_limits: [{ plan_name: 'basic', limit_value: '1', overage_price: '0.5' }] });
    expect((await call('PUT', '/api/usage/customers/lee', { plan_name: 'basic' })).status).toBe(201);
    await track(call, [{ event_name: 'watch', user_id: 'lee', value: '90', timestamp: '2026-10-31T19:00:00Z' }]);
    await applyRollupJobs(server().rt, creatorId);
    setNow(new Date('2026-11-01T10:00:00.000Z'));
    await track(call, [
      { event_name: 'watch', user_id: 'lee', value: '45', timestamp: '2026-10-31T23:59:59.999Z' },
      { event_name: 'watch', user_id: 'lee', value: '30', timestamp: '2026-11-01T09:00:00Z' },
    ]);
    await applyRollupJobs(server().rt, creatorId);
    const t = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'day', from: '2026-10-31T00:00:00Z', to: '2026-11-02T00:00:00Z' });
    expect(t.points.map((p: { values: { Total: number } }) => p.values.Total)).toEqual([2.25, 0.5]);
    const top = await trpcQuery(call, 'customers.top', { meter_id: meter.id, period: 'previous' });
    expect(top.customers[0]).toMatchObject({ user_id: 'lee', used: '2.25', overage_quantity: '1.25', overage_amount: '0.625', event_count: 2 });
    const detail = await trpcQuery(call, 'customers.get', { user_id: 'lee' });
    expect(detail.history).toEqual([expect.objectContaining({ used: '2.25', event_count: 2 })]);
  });
});

describe('Top users: ties, keyset pages, percent and overage', () => {
  it('pages every customer exactly once with equal usage, in every sort, matching the unpaged order', async () => {
    setNow(new Date('2026-11-20T12:00:00.000Z'));
    const { call } = await setUp();
    const meter = await createMeter(call, {
      event_name: 'gb',
      display_name: 'GB',
      aggregation_type: 'sum',
      unit_name: 'gb',
      plan_limits: [
        { plan_name: 'a', limit_value: '3', overage_price: '0.3' },
        { plan_name: 'b', limit_value: '9', overage_price: '0.1' },
      ],
    });
    const users = ['u01', 'u02', 'u03', 'u04', 'u05', 'u06', 'u07'];
    for (const [i, u] of users.entries()) expect((await call('PUT', `/api/usage/customers/${u}`, { plan_name: i % 2 ? 'a' : 'b', name: `Name ${u}` })).status).toBe(201);
    // Everyone the same usage (4.5), so usage ties; plan a: 150 %, overage 1.5 × 0.3 = 0.45; plan b: 50 %.
    await track(call, users.flatMap((u) => ['1.5', '3'].map((value) => ({ event_name: 'gb', user_id: u, value, timestamp: '2026-11-19T10:00:00Z' }))));
    for (const sort of ['usage', 'percent', 'overage', 'user_id']) {
      const all = await trpcQuery(call, 'customers.top', { meter_id: meter.id, sort, limit: 100 });
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const r = await trpcQuery(call, 'customers.top', { meter_id: meter.id, sort, limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...r.customers.map((c: { user_id: string }) => c.user_id));
        cursor = r.next_cursor ?? undefined;
        if (!cursor) break;
      }
      expect(seen, sort).toEqual(all.customers.map((c: { user_id: string }) => c.user_id));
      expect(new Set(seen).size, sort).toBe(users.length);
    }
    const byPercent = await trpcQuery(call, 'customers.top', { meter_id: meter.id, sort: 'percent', limit: 100 });
    expect(byPercent.customers.map((c: { user_id: string; percent_of_limit: string; overage_amount: string }) => [c.user_id, c.percent_of_limit, c.overage_amount])).toEqual([
      ['u02', '150', '0.45'],
      ['u04', '150', '0.45'],
      ['u06', '150', '0.45'],
      ['u01', '50', '0'],
      ['u03', '50', '0'],
      ['u05', '50', '0'],
      ['u07', '50', '0'],
    ]);
    const searched = await trpcQuery(call, 'customers.top', { meter_id: meter.id, search: 'name u0', limit: 3 });
    expect(searched.total).toBe(7);
  });
});

describe('The events explorer', () => {
  it('pages a meter’s events sharing a timestamp once each under a time and property filter, and the counted values add up to the period total', async () => {
    setNow(new Date('2026-11-20T12:00:00.000Z'));
    const { call, creatorId } = await setUp();
    const bytes = await createMeter(call, { event_name: 'bytes', display_name: 'Bytes', aggregation_type: 'sum', unit_name: 'gb' });
    const calls = await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    const pages = await createMeter(call, { event_name: 'pages', display_name: 'Pages', aggregation_type: 'unique', unit_name: 'pages', unique_property: 'page' });
    const at = '2026-11-19T10:00:00.000Z';
    const sent: Sent[] = [
      ...Array.from({ length: 9 }, (_, i) => ({ event_name: 'bytes', user_id: 'eve', value: `0.${i + 1}`, properties: { region: i % 2 ? 'eu' : 'us' }, timestamp: at })),
      ...Array.from({ length: 4 }, (_, i) => ({ event_name: 'calls', user_id: 'eve', value: String(i), properties: { region: 'eu' }, timestamp: at })),
      ...Array.from({ length: 6 }, (_, i) => ({ event_name: 'pages', user_id: 'eve', properties: { page: `/p${i % 3}`, region: 'eu' }, timestamp: at })),
      { event_name: 'bytes', user_id: 'eve', value: '5', properties: { region: 'eu' }, timestamp: '2026-11-19T10:00:00.001Z' },
      { event_name: 'bytes', user_id: 'eve', value: '7', properties: { region: 'eu' }, timestamp: '2026-11-18T10:00:00.000Z' },
    ];
    const ids = await track(call, sent);
    await applyRollupJobs(server().rt, creatorId);

    const pageAll = async (input: Record<string, unknown>) => {
      const out: Array<Record<string, any>> = [];
      let cursor: string | undefined;
      for (let p = 0; p < 50; p++) {
        const r = await trpcQuery(call, 'customers.events', { user_id: 'eve', limit: 2, ...input, ...(cursor ? { cursor } : {}) });
        out.push(...r.events);
        cursor = r.next_cursor ?? undefined;
        if (!cursor) break;
      }
      return out;
    };
    const eu = await pageAll({ meter_id: bytes.id, property_key: 'region', property_value: 'eu', from: '2026-11-19T00:00:00Z', to: '2026-11-19T10:00:00.000Z' });
    const expectedEu = sent.map((e, i) => ({ e, id: ids[i] })).filter(({ e }) => e.event_name === 'bytes' && e.properties?.region === 'eu' && e.timestamp.startsWith('2026-11-19') && Date.parse(e.timestamp) <= Date.parse(at));
    expect(eu.map((e) => e.id).sort()).toEqual(expectedEu.map((x) => x.id).sort());

    const everything = await pageAll({});
    expect(everything.map((e) => e.id).sort()).toEqual([...ids].sort());
    const detail = await trpcQuery(call, 'customers.get', { user_id: 'eve' });
    for (const meter of [bytes, calls, pages]) {
      const mine = everything.filter((e) => e.meter_id === meter.id);
      const counted = mine.reduce((s, e) => s.plus(e.counted), new D(0));
      const usage = detail.meters.find((m: { meter_id: string }) => m.meter_id === meter.id);
      expect(counted.toFixed(), meter.event_name).toBe(usage.used);
      expect(mine.length, meter.event_name).toBe(usage.event_count);
    }
  });
});

describe('Month grain', () => {
  it('month grain and many dimension values gathered into Other: series add up to the raw events', async () => {
    setNow(new Date('2026-11-20T12:00:00.000Z'));
    const { call, creatorId } = await setUp();
    const meter = await createMeter(call, { event_name: 'gb', display_name: 'GB', aggregation_type: 'sum', unit_name: 'gb', rollup_dimensions: ['region'] });
    const events: Sent[] = [];
    for (let i = 0; i < 12; i++) for (let k = 0; k <= i; k++) events.push({ event_name: 'gb', user_id: `u${k % 3}`, value: '0.1', properties: { region: `r${i}` }, timestamp: `2026-${k % 2 ? '10' : '11'}-0${(k % 9) + 1}T10:00:00Z` });
    await track(call, events);
    await applyRollupJobs(server().rt, creatorId);
    const t = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'month', breakdown: 'dimension', dimension: 'region', from: '2026-10-01T00:00:00Z', to: '2026-12-01T00:00:00Z' });
    expect(t.series).toHaveLength(8);
    expect(t.total).toBe(oracle('sum', events, events).toFixed());
    for (const p of t.points as Array<{ bucket: string; values: Record<string, number> }>) {
      const month = p.bucket.slice(0, 7);
      const sum = Object.values(p.values).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(oracle('sum', events.filter((e) => e.timestamp.startsWith(month)), events).toNumber(), 9);
      expect(p.values.r11).toBeCloseTo(oracle('sum', events.filter((e) => e.timestamp.startsWith(month) && e.properties!.region === 'r11'), events).toNumber(), 9);
    }
    const compared = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'month', compare: true, from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' });
    expect(compared.previous.total).toBe(oracle('sum', events.filter((e) => e.timestamp.startsWith('2026-10')), events).toFixed());
  });
});
