import { execFile } from 'node:child_process';
import { isDeepStrictEqual, promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import type { Job } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePayload } from '../jobs/handler.js';
import type { QueuePayload } from '../jobs/queues.js';
import { purgeRollupBatchesHandler } from '../jobs/purge-rollup-batches.js';
import { applyRollupHandler } from '../jobs/rollups-apply.js';
import { keyLegacyRollupJobs } from '../jobs/boss.js';
import { checkConsistencyHandler } from '../jobs/rollups-check.js';
import { D } from '../server/services/decimal.js';
import { periodAt } from '../server/services/periods.js';
import { checkConsistency, rebuildAggregates } from '../server/services/rollups.js';
import { oldestPendingRollupQuery } from '../db/queries/rollups.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

const run = promisify(execFile);
const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url);
});
afterAll(() => server.close());

type Call = ReturnType<typeof api>;
type TrackedEvent = { event_name: string; user_id: string; value: string; properties: Record<string, unknown>; timestamp: string };

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const METERS = [
  { event_name: 'calls', aggregation_type: 'count', unit_name: 'calls', rollup_dimensions: ['endpoint'] },
  { event_name: 'bytes', aggregation_type: 'sum', unit_name: 'bytes' },
  { event_name: 'peak', aggregation_type: 'max', unit_name: 'seats' },
  { event_name: 'visitors', aggregation_type: 'unique', unit_name: 'visitors', unique_property: 'visitor' },
  { event_name: 'watch', aggregation_type: 'duration', unit_name: 'minutes' },
] as const;
const ENDPOINTS: unknown[] = ['/a', '/b', 42, true, null, undefined, { nested: 1 }];

async function setUpCreator(target: TestServer = server) {
  const { apiKey, creator, email } = await createCreatorWithKey(target.rt);
  const call = api(target.url, apiKey);
  // Events up to ~3 days back may fall in the previous billing period.
  expect((await call('PUT', '/api/usage/settings', { late_event_grace_hours: 840 })).status).toBe(200);
  const meterIds: Record<string, string> = {};
  for (const meter of METERS) {
    const created = await call('POST', '/api/usage/meters', { display_name: meter.event_name, ...meter });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    meterIds[meter.event_name] = created.json.id;
  }
  return { call, creatorId: creator.id, email, apiKey, meterIds };
}

/**
 * Events of all five meters for two customers, every 5 h back over 2.5 days: several
 * hours and days, and — for `bob`, whose periods start at a half hour — a period
 * boundary inside an hour.
 */
function makeEvents(now: number, offsetMinutes = 3): TrackedEvent[] {
  const events: TrackedEvent[] = [];
  for (let k = 0; k < 13; k++) {
    const at = now - k * 5 * HOUR - offsetMinutes * 60_000;
    for (const userId of ['alice', 'bob']) {
      const ts = (minus = 0) => new Date(at - minus * 60_000).toISOString();
      const endpoint = ENDPOINTS[k % ENDPOINTS.length];
      events.push(
        { event_name: 'calls', user_id: userId, value: '1', properties: endpoint === undefined ? {} : { endpoint }, timestamp: ts() },
        { event_name: 'calls', user_id: userId, value: '5', properties: { endpoint: '/a' }, timestamp: ts(1) },
        { event_name: 'bytes', user_id: userId, value: `${k}.25`, properties: {}, timestamp: ts() },
        { event_name: 'peak', user_id: userId, value: String((k * 7) % 11), properties: {}, timestamp: ts() },
        { event_name: 'peak', user_id: userId, value: '0.5', properties: {}, timestamp: ts(2) },
        { event_name: 'visitors', user_id: userId, value: '1', properties: { visitor: `v${k % 4}` }, timestamp: ts() },
        { event_name: 'visitors', user_id: userId, value: '1', properties: { visitor: k % 3 === 0 ? 7 : 'v0' }, timestamp: ts(1) },
        { event_name: 'watch', user_id: userId, value: String(30 * k + 15), properties: {}, timestamp: ts() },
      );
    }
  }
  return events;
}

/** `bob`'s events just before and after his period boundary: one hour, two periods. */
const boundaryEvents = (anchor: Date): TrackedEvent[] =>
  [-10, 10].flatMap((minutes) => {
    const timestamp = new Date(anchor.getTime() + minutes * 60_000).toISOString();
    return [
      { event_name: 'calls', user_id: 'bob', value: '1', properties: { endpoint: '/b' }, timestamp },
      { event_name: 'bytes', user_id: 'bob', value: '2.5', properties: {}, timestamp },
      { event_name: 'peak', user_id: 'bob', value: minutes < 0 ? '12' : '3', properties: {}, timestamp },
      { event_name: 'visitors', user_id: 'bob', value: '1', properties: { visitor: 'v-edge' }, timestamp },
      { event_name: 'watch', user_id: 'bob', value: '60', properties: {}, timestamp },
    ];
  });

