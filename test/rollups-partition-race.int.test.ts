import { sql } from 'drizzle-orm';
import type { Job } from 'pg-boss';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { parsePayload } from '../jobs/handler.js';
import { applyRollupHandler } from '../jobs/rollups-apply.js';
import type { Runtime } from '../server/runtime.js';
import { RollupEventsUnseen } from '../db/queries/rollups.js';
import { applyRollupBatches, checkConsistency } from '../server/services/rollups.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * Review of the background rollups under failure and concurrency: every accepted event must be
 * counted once in every rollup window, whatever runs beside the rollups.apply jobs.
 */
const { url } = await useTestDatabase();
// Past the partitions the migrations made (13 months ahead of the template's migration): this
// month's events wait in usage_events_default until the daily maintenance makes their month.
const START = new Date('2031-03-15T12:00:00.000Z');
const clocked = useClockedServer(url, START);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The creator's rollups.apply jobs waiting in pg-boss, fetched (active) as a worker holds them. */
async function fetchRollupJobs(rt: Runtime, creatorId: string): Promise<Array<Job<unknown>>> {
  const jobs: Array<Job<unknown>> = [];
  for (;;) {
    const batch = await rt.boss.fetch<unknown>('rollups.apply', { batchSize: 100 });
    if (batch.length === 0) break;
    jobs.push(...batch);
  }
  return jobs.filter((j) => (j.data as { creatorId: string }).creatorId === creatorId);
}

/** Per hour/day window of the creator: raw events (count) against the customer rollups and the meter rollups (plan series). */
async function windowsVsRaw(rt: Runtime, creatorId: string) {
  const rows = await rt.ownerDb.execute<{ win: string; start: string; raw: number; customer_rollups: number; meter_rollups: number }>(sql`
    with raw as (
      select g.win, g.start, count(*)::int as n
      from usage_events e
      cross join lateral (values ('hour', date_trunc('hour', e.occurred_at, 'UTC')), ('day', date_trunc('day', e.occurred_at, 'UTC'))) g(win, start)
      where e.creator_id = ${creatorId}
      group by 1, 2
    ),
    agg as (
      select "window"::text as win, window_start as start, sum(event_count)::int as n from usage_aggregates
      where creator_id = ${creatorId} and "window" in ('hour', 'day') group by 1, 2
    ),
    met as (
      select grain as win, window_start as start, sum(event_count)::int as n from usage_meter_rollups
      where creator_id = ${creatorId} and grain in ('hour', 'day') and dimension = '' group by 1, 2
    )
    select coalesce(raw.win, agg.win, met.win) as win, to_char(coalesce(raw.start, agg.start, met.start) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI') as start,
      coalesce(raw.n, 0) as raw, coalesce(agg.n, 0) as customer_rollups, coalesce(met.n, 0) as meter_rollups
    from raw full join agg on agg.win = raw.win and agg.start = raw.start
    full join met on met.win = coalesce(raw.win, agg.win) and met.start = coalesce(raw.start, agg.start)
    order by 1, 2`);
  return [...rows];
}

