import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { withCreator } from '../db/tenant.js';
import { ensureEventPartitions } from '../server/services/maintenance.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/** usage_events' monthly partitions: maintenance that survives early rows, and append-only for the app role on every path. */
const { url } = await useTestDatabase();
const clocked = useClockedServer(url, new Date('2028-06-15T12:00:00.000Z'));

describe('monthly partitions of raw events', () => {
  it('ensure-partitions keeps making months ahead after a month’s events arrived before its partition (a maintenance gap, a clock)', async () => {
    const { rt } = clocked.server();
    // Partitions reach 13 months past the migration; this server's clock is past them, so the
    // event is accepted into the default partition.
    const { apiKey } = await createCreatorWithKey(rt);
    const call = api(clocked.server().url, apiKey);
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);

    // The daily maintenance now runs: it should create the months ahead (June 2028 … June 2029).
    const outcome = await ensureEventPartitions(rt).then(
      (created) => ({ ok: true as const, created }),
      (error: unknown) => ({ ok: false as const, error: String((error as { cause?: Error }).cause?.message ?? (error as Error).message) }),
    );
    const [ahead] = await rt.ownerDb.execute<{ exists: boolean }>(sql`select to_regclass('usage_events_y2029m05') is not null as exists`);
    // Fails today: "updated partition constraint for default partition ... would be violated", the whole
    // function rolls back, and no month ahead is ever created again (every daily run fails the same way).
    expect({ outcome: outcome.ok ? 'ok' : outcome.error, monthAheadExists: ahead!.exists }).toEqual({ outcome: 'ok', monthAheadExists: true });
  });

  it('raw events stay append-only for the application role through their monthly partitions too', async () => {
    const { rt } = clocked.server();
    clocked.setNow(new Date('2026-11-20T12:00:00.000Z'));
    const { apiKey, creator } = await createCreatorWithKey(rt);
    const call = api(clocked.server().url, apiKey);
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    const tracked = await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann', value: 1 });
    expect(tracked.status).toBe(201);
    const code = (error: unknown) => String((error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code);
    // Through the parent, as migration 0003 intends: refused.
    const viaParent = await withCreator(rt.db, creator.id, (tx) => tx.execute(sql`delete from usage_events where creator_id = ${creator.id}`)).then(() => 'deleted', code);
    // Through the month's partition (the application role has every default privilege on it).
    const viaPartition = await withCreator(rt.db, creator.id, (tx) =>
      tx.execute(sql`update usage_events_y2026m11 set value = 1000 where creator_id = ${creator.id}`).then(() =>
        tx.execute(sql`delete from usage_events_y2026m11 where creator_id = ${creator.id}`),
      ),
    ).then(() => 'updated and deleted', code);
    const [left] = await rt.ownerDb.execute<{ n: number }>(sql`select count(*)::int as n from usage_events where creator_id = ${creator.id}`);
    expect({ viaParent, viaPartition, eventsLeft: left!.n }).toEqual({ viaParent: '42501', viaPartition: '42501', eventsLeft: 1 });
  });
});