async function track(call: Call, events: TrackedEvent[]): Promise<string[]> {
  const response = await call('POST', '/api/usage/track', events);
  expect(response.status, response.text).toBe(200);
  const results = response.json.results as Array<{ status: number; id?: string }>;
  expect(results.map((r) => r.status)).toEqual(events.map(() => 201));
  return results.map((r) => r.id!);
}

/**
 * The rollups that ingestion + rollups.apply must produce, computed here from what was
 * sent: windows × meter × customer (and × endpoint for calls), unique meters counting an
 * event when its visitor is new in its billing period (in sending order).
 */
function expectedRollups(events: TrackedEvent[], meterIds: Record<string, string>, customerIds: Record<string, string>, anchors: Record<string, Date | null>) {
  const type = (name: string) => METERS.find((m) => m.event_name === name)!.aggregation_type;
  const seen = new Set<string>();
  const aggregates = new Map<string, { value: D; count: number }>();
  const dimensions = new Map<string, { value: D; count: number }>();
  const add = (map: typeof aggregates, key: string, kind: string, value: D, isNew: boolean) => {
    const row = map.get(key) ?? { value: new D(0), count: 0 };
    const contribution = kind === 'count' ? new D(1) : kind === 'unique' ? new D(isNew ? 1 : 0) : value;
    row.value = kind === 'max' ? D.max(row.value, contribution) : row.value.plus(contribution);
    row.count += 1;
    map.set(key, row);
  };
  for (const e of events) {
    const kind = type(e.event_name);
    const at = new Date(e.timestamp);
    let isNew = false;
    if (kind === 'unique') {
      const period = periodAt(at, anchors[e.user_id] ?? null);
      const key = `${e.event_name}|${e.user_id}|${period.start.toISOString()}|${JSON.stringify(e.properties.visitor)}`;
      isNew = !seen.has(key);
      seen.add(key);
    }
    const hour = new Date(Math.floor(at.getTime() / HOUR) * HOUR).toISOString();
    const day = new Date(Math.floor(at.getTime() / DAY) * DAY).toISOString();
    for (const [window, start] of [['hour', hour], ['day', day]] as const) {
      const base = `${meterIds[e.event_name]}|${customerIds[e.user_id]}|${window}|${start}`;
      add(aggregates, base, kind, new D(e.value), isNew);
      if (e.event_name === 'calls') {
        const raw = e.properties.endpoint;
        const value = typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'boolean' ? JSON.stringify(raw) : '(none)';
        add(dimensions, `${base}|endpoint|${value}`, kind, new D(e.value), isNew);
      }
    }
  }
  const flatten = (map: typeof aggregates) => Object.fromEntries([...map].map(([k, v]) => [k, `${v.value.toFixed()}/${v.count}`]));
  return { aggregates: flatten(aggregates), dimensions: flatten(dimensions) };
}

/** Every hour/day rollup row of the creator, every column but updated_at. */
async function snapshot(creatorId: string) {
  const db = server.rt.ownerDb;
  const aggregates = await db.execute<Record<string, unknown>>(sql`
    select meter_id, customer_id, "window", window_start, window_end, trim_scale(value)::text as value, event_count
    from usage_aggregates where creator_id = ${creatorId} and "window" <> 'period'
    order by meter_id, customer_id, "window", window_start`);
  const dimensions = await db.execute<Record<string, unknown>>(sql`
    select meter_id, customer_id, "window", window_start, dimension, dimension_value, trim_scale(value)::text as value, event_count
    from usage_dimension_aggregates where creator_id = ${creatorId}
    order by meter_id, customer_id, "window", window_start, dimension, dimension_value`);
  return { aggregates: [...aggregates], dimensions: [...dimensions] };
}

/** The snapshot keyed like expectedRollups. */
function keyed(snap: Awaited<ReturnType<typeof snapshot>>) {
  const iso = (v: unknown) => new Date(v as string).toISOString();
  return {
    aggregates: Object.fromEntries(snap.aggregates.map((r) => [`${r.meter_id}|${r.customer_id}|${r.window}|${iso(r.window_start)}`, `${r.value}/${r.event_count}`])),
    dimensions: Object.fromEntries(
      snap.dimensions.map((r) => [`${r.meter_id}|${r.customer_id}|${r.window}|${iso(r.window_start)}|${r.dimension}|${r.dimension_value}`, `${r.value}/${r.event_count}`]),
    ),
  };
}

