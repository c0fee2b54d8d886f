import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { withCreator } from '../db/tenant.js';
import type { Runtime } from '../server/runtime.js';
import { useTestDatabase } from './harness/db.js';
import { createCreatorWithKey } from './harness/fixtures.js';
import { startTestRuntime, useClockedServer } from './harness/server.js';

/** pg-boss: what the application role may do in its tables, and a shutdown bounded while a job is stuck. */
const { url } = await useTestDatabase();
const clocked = useClockedServer(url, new Date('2028-06-15T12:00:00.000Z'));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function jobState(rt: Runtime, id: string): Promise<string | undefined> {
  const [row] = await rt.ownerDb.execute<{ state: string }>(sql`select state::text as state from pgboss.job where id = ${id}::uuid`);
  return row?.state;
}

describe('pg-boss: the application role’s grants, and shutdown', () => {
  it('the application role cannot plant a pg-boss schedule (it only needs to enqueue and read jobs)', async () => {
    const { rt } = clocked.server();
    const { creator } = await createCreatorWithKey(rt);
    const attempt = await withCreator(rt.db, creator.id, (tx) =>
      tx.execute(sql`insert into pgboss.schedule (name, key, cron, timezone, data, options)
        values ('billing.reconcile-all', 'planted', '* * * * *', 'UTC', '{}'::jsonb, '{}'::jsonb)`),
    ).then(
      () => 'inserted',
      (error: unknown) => String((error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code),
    );
    const planted = await rt.ownerDb.execute<{ n: number }>(sql`select count(*)::int as n from pgboss.schedule where key = 'planted'`);
    await rt.ownerDb.execute(sql`delete from pgboss.schedule where key = 'planted'`);
    expect({ attempt, planted: planted[0]!.n }).toEqual({ attempt: '42501', planted: 0 });
  });

  it('a shutdown while one job is stuck is bounded by the graceful timeout and takes no new jobs meanwhile', async () => {
    const booted = await startTestRuntime(url, { workers: true });
    const { rt } = booted;
    // Another session holds rollup_batches: the purge job, once started, waits on it.
    const blocker = postgres(booted.ownerUrl, { max: 1, onnotice: () => undefined });
    const reserved = await blocker.reserve();
    await reserved`begin`;
    await reserved`lock table rollup_batches in access exclusive mode`;
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await reserved`rollback`;
      reserved.release();
      await blocker.end({ timeout: 1 });
    };
    try {
      const purgeId = (await rt.boss.send('maintenance.purge-rollup-batches', {}))!;
      for (let i = 0; i < 100 && (await jobState(rt, purgeId)) !== 'active'; i++) await sleep(200);
      expect(await jobState(rt, purgeId)).toBe('active');

      const started = Date.now();
      let closedAfterMs: number | null = null;
      const closing = booted.close().then(() => {
        closedAfterMs = Date.now() - started;
      });
      await sleep(1_000);
      // A job queued after the stop began (another process queued it): a stopping process should leave it.
      const laterId = (await rt.boss.send('maintenance.ensure-partitions', {}))!;
      // close() has the 18 s a process has before its last-resort exit (20 s grace); then the job is let go.
      await Promise.race([closing, sleep(Math.max(0, 18_000 - (Date.now() - started)))]);
      const closedInTime = closedAfterMs !== null;
      // Read through the file's server (no workers, its pools open): the stopped runtime's are closed.
      const laterState = await jobState(clocked.server().rt, laterId);
      await release();
      await closing;
      expect({ laterJobTakenWhileStopping: laterState !== 'created', closedWithinGrace: closedInTime }).toEqual({
        laterJobTakenWhileStopping: false,
        closedWithinGrace: true,
      });
    } finally {
      await release();
    }
  }, 60_000);
});
