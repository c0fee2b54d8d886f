import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { withCreator } from '../db/tenant.js';
import { creatorSessions } from '../db/schema.js';
import { ensurePartitionsHandler } from '../jobs/ensure-partitions.js';
import { purgeSessionsHandler } from '../jobs/purge-sessions.js';
import { DEAD_LETTER_QUEUE, QUEUE_NAMES, QUEUES } from '../jobs/queues.js';
import { HANDLERS } from '../jobs/worker.js';
import { createSession } from '../server/services/sessions.js';
import { useTestDatabase } from './harness/db.js';
import { createCreatorWithKey } from './harness/fixtures.js';
import { startTestRuntime } from './harness/server.js';

const { url } = await useTestDatabase();
const booted = await startTestRuntime(url, { workers: true });
afterAll(() => booted.close());
const { rt } = booted;

describe('background jobs', () => {
  it('pg-boss is up with every queue and its schedules', async () => {
    const queues = (await rt.boss.getQueues()).map((q) => q.name).sort();
    expect(queues).toEqual(expect.arrayContaining([DEAD_LETTER_QUEUE, ...QUEUE_NAMES]));
    const schedules = (await rt.boss.getSchedules()).map((s) => s.name).sort();
    const scheduled = QUEUE_NAMES.filter((name) => 'schedule' in QUEUES[name]).sort();
    expect(scheduled).toEqual(expect.arrayContaining(['alerts.resolve-closed', 'maintenance.ensure-partitions', 'maintenance.purge-rollup-batches', 'maintenance.purge-sessions', 'rollups.check-consistency']));
    expect(schedules).toEqual(scheduled);
    // Alert deliveries wake workers through NOTIFY rather than waiting for a poll.
    const notify = await rt.boss.getQueue('webhooks.deliver');
    expect(notify?.notify).toBe(true);
    // Rollup jobs, one per committed group, are polled for (no NOTIFY in the ingest commit)
    // and leave pg-boss's table an hour after they are done.
    expect(await rt.boss.getQueue('rollups.apply')).toMatchObject({ notify: false, deleteAfterSeconds: 3600 });
  });

  it('has exactly one handler for every queue', () => {
    expect(HANDLERS.map((h) => h.queue).sort()).toEqual([...QUEUE_NAMES].sort());
  });

  it('purges expired sessions of every creator, idempotently', async () => {
    const { creator } = await createCreatorWithKey(rt);
    await createSession(rt, { creatorId: creator.id, ip: null, userAgent: null });
    await withCreator(rt.db, creator.id, (tx) => tx.update(creatorSessions).set({ expiresAt: new Date(Date.now() - 1000) }));
    await createSession(rt, { creatorId: creator.id, ip: null, userAgent: null });
    const job = { id: 'test', name: 'maintenance.purge-sessions', data: {} } as Parameters<typeof purgeSessionsHandler.run>[2];
    await purgeSessionsHandler.run(rt, {}, job);
    await purgeSessionsHandler.run(rt, {}, job);
    const left = await withCreator(rt.db, creator.id, (tx) => tx.select().from(creatorSessions));
    expect(left).toHaveLength(1);
    expect(left[0]!.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('keeps monthly event partitions 13 months ahead', async () => {
    const job = { id: 'test', name: 'maintenance.ensure-partitions', data: {} } as Parameters<typeof ensurePartitionsHandler.run>[2];
    await ensurePartitionsHandler.run(rt, {}, job);
    const ahead = new Date();
    ahead.setUTCMonth(ahead.getUTCMonth() + 12);
    const name = `usage_events_y${ahead.getUTCFullYear()}m${String(ahead.getUTCMonth() + 1).padStart(2, '0')}`;
    const [row] = await rt.ownerDb.execute<{ forced: boolean }>(sql`select relforcerowsecurity as forced from pg_class where relname = ${name}`);
    expect(row?.forced).toBe(true);
  });
});