/** rollups.apply jobs of this creator (null: of anyone) waiting in pg-boss (fetched: they are then active, as a worker holds them). */
async function fetchRollupJobs(target: TestServer, creatorId: string | null): Promise<Array<Job<unknown>>> {
  const jobs: Array<Job<unknown>> = [];
  for (;;) {
    const batch = await target.rt.boss.fetch<unknown>('rollups.apply', { batchSize: 100 });
    if (batch.length === 0) break;
    jobs.push(...batch);
  }
  return creatorId === null ? jobs : jobs.filter((j) => (j.data as { creatorId: string }).creatorId === creatorId);
}

async function applyJobs(jobs: Array<Job<unknown>>, times = 1) {
  for (let i = 0; i < times; i++) {
    for (const job of jobs) await applyRollupHandler.run(server.rt, parsePayload('rollups.apply', job.data), job);
  }
  if (jobs.length > 0) await server.rt.boss.complete('rollups.apply', jobs.map((j) => j.id));
}

const customerIdsOf = async (creatorId: string) =>
  Object.fromEntries(
    (await server.rt.ownerDb.execute<{ user_id: string; customer_id: string }>(sql`select user_id, customer_id from customers where creator_id = ${creatorId}`)).map((r) => [
      r.user_id,
      r.customer_id,
    ]),
  );

const mine = <T extends { creatorId: string }>(report: { disagreements: T[] }, creatorId: string) => report.disagreements.filter((d) => d.creatorId === creatorId);

