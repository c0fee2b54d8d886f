import { sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';

/**
 * Per queue, seconds since the oldest job that could run now (waiting or retrying, its start
 * time reached) was created: how far a queue's workers are behind. Queues with none are absent.
 */
export async function oldestReadyJobAges(db: Queryable, schema: string): Promise<Map<string, number>> {
  const rows = await db.execute<{ name: string; age: number }>(sql`
    select name, extract(epoch from now() - min(created_on))::float8 as age
    from ${sql.identifier(schema)}.job
    where state in ('created', 'retry') and start_after <= now()
    group by name`);
  return new Map(rows.map((r) => [r.name, Math.max(0, Number(r.age))]));
}

/**
 * The singleton keys of a queue's jobs that are waiting to run (created, or failed and
 * waiting for a retry): a scheduler that queues one job per key skips these, so that jobs
 * do not pile up while workers are down or every run fails (a standard pg-boss queue does
 * not deduplicate on singletonKey). A running job does not count: what it read may be out
 * of date by the time it finishes, so one more may wait behind it.
 */
export async function waitingJobKeys(db: Queryable, schema: string, queue: string): Promise<Set<string>> {
  const rows = await db.execute<{ key: string }>(sql`
    select distinct singleton_key as key from ${sql.identifier(schema)}.job
    where name = ${queue} and state in ('created', 'retry') and singleton_key is not null`);
  return new Set(rows.map((r) => r.key));
}

/**
 * One creator's jobs in these queues, by queue: waiting (created or retrying), running, and
 * failed for good while pg-boss retains them. Jobs name their creator in their payload.
 */
export async function creatorJobCounts(db: Queryable, schema: string, queues: string[], creatorId: string): Promise<Map<string, { queued: number; active: number; failed: number }>> {
  const rows = await db.execute<{ name: string; queued: number; active: number; failed: number }>(sql`
    select name,
      count(*) filter (where state in ('created', 'retry'))::int as queued,
      count(*) filter (where state = 'active')::int as active,
      count(*) filter (where state = 'failed')::int as failed
    from ${sql.identifier(schema)}.job
    where name in (${sql.join(queues.map((q) => sql`${q}`), sql`, `)}) and state in ('created', 'retry', 'active', 'failed')
      and data ->> 'creatorId' = ${creatorId}
    group by name`);
  return new Map(rows.map((r) => [r.name, { queued: Number(r.queued), active: Number(r.active), failed: Number(r.failed) }]));
}
