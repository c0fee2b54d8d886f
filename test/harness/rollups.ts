import type { Job } from 'pg-boss';
import { parsePayload } from '../../jobs/handler.js';
import { applyRollupHandler } from '../../jobs/rollups-apply.js';
import type { Runtime } from '../../server/runtime.js';

/** Runs the waiting rollups.apply jobs of one creator now (a server without workers), and completes every job fetched. */
export async function applyRollupJobs(rt: Runtime, creatorId: string): Promise<void> {
  const jobs: Array<Job<unknown>> = [];
  for (;;) {
    const batch = await rt.boss.fetch<unknown>('rollups.apply', { batchSize: 100 });
    if (batch.length === 0) break;
    jobs.push(...batch);
  }
  for (const job of jobs.filter((j) => (j.data as { creatorId: string }).creatorId === creatorId)) {
    await applyRollupHandler.run(rt, parsePayload('rollups.apply', job.data), job);
  }
  if (jobs.length > 0) await rt.boss.complete('rollups.apply', jobs.map((j) => j.id));
}
