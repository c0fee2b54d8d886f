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
