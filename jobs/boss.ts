import { PgBoss } from 'pg-boss';
import { DEAD_LETTER_QUEUE, QUEUE_NAMES, QUEUES } from './queues.js';

export const BOSS_SCHEMA = 'pgboss';

/** pg-boss on the owner's connection; it creates and migrates its own schema at start. */
export async function startBoss(ownerUrl: string, options: { schedule: boolean; onError: (error: Error) => void }): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: ownerUrl,
    schema: BOSS_SCHEMA,
    max: 4,
    application_name: 'staryer-jobs',
    schedule: options.schedule,
    supervise: options.schedule,
    // Alerts must reach people within seconds: queues with `notify` wake workers at once.
    useListenNotify: true,
    // Jobs of a dead worker (missed heartbeats) are failed and retried within seconds: the
    // supervisor pass checks often, and each queue's monitor (expiry, heartbeats) every 10 s.
    superviseIntervalSeconds: 5,
    monitorIntervalSeconds: 10,
  });
  boss.on('error', options.onError);
  await boss.start();
  await boss.createQueue(DEAD_LETTER_QUEUE, { retryLimit: 0 });
  for (const name of QUEUE_NAMES) {
    const queueOptions = { ...QUEUES[name].options, deadLetter: DEAD_LETTER_QUEUE };
    // createQueue keeps an existing queue as it was; updateQueue brings its options up to date.
    await boss.createQueue(name, queueOptions);
    await boss.updateQueue(name, queueOptions);
  }
  await keyLegacyRollupJobs(boss);
  if (options.schedule) {
    for (const name of QUEUE_NAMES) {
      const definition = QUEUES[name];
      const schedule = 'schedule' in definition ? definition.schedule : undefined;
      if (schedule) await boss.schedule(name, schedule, {}, { tz: 'UTC' });
    }
  }
  return boss;
}

/**
 * rollups.apply jobs queued before they carried their creator as singleton key (2026-11-27)
 * get it now, so that the look-ups by creator (db/queries/rollups.ts) find them. Idempotent;
 * run at every start.
 */
export async function keyLegacyRollupJobs(boss: PgBoss): Promise<void> {
  await boss.getDb().executeSql(
    `update ${BOSS_SCHEMA}.job set singleton_key = data ->> 'creatorId'
     where name = 'rollups.apply' and state < 'completed' and singleton_key is null and data ? 'creatorId'`,
  );
}
