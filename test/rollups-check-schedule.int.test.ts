import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { checkConsistency, checkConsistencyScheduled, type ConsistencyReport } from '../server/services/rollups.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * The half-hourly consistency check (rollups.check-consistency): it covers each creator's
 * periods still taking events (and a day more), not months past, and never runs twice at once.
 */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-09-15T12:00:00.000Z'));

const LOCK = 'staryer|rollups.check-consistency';

async function creatorWithCorruptedPeriods() {
  setNow(new Date('2026-09-15T12:00:00.000Z'));
  const { apiKey, creator } = await createCreatorWithKey(server().rt);
  const call = api(server().url, apiKey);
  await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
  for (let i = 0; i < 3; i++) expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);
  setNow(new Date('2026-11-10T12:00:00.000Z'));
  for (let i = 0; i < 2; i++) expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);
  // Both of ann's period counters (September, closed; November, open) are made to disagree with their events.
  const corrupted = await server().rt.ownerDb.execute<{ window_start: Date }>(sql`
    update usage_aggregates set event_count = event_count + 1, value = value + 1
    where creator_id = ${creator.id} and "window" = 'period' returning window_start`);
  expect(corrupted).toHaveLength(2);
  return creator.id;
}

const periodsIn = (report: ConsistencyReport, creatorId: string) =>
  [...new Set(report.disagreements.filter((d) => d.creatorId === creatorId).map((d) => d.windowStart))].sort();

describe('the scheduled consistency check', () => {
  it('covers the periods still taking events, while the explicit check (aggregates check --since) reaches back as far as asked', async () => {
    const creatorId = await creatorWithCorruptedPeriods();
    const scheduled = await checkConsistencyScheduled(server().rt);
    expect(scheduled.skipped).toBeUndefined();
    expect(periodsIn(scheduled, creatorId)).toEqual(['2026-11-01T00:00:00.000Z']);
    const kinds = scheduled.disagreements.filter((d) => d.creatorId === creatorId).map((d) => d.kind);
    expect(kinds).toContain('period_vs_events');

    const explicit = await checkConsistency(server().rt, { creatorIds: [creatorId], since: new Date('2026-09-01T00:00:00Z') });
    expect(periodsIn(explicit, creatorId)).toEqual(['2026-09-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z']);
  });

  it('a period closed less than the late-event grace (plus a day) ago is still covered', async () => {
    const creatorId = await creatorWithCorruptedPeriods();
    // On 2 December, November closed a day ago: still within the default grace of 24 h plus a day.
    setNow(new Date('2026-12-02T00:00:00.000Z'));
    expect(periodsIn(await checkConsistencyScheduled(server().rt), creatorId)).toEqual(['2026-11-01T00:00:00.000Z']);
    // On 10 December it is past both: nothing of this creator is read.
    setNow(new Date('2026-12-10T00:00:00.000Z'));
    expect(periodsIn(await checkConsistencyScheduled(server().rt), creatorId)).toEqual([]);
  });

  it('does not run while another run (any server) is still going: it says it skipped, and checks nothing', async () => {
    const creatorId = await creatorWithCorruptedPeriods();
    const other = await server().rt.ownerDb.$client.reserve();
    try {
      await other`select pg_advisory_lock(hashtextextended(${LOCK}, 0))`;
      const skipped = await checkConsistencyScheduled(server().rt);
      expect(skipped).toMatchObject({ skipped: true, creators: 0, disagreements: [] });
      await other`select pg_advisory_unlock(hashtextextended(${LOCK}, 0))`;
    } finally {
      other.release();
    }
    const ran = await checkConsistencyScheduled(server().rt);
    expect(ran.skipped).toBeUndefined();
    expect(periodsIn(ran, creatorId)).toEqual(['2026-11-01T00:00:00.000Z']);
    // Its lock is released when it ends: the next run is not skipped either.
    expect((await checkConsistencyScheduled(server().rt)).skipped).toBeUndefined();
  });
});