describe('rollups.apply beside the daily partition maintenance', () => {
  it('a job applied while maintenance moves its events out of the default partition still counts every event (the dashboard agrees with the counter)', async () => {
    const server = clocked.server();
    const { rt } = server;
    clocked.setNow(START);
    const { apiKey, creator } = await createCreatorWithKey(rt);
    const call = api(server.url, apiKey);
    const meter = await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    // Five events accepted (201 each) — the counter says 5.
    const tracked = await call('POST', '/api/usage/track', Array.from({ length: 5 }, () => ({ event_name: 'calls', user_id: 'ann' })));
    expect(tracked.status, tracked.text).toBe(200);
    expect((tracked.json.results as Array<{ status: number }>).map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    const [placed] = await rt.ownerDb.execute<{ part: string }>(sql`select distinct tableoid::regclass::text as part from usage_events where creator_id = ${creator.id}`);
    expect(placed!.part).toBe('usage_events_default');

    // Their rollup job is taken by a worker while the daily maintenance (ensure-partitions) is
    // making March 2031: it has moved the month's rows out of the default partition and attached
    // the new one, and not committed yet.
    const jobs = await fetchRollupJobs(rt, creator.id);
    expect(jobs).toHaveLength(1);
    const owner = postgres(server.booted.ownerUrl, { max: 1, onnotice: () => undefined });
    const maintenance = await owner.reserve();
    try {
      await maintenance`begin`;
      await maintenance`select * from app_ensure_usage_event_partitions('2031-03-01T00:00:00Z'::timestamptz, '2031-04-01T00:00:00Z'::timestamptz)`;
      const applying = applyRollupHandler.many!.run(
        rt,
        jobs.map((job) => ({ payload: parsePayload('rollups.apply', job.data), job })),
      );
      // The job's statement waits for the maintenance's lock on the default partition…
      let waiting = false;
      for (let i = 0; i < 100 && !waiting; i++) {
        const [row] = await rt.ownerDb.execute<{ n: number }>(sql`
          select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike '%usage_events%'`);
        waiting = row!.n > 0;
        if (!waiting) await sleep(50);
      }
      expect(waiting).toBe(true);
      // …and the maintenance commits (as it does every night).
      await maintenance`commit`;
      await applying;
      await rt.boss.complete('rollups.apply', jobs.map((j) => j.id));
    } finally {
      maintenance.release();
      await owner.end({ timeout: 1 });
    }

    // What the creator sees: the counter (customers.get) says 5 calls today; the chart of the day must too.
    const customer = await trpcQuery(call, 'customers.get', { user_id: 'ann' });
    const used = (customer.meters as Array<{ meter_id: string; used: string }>).find((m) => m.meter_id === meter.id)!.used;
    const day = new Date(Math.floor(START.getTime() / DAY) * DAY);
    const trend = await trpcQuery(call, 'insights.trends', { meter_id: meter.id, grain: 'day', from: day.toISOString(), to: new Date(day.getTime() + DAY).toISOString() });
    const daily = (customer.daily as Array<{ meter_id: string; used: string }>).filter((d) => d.meter_id === meter.id).map((d) => d.used);
    expect({ counter: used, chartTotal: trend.total, chartEvents: trend.events, customerDaily: daily }).toEqual({ counter: '5', chartTotal: '5', chartEvents: 5, customerDaily: ['5'] });
    expect(await windowsVsRaw(rt, creator.id)).toEqual([
      { win: 'day', start: '2031-03-15T00:00', raw: 5, customer_rollups: 5, meter_rollups: 5 },
      { win: 'hour', start: '2031-03-15T12:00', raw: 5, customer_rollups: 5, meter_rollups: 5 },
    ]);
    // Nothing pending any more: the check should find nothing to report either.
    expect((await checkConsistency(rt, { creatorIds: [creator.id] })).disagreements).toEqual([]);
  }, 60_000);

  it('a rollup statement that sees fewer of its batch’s events than the batch holds fails the batch (claim and all) instead of committing without them', async () => {
    const server = clocked.server();
    const { rt } = server;
    clocked.setNow(START);
    const { apiKey, creator } = await createCreatorWithKey(rt);
    const call = api(server.url, apiKey);
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'bea' })).status).toBe(201);
    const [job] = await fetchRollupJobs(rt, creator.id);
    const payload = parsePayload('rollups.apply', job!.data);
    // As a statement planned on a stale partition list sees it: one of the batch's events missing.
    const missing = { ...payload, eventIds: [...payload.eventIds, '01a00000-0000-7000-8000-000000000000'] };
    await expect(applyRollupBatches(rt, [{ payload: missing, batchId: job!.id }])).rejects.toBeInstanceOf(RollupEventsUnseen);
    expect((await windowsVsRaw(rt, creator.id)).map((w) => w.customer_rollups)).toEqual([0, 0]);
    // Retried as it is (the job's own payload), it applies once.
    await applyRollupBatches(rt, [{ payload, batchId: job!.id }]);
    await rt.boss.complete('rollups.apply', [job!.id]);
    expect((await windowsVsRaw(rt, creator.id)).map((w) => [w.raw, w.customer_rollups, w.meter_rollups])).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
  });
});