describe('hourly and daily rollups', () => {
  const now = Date.now();
  const bobAnchor = new Date(Math.floor((now - 30 * HOUR) / HOUR) * HOUR + 30 * 60_000);
  let ctx: Awaited<ReturnType<typeof setUpCreator>>;
  let events: TrackedEvent[];
  let customerIds: Record<string, string>;
  let incremental: Awaited<ReturnType<typeof snapshot>>;

  it('ingestion enqueues one rollups.apply job per committed group; applying it (twice) gives the rollups of the events, once', async () => {
    // Given a creator with five meters, `calls` broken down by endpoint, and a customer
    // whose billing periods start at a half hour.
    ctx = await setUpCreator();
    expect((await ctx.call('PUT', '/api/usage/customers/bob', { billing_anchor: bobAnchor.toISOString() })).status).toBeLessThan(300);
    // When events spread over hours and days are tracked…
    events = [...makeEvents(now), ...boundaryEvents(bobAnchor)];
    const ids = await track(ctx.call, events);
    customerIds = await customerIdsOf(ctx.creatorId);
    // …their group's job carries exactly their ids and occurred_at bounds.
    const jobs = await fetchRollupJobs(server, ctx.creatorId);
    expect(jobs.length).toBeGreaterThan(0);
    const payloads = jobs.map((j) => j.data as QueuePayload<'rollups.apply'>);
    expect(payloads.flatMap((p) => p.eventIds).sort()).toEqual([...ids].sort());
    const times = events.map((e) => Date.parse(e.timestamp));
    expect(Math.min(...payloads.map((p) => Date.parse(p.from)))).toBe(Math.min(...times));
    expect(Math.max(...payloads.map((p) => Date.parse(p.to)))).toBe(Math.max(...times));

    // Then applying the jobs — each delivered twice, as pg-boss may — writes each event once.
    await applyJobs(jobs, 2);
    incremental = await snapshot(ctx.creatorId);
    const expected = expectedRollups(events, ctx.meterIds, customerIds, { alice: null, bob: bobAnchor });
    expect(keyed(incremental)).toEqual(expected);
    // Several hours and days, and every dimension rendering.
    const windows = (w: string) => new Set(incremental.aggregates.filter((r) => r.window === w).map((r) => String(r.window_start))).size;
    expect(windows('hour')).toBeGreaterThanOrEqual(13);
    expect(windows('day')).toBeGreaterThanOrEqual(3);
    expect(new Set(incremental.dimensions.map((r) => r.dimension_value))).toEqual(new Set(['/a', '/b', '42', 'true', '(none)']));
    // bob's boundary hour holds events of two periods, each with its own counter.
    const [edge] = await server.rt.ownerDb.execute<{ periods: number; events: number }>(sql`
      select count(distinct e.period_start)::int as periods, count(*)::int as events from usage_events e
      where e.creator_id = ${ctx.creatorId} and e.customer_id = ${customerIds.bob!} and e.event_name = 'visitors'
        and date_trunc('hour', e.occurred_at, 'UTC') = ${new Date(bobAnchor.getTime() - 30 * 60_000).toISOString()}::timestamptz`);
    expect(edge!.periods).toBe(2);
    // A job delivered a third time still changes nothing.
    await applyJobs(jobs.map((j) => ({ ...j })));
    expect(await snapshot(ctx.creatorId)).toEqual(incremental);
  }, 60_000);

  it('jobs taken together — several groups, two creators, one of them applied before — give the rollups of their events, once', async () => {
    // Given two creators, each with its events tracked in three requests (three groups, three jobs).
    const [one, two] = [await setUpCreator(), await setUpCreator()];
    const sent = makeEvents(now, 7);
    for (const ctxN of [one, two]) {
      for (const part of [sent.slice(0, 20), sent.slice(20, 45), sent.slice(45)]) await track(ctxN.call, part);
    }
    // (One fetch takes every waiting job; the others' are then active, held as a worker would.)
    const all = await fetchRollupJobs(server, null);
    const jobs = [one, two].flatMap((ctxN) => all.filter((j) => (j.data as { creatorId: string }).creatorId === ctxN.creatorId));
    expect(jobs).toHaveLength(6);
    // One of them was applied on its own already (a job delivered again later).
    await applyRollupHandler.run(server.rt, parsePayload('rollups.apply', jobs[1]!.data), jobs[1]!);
    // When a worker takes all six together, interleaved, twice (pg-boss may deliver again)…
    const together = [...jobs].reverse().map((job) => ({ payload: parsePayload('rollups.apply', job.data), job }));
    for (let i = 0; i < 2; i++) await applyRollupHandler.many!.run(server.rt, together);
    await server.rt.boss.complete('rollups.apply', jobs.map((j) => j.id));
    // …then each creator's rollups are those of its events, each counted once.
    for (const ctxN of [one, two]) {
      const expected = expectedRollups(sent, ctxN.meterIds, await customerIdsOf(ctxN.creatorId), { alice: null, bob: null });
      expect(keyed(await snapshot(ctxN.creatorId))).toEqual(expected);
    }
  }, 60_000);

  it('the hours of a calendar-month period add up to its counter (max: the largest hour is the period max)', async () => {
    const rows = await server.rt.ownerDb.execute<{ meter_id: string; aggregation_type: string; period: string; hours: string }>(sql`
      select p.meter_id, m.aggregation_type, trim_scale(p.value)::text as period,
        trim_scale(case when m.aggregation_type = 'max' then max(h.value) else sum(h.value) end)::text as hours
      from usage_aggregates p
      join usage_meters m on m.creator_id = p.creator_id and m.meter_id = p.meter_id
      join usage_aggregates h on h.creator_id = p.creator_id and h.meter_id = p.meter_id and h.customer_id = p.customer_id
        and h."window" = 'hour' and h.window_start >= p.window_start and h.window_start < p.window_end
      where p.creator_id = ${ctx.creatorId} and p.customer_id = ${customerIds.alice!} and p."window" = 'period'
      group by p.meter_id, m.aggregation_type, p.value`);
    expect(new Set(rows.map((r) => r.aggregation_type))).toEqual(new Set(['count', 'sum', 'max', 'unique', 'duration']));
    for (const row of rows) expect(row.hours, row.aggregation_type).toBe(row.period);
  });

  it('checkConsistency finds nothing on consistent data, and reports a corrupted hour, day or counter', async () => {
    expect(mine(await checkConsistency(server.rt), ctx.creatorId)).toEqual([]);
    // The job handler runs the same check over every creator.
    await checkConsistencyHandler.run(server.rt, {}, { id: 'check', name: 'rollups.check-consistency', data: {} } as Job<unknown>);

    const db = server.rt.ownerDb;
    const [hour] = await db.execute<{ meter_id: string; customer_id: string; window_start: string }>(sql`
      update usage_aggregates set value = value + 1
      where (creator_id, meter_id, customer_id, "window", window_start) = (
        select creator_id, meter_id, customer_id, "window", window_start from usage_aggregates
        where creator_id = ${ctx.creatorId} and meter_id = ${ctx.meterIds.bytes!} and customer_id = ${customerIds.alice!} and "window" = 'hour'
        order by window_start limit 1)
      returning meter_id, customer_id, window_start`);
    const report = mine(await checkConsistency(server.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId);
    expect(report.map((d) => d.kind).sort()).toEqual(['day_vs_hours', 'hours_vs_events', 'hours_vs_period']);
    const hoursVsPeriod = report.find((d) => d.kind === 'hours_vs_period')!;
    expect(hoursVsPeriod).toMatchObject({ meterId: hour!.meter_id, customerId: hour!.customer_id, aggregationType: 'sum' });
    expect(new D(hoursVsPeriod.actual!.value).minus(hoursVsPeriod.expected.value).toFixed()).toBe('1');

    await db.execute(sql`
      update usage_aggregates set event_count = event_count + 1
      where creator_id = ${ctx.creatorId} and meter_id = ${ctx.meterIds.calls!} and customer_id = ${customerIds.alice!} and "window" = 'period'
        and window_start = (select max(window_start) from usage_aggregates
          where creator_id = ${ctx.creatorId} and meter_id = ${ctx.meterIds.calls!} and customer_id = ${customerIds.alice!} and "window" = 'period')`);
    const kinds = mine(await checkConsistency(server.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId).map((d) => d.kind);
    expect(kinds.filter((k) => k === 'period_vs_events')).toHaveLength(1);
    await db.execute(sql`
      update usage_aggregates set event_count = event_count - 1
      where creator_id = ${ctx.creatorId} and meter_id = ${ctx.meterIds.calls!} and customer_id = ${customerIds.alice!} and "window" = 'period'
        and window_start = (select max(window_start) from usage_aggregates
          where creator_id = ${ctx.creatorId} and meter_id = ${ctx.meterIds.calls!} and customer_id = ${customerIds.alice!} and "window" = 'period')`);
  }, 60_000);

  it('a rebuild from raw events repairs corrupted, missing and stray rows and ends exactly where incremental application did', async () => {
    const db = server.rt.ownerDb;
    // The hour corrupted above, plus: a day row gone, a dimension row gone, stray rows on an empty day.
    await db.execute(sql`delete from usage_aggregates where ctid = (select ctid from usage_aggregates where creator_id = ${ctx.creatorId} and "window" = 'day' limit 1)`);
    await db.execute(sql`delete from usage_dimension_aggregates where ctid = (select ctid from usage_dimension_aggregates where creator_id = ${ctx.creatorId} limit 1)`);
    const stray = new Date(Math.floor((now - 2 * DAY) / DAY) * DAY - 20 * DAY);
    await db.execute(sql`
      insert into usage_aggregates (creator_id, meter_id, customer_id, "window", window_start, window_end, value, event_count)
      values (${ctx.creatorId}, ${ctx.meterIds.calls!}, ${customerIds.alice!}, 'hour', ${stray.toISOString()}::timestamptz, ${new Date(stray.getTime() + HOUR).toISOString()}::timestamptz, 9, 9)`);
    await db.execute(sql`
      insert into usage_dimension_aggregates (creator_id, meter_id, customer_id, "window", window_start, dimension, dimension_value, value, event_count)
      values (${ctx.creatorId}, ${ctx.meterIds.calls!}, ${customerIds.alice!}, 'day', ${stray.toISOString()}::timestamptz, 'endpoint', '/ghost', 9, 9)`);
    expect(await snapshot(ctx.creatorId)).not.toEqual(incremental);

    const progress: Array<[number, number]> = [];
    const result = await rebuildAggregates(server.rt, ctx.creatorId, { onProgress: (done, total) => progress.push([done, total]) });
    expect(await snapshot(ctx.creatorId)).toEqual(incremental);
    // One step per UTC day from the stray row to the last event.
    expect(result.days).toBeGreaterThanOrEqual(22);
    expect(result.from).toBe(stray.toISOString());
    expect(progress[0]).toEqual([0, result.days]);
    expect(progress.at(-1)).toEqual([result.days, result.days]);
    expect(progress.map(([done]) => done)).toEqual([...Array(result.days + 1).keys()]);
    expect(result.hourRows).toBe(incremental.aggregates.filter((r) => r.window === 'hour').length);
    expect(result.dayRows).toBe(incremental.aggregates.filter((r) => r.window === 'day').length);
    expect(result.dimensionRows).toBe(incremental.dimensions.length);
    expect(mine(await checkConsistency(server.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId)).toEqual([]);

    // A range rebuilds only the days it touches.
    const lastDay = new Date(Math.floor((now - 3 * 60_000) / DAY) * DAY);
    await db.execute(sql`update usage_aggregates set value = 0 where creator_id = ${ctx.creatorId} and "window" = 'hour' and window_start >= ${lastDay.toISOString()}::timestamptz`);
    const ranged = await rebuildAggregates(server.rt, ctx.creatorId, { from: new Date(lastDay.getTime() + HOUR), to: new Date(lastDay.getTime() + 2 * HOUR) });
    expect(ranged).toMatchObject({ days: 1, from: lastDay.toISOString(), to: new Date(lastDay.getTime() + DAY).toISOString() });
    expect(await snapshot(ctx.creatorId)).toEqual(incremental);
  }, 60_000);

  it('events of jobs not applied yet are lag, not disagreement; a rebuild leaves them to their job', async () => {
    // Given a second group of events whose rollup job has not run yet.
    const more = makeEvents(now, 4).filter((_, i) => i % 3 === 0);
    await track(ctx.call, more);
    const jobs = await fetchRollupJobs(server, ctx.creatorId);
    expect(jobs.length).toBeGreaterThan(0);
    // Then the counters are ahead of the rollups, and the check knows why.
    expect(mine(await checkConsistency(server.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId)).toEqual([]);
    // A rebuild meanwhile leaves those events to their job…
    await rebuildAggregates(server.rt, ctx.creatorId);
    expect(await snapshot(ctx.creatorId)).toEqual(incremental);
    // …which then adds them once, to the same rollups a rebuild gives.
    await applyJobs(jobs);
    const all = await snapshot(ctx.creatorId);
    expect(keyed(all)).toEqual(expectedRollups([...events, ...more], ctx.meterIds, customerIds, { alice: null, bob: bobAnchor }));
    expect(mine(await checkConsistency(server.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId)).toEqual([]);
    await rebuildAggregates(server.rt, ctx.creatorId);
    expect(await snapshot(ctx.creatorId)).toEqual(all);
    incremental = all;
  }, 60_000);

  it('a job whose events never reach the rollups (it failed for good) is reported', async () => {
    const lost = makeEvents(now, 5).slice(0, 4);
    await track(ctx.call, lost);
    const jobs = await fetchRollupJobs(server, ctx.creatorId);
    expect(jobs.length).toBeGreaterThan(0);
    // Retries exhausted: pg-boss marks the job failed (and dead-letters a copy).
    await server.rt.ownerDb.execute(sql`update pgboss.job set state = 'failed' where name = 'rollups.apply' and id = any(${`{${jobs.map((j) => j.id).join(',')}}`}::uuid[])`);
    const kinds = new Set(mine(await checkConsistency(server.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId).map((d) => d.kind));
    // The customer windows miss them against the period counter and the raw events, and the meters' rollups against the raw events.
    expect(kinds).toEqual(new Set(['hours_vs_period', 'hours_vs_events', 'meter_rollups_vs_events']));
    // A rebuild brings the lost events in.
    await rebuildAggregates(server.rt, ctx.creatorId);
    expect(mine(await checkConsistency(server.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId)).toEqual([]);
  }, 60_000);

  it('`staryer-usage aggregates rebuild` and `aggregates check` print JSON', async () => {
    const before = await snapshot(ctx.creatorId);
    const cli = (...args: string[]) => run('node', ['bin/staryer-usage.mjs', ...args], { env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', NODE_ENV: 'test' } });
    const rebuilt = await cli('aggregates', 'rebuild', '--creator', ctx.email);
    const result = JSON.parse(rebuilt.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({ creatorId: ctx.creatorId, hourRows: before.aggregates.filter((r) => r.window === 'hour').length });
    expect(result.days).toBeGreaterThan(0);
    expect(await snapshot(ctx.creatorId)).toEqual(before);

    const ranged = await cli('aggregates', 'rebuild', '--creator', ctx.email, '--from', new Date(now - DAY).toISOString(), '--to', new Date(now).toISOString());
    expect(JSON.parse(ranged.stdout)).toMatchObject({ creatorId: ctx.creatorId });

    const checked = await cli('aggregates', 'check');
    const report = JSON.parse(checked.stdout) as { creators: number; disagreements: Array<{ creatorId: string }> };
    expect(report.creators).toBeGreaterThan(0);
    expect(mine(report, ctx.creatorId)).toEqual([]);

    const bad = await cli('aggregates', 'rebuild', '--creator', ctx.email, '--from', 'yesterday').catch((error: { code: number; stderr: string }) => error);
    expect((bad as { code: number }).code).not.toBe(0);
  }, 120_000);
});

describe('the overview says when the charts are behind', () => {
  it('rollups_pending_since: when the oldest event not yet in the rollups was committed; null once applied, and only the creator’s own', async () => {
    const ctx = await setUpCreator();
    const other = await setUpCreator();
    const pendingSince = async (call: Call) => {
      const response = await call('GET', '/api/trpc/insights.overview');
      expect(response.status, response.text).toBe(200);
      return response.json.result.data.rollups_pending_since as string | null;
    };
    expect(await pendingSince(ctx.call)).toBeNull();
    const sentAt = Date.now();
    await track(ctx.call, makeEvents(sentAt, 11).slice(0, 5));
    await new Promise((r) => setTimeout(r, 50));
    await track(ctx.call, makeEvents(sentAt, 13).slice(0, 5));
    // No worker runs here: both groups wait, and the overview dates the older one.
    const since = await pendingSince(ctx.call);
    expect(since).not.toBeNull();
    expect(Date.parse(since!)).toBeGreaterThanOrEqual(sentAt - 1_000);
    expect(Date.parse(since!)).toBeLessThanOrEqual(Date.now());
    expect(await pendingSince(other.call)).toBeNull();

    const jobs = await fetchRollupJobs(server, ctx.creatorId);
    expect(jobs).toHaveLength(2);
    const created = new Map(
      (await server.rt.ownerDb.execute<{ id: string; created_on: Date | string }>(sql`select id::text, created_on from pgboss.job where id = any(${`{${jobs.map((j) => j.id).join(',')}}`}::uuid[])`)).map((r) => [
        r.id,
        new Date(r.created_on).getTime(),
      ]),
    );
    const [older, newer] = [...jobs].sort((a, b) => created.get(a.id)! - created.get(b.id)!);
    expect(Date.parse(since!)).toBe(created.get(older!.id));
    // Applied, but not yet completed in pg-boss: in the rollups all the same.
    await applyRollupHandler.run(server.rt, parsePayload('rollups.apply', older!.data), older!);
    expect(Date.parse((await pendingSince(ctx.call))!)).toBe(created.get(newer!.id));
    await applyJobs(jobs);
    expect(await pendingSince(ctx.call)).toBeNull();
  }, 60_000);
});

describe('pending rollups, by creator', () => {
  it('are found through pg-boss’s index of queued jobs by key (ingestion keys them by creator), and jobs queued unkeyed get their key at start', async () => {
    const ctx = await setUpCreator();
    await track(ctx.call, makeEvents(Date.now(), 7).slice(0, 3));
    const keys = await server.rt.ownerDb.execute<{ key: string | null }>(
      sql`select singleton_key as key from pgboss.job where name = 'rollups.apply' and data ->> 'creatorId' = ${ctx.creatorId}`,
    );
    expect(keys).toEqual([{ key: ctx.creatorId }]);
    // The look-up is an index probe on (name, singleton_key), not a read of every creator's pending jobs.
    const plan = await server.rt.ownerDb.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      return tx.execute<{ 'QUERY PLAN': unknown }>(sql`explain (format json) ${oldestPendingRollupQuery(ctx.creatorId, { schema: 'pgboss', queue: 'rollups.apply' })}`);
    });
    const text = JSON.stringify(plan);
    expect(text).toMatch(/"Index Name":"job(_common)?_i17"/);
    expect(text).toMatch(/"Index Cond":"[^"]*singleton_key = /);

    // A job queued by an earlier version, without the key: not found until a start keys it.
    const unkeyed = await server.rt.boss.send('rollups.apply', { creatorId: ctx.creatorId, eventIds: [crypto.randomUUID()], from: new Date(0).toISOString(), to: new Date(0).toISOString() }, { startAfter: 3600 });
    const keyOf = async () => (await server.rt.ownerDb.execute<{ key: string | null }>(sql`select singleton_key as key from pgboss.job where id = ${unkeyed}::uuid`))[0]!.key;
    expect(await keyOf()).toBeNull();
    await keyLegacyRollupJobs(server.rt.boss);
    expect(await keyOf()).toBe(ctx.creatorId);
    await applyJobs(await fetchRollupJobs(server, ctx.creatorId));
  }, 60_000);
});

describe('applied rollup batches', () => {
  it('are forgotten a week after they were applied, unless their job may still run again; the rollups stay exact', async () => {
    const ctx = await setUpCreator();
    const db = server.rt.ownerDb;
    const events = makeEvents(Date.now(), 7);
    const batchesLeft = async () => (await db.execute<{ batch_id: string }>(sql`select batch_id from rollup_batches where creator_id = ${ctx.creatorId}`)).map((r) => r.batch_id).sort();
    const age = () => db.execute(sql`update rollup_batches set applied_at = now() - interval '8 days' where creator_id = ${ctx.creatorId}`);
    const purge = () => purgeRollupBatchesHandler.run(server.rt, {}, { id: 'purge', name: 'maintenance.purge-rollup-batches', data: {} } as Job<unknown>);

    await track(ctx.call, events.slice(0, 10));
    const done = await fetchRollupJobs(server, ctx.creatorId);
    await applyJobs(done);
    await track(ctx.call, events.slice(10, 20));
    // Applied, but its worker died before telling pg-boss: the job is still active, and will run again.
    const again = await fetchRollupJobs(server, ctx.creatorId);
    for (const job of again) await applyRollupHandler.run(server.rt, parsePayload('rollups.apply', job.data), job);
    await age();
    await track(ctx.call, events.slice(20, 30));
    const recent = await fetchRollupJobs(server, ctx.creatorId);
    await applyJobs(recent);
    expect(done.length * again.length * recent.length).toBeGreaterThan(0);
    expect(await batchesLeft()).toEqual([...done, ...again, ...recent].map((j) => j.id).sort());

    await purge();
    expect(await batchesLeft()).toEqual([...again, ...recent].map((j) => j.id).sort());
    // Delivered again, the job still finds its batch applied: it adds nothing.
    const before = await snapshot(ctx.creatorId);
    await applyJobs(again);
    expect(await snapshot(ctx.creatorId)).toEqual(before);
    expect(mine(await checkConsistency(server.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId)).toEqual([]);

    // Completed and a week old, it goes too; the rollups and the check are unchanged.
    await age();
    await purge();
    expect(await batchesLeft()).toEqual([]);
    expect(await snapshot(ctx.creatorId)).toEqual(before);
    expect(mine(await checkConsistency(server.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId)).toEqual([]);
  }, 60_000);
});

describe('with workers running', () => {
  it('a job that cannot be applied fails alone: the jobs fetched with it are applied and completed', async () => {
    const ctx = await setUpCreator();
    const now = Date.now();
    const events = makeEvents(now, 9).slice(0, 24);
    // Four committed groups, waiting while no worker runs (the main test server has none)…
    for (let i = 0; i < 4; i++) await track(ctx.call, events.slice(i * 6, (i + 1) * 6));
    // …and a job whose statement fails (year 0 is out of Postgres's range), among them.
    const poisonId = await server.rt.boss.send('rollups.apply', {
      creatorId: ctx.creatorId,
      eventIds: [crypto.randomUUID()],
      from: '0000-01-01T00:00:00.000Z',
      to: new Date(now).toISOString(),
    });
    const jobs = async () =>
      await server.rt.ownerDb.execute<{ id: string; state: string; retry_count: number; output: { message?: string } | null }>(sql`
        select id::text, state::text, retry_count, output from pgboss.job where name = 'rollups.apply' and data ->> 'creatorId' = ${ctx.creatorId}`);
    expect((await jobs()).map((j) => j.state)).toEqual(['created', 'created', 'created', 'created', 'created']);

    // One worker takes all five at once: the batch fails, then each runs alone.
    const live = await startTestServer(url, { workers: true });
    try {
      const deadline = Date.now() + 15_000;
      const good = async () => (await jobs()).filter((j) => j.id !== poisonId);
      while ((await good()).some((j) => j.state !== 'completed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect((await good()).map((j) => [j.state, j.retry_count])).toEqual(Array.from({ length: 4 }, () => ['completed', 0]));
      const customerIds = await customerIdsOf(ctx.creatorId);
      expect(keyed(await snapshot(ctx.creatorId))).toEqual(expectedRollups(events, ctx.meterIds, customerIds, { alice: null, bob: null }));
      // The poisoned job alone failed, with its own error, and waits for its retry.
      const poison = (await jobs()).find((j) => j.id === poisonId)!;
      expect(poison.state).toBe('retry');
      expect(poison.output?.message).toMatch(/out of range/);
    } finally {
      await live.close();
    }
  }, 60_000);

  it('rollups catch up within seconds of ingestion', async () => {
    const live = await startTestServer(url, { workers: true });
    try {
      const ctx = await setUpCreator(live);
      const now = Date.now();
      const events = makeEvents(now).slice(0, 40);
      await track(ctx.call, events);
      const customerIds = await customerIdsOf(ctx.creatorId);
      const expected = expectedRollups(events, ctx.meterIds, customerIds, { alice: null, bob: null });
      const deadline = Date.now() + 10_000;
      let current = keyed(await snapshot(ctx.creatorId));
      while (!isDeepStrictEqual(current, expected) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        current = keyed(await snapshot(ctx.creatorId));
      }
      expect(current).toEqual(expected);
      expect(mine(await checkConsistency(live.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId)).toEqual([]);

      // Concurrent groups, applied by concurrent workers, with a rebuild racing them: the
      // rollups end where a rebuild from scratch puts them, and agree with the counters.
      const more = makeEvents(now, 7);
      await Promise.all([
        ...Array.from({ length: 8 }, (_, i) => track(ctx.call, more.filter((_, j) => j % 8 === i))),
        rebuildAggregates(live.rt, ctx.creatorId),
      ]);
      const pendingJobs = async () =>
        (
          await live.rt.ownerDb.execute<{ n: number }>(sql`
            select count(*)::int as n from pgboss.job
            where name = 'rollups.apply' and state in ('created', 'retry', 'active') and data ->> 'creatorId' = ${ctx.creatorId}`)
        )[0]!.n;
      const drained = Date.now() + 10_000;
      while ((await pendingJobs()) > 0 && Date.now() < drained) await new Promise((r) => setTimeout(r, 100));
      expect(await pendingJobs()).toBe(0);
      expect(mine(await checkConsistency(live.rt, { creatorIds: [ctx.creatorId] }), ctx.creatorId)).toEqual([]);
      const settled = await snapshot(ctx.creatorId);
      await rebuildAggregates(live.rt, ctx.creatorId);
      expect(await snapshot(ctx.creatorId)).toEqual(settled);
    } finally {
      await live.close();
    }
  }, 60_000);
});
