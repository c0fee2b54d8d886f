import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rebuildAggregates } from '../server/services/rollups.js';
import { seedDemo } from '../server/services/seed.js';
import { useTestDatabase } from './harness/db.js';
import { api, createMeter } from './harness/fixtures.js';
import { applyRollupJobs } from './harness/rollups.js';
import { useClockedServer } from './harness/server.js';

/**
 * `seed --append` rewrites the rollups of the days it covers, the creator's existing events too:
 * they must come out as the jobs and `aggregates rebuild` make them (from a review; it filed a
 * customer's whole history under the plan the customer is on now).
 */
const { url } = await useTestDatabase();
const NOW = new Date('2026-12-01T00:10:00.000Z');
const { server, setNow } = useClockedServer(url, NOW);

/** The meter rollups split by plan, every grain, as rows to compare. */
const allPlanRows = async (creatorId: string) =>
  (
    await server().rt.ownerDb.execute<{ meter_id: string; grain: string; window_start: Date | string; plan: string; value: string; events: number }>(sql`
      select meter_id, grain, window_start, dimension_value as plan, value::text as value, event_count::int as events
      from usage_meter_rollups where creator_id = ${creatorId} and dimension = ''
      order by 1, 2, 3, 4`)
  ).map((r) => [r.meter_id, r.grain, new Date(r.window_start).toISOString(), r.plan, r.value, r.events]);

describe('seed --append and the plan an event was on', () => {
  it('keeps each event under the plan its customer was on when it occurred in the charts, as the jobs and `aggregates rebuild` do', async () => {
    // ADR 0011 (amendment 2026-11-26): meter rollups split by plan take the plan at the event's
    // time, so that a rebuild gives what the jobs gave. `seed --append` rewrites the rollups of
    // every day it covers (the creator's existing events too) with each customer's plan *now*
    // (db/queries/seed.ts rebuildRollupRange: `join customers c … coalesce(c.plan_name, '')`):
    // after a customer changes plan, appending demo events moves all of that customer's history
    // on those days to the new plan in Trends "by plan". `aggregates rebuild` then moves it back.
    // Half a minute past a minute: the minute two days back is cut by the minute rollups' two-day
    // window, where the seed and the jobs' pruning must agree (it was flaky at the seconds the test ran).
    const real = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 30_500);
    setNow(real);
    const email = `seed-${Date.now()}@example.com`;
    const first = await seedDemo(server().rt, { email, password: 'a long passphrase here', events: 800, customers: 4, meters: 2, days: 3, seed: 11 });
    // What Trends "by plan" reads: events per plan over the seeded days.
    const perPlan = async () => {
      const found = await server().rt.ownerDb.execute<{ plan: string; events: number }>(sql`
        select dimension_value as plan, sum(event_count)::int as events
        from usage_meter_rollups where creator_id = ${first.creatorId} and grain = 'day' and dimension = ''
        group by 1 order by 1`);
      return Object.fromEntries(found.map((r) => [r.plan, r.events]));
    };
    const call = api(server().url, first.apiKey!);
    const [customer] = await server().rt.ownerDb.execute<{ user_id: string; plan_name: string | null }>(sql`
      select c.user_id, c.plan_name from customers c where c.creator_id = ${first.creatorId}
        and exists (select 1 from usage_events e where e.creator_id = c.creator_id and e.customer_id = c.customer_id)
      order by c.user_id limit 1`);
    const put = await call('PUT', `/api/usage/customers/${customer!.user_id}`, { plan_name: customer!.plan_name === 'enterprise' ? 'free' : 'enterprise' });
    expect(put.status, put.text).toBeLessThan(300);

    await seedDemo(server().rt, { email, events: 20, customers: 4, meters: 2, days: 3, seed: 12, append: true });
    const bySeed = await perPlan();
    const rowsBySeed = await allPlanRows(first.creatorId);
    await rebuildAggregates(server().rt, first.creatorId);
    expect(bySeed).toEqual(await perPlan());
    // Every plan row of every grain (minutes, hours, days), value and events: what the jobs' rules give.
    expect(rowsBySeed).toEqual(await allPlanRows(first.creatorId));
  }, 120_000);

  it('keeps a property whose text is "(none)" apart from events without it, as the jobs and `aggregates rebuild` do', async () => {
    setNow(new Date());
    const email = `seed-none-${Date.now()}@example.com`;
    const first = await seedDemo(server().rt, { email, password: 'a long passphrase here', events: 200, customers: 3, meters: 1, days: 2, seed: 5 });
    const call = api(server().url, first.apiKey!);
    const meter = await createMeter(call, { event_name: 'hits', display_name: 'Hits', aggregation_type: 'count', unit_name: 'hits', rollup_dimensions: ['endpoint'] });
    const sent = await call('POST', '/api/usage/track', [
      { event_name: 'hits', user_id: 'ann', properties: { endpoint: '(none)' } },
      { event_name: 'hits', user_id: 'ann', properties: {} },
      { event_name: 'hits', user_id: 'ann', properties: { endpoint: '/x' } },
    ]);
    expect(sent.status, sent.text).toBe(200);
    await applyRollupJobs(server().rt, first.creatorId);
    const dimensionRows = async () =>
      (
        await server().rt.ownerDb.execute<{ source: string; dimension_value: string; events: number }>(sql`
          select "window"::text as source, dimension_value, sum(event_count)::int as events from usage_dimension_aggregates
            where creator_id = ${first.creatorId} and meter_id = ${meter.id} group by 1, 2
          union all
          select 'meter ' || grain, dimension_value, sum(event_count)::int from usage_meter_rollups
            where creator_id = ${first.creatorId} and meter_id = ${meter.id} and dimension = 'endpoint' group by grain, 2
          order by 1, 2`)
      ).map((r) => [r.source, r.dimension_value, r.events]);
    const byJobs = await dimensionRows();
    expect(byJobs.filter(([source]) => source === 'hour')).toEqual([
      ['hour', '(none)', 1],
      ['hour', '(none)\u0001', 1],
      ['hour', '/x', 1],
    ]);
    // The append rewrites the rollups of the days it covers, these events' day too.
    await seedDemo(server().rt, { email, events: 20, customers: 3, meters: 1, days: 2, seed: 6, append: true });
    expect(await dimensionRows()).toEqual(byJobs);
    await rebuildAggregates(server().rt, first.creatorId);
    expect(await dimensionRows()).toEqual(byJobs);
  }, 120_000);
});
