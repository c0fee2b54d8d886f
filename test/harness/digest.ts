import postgres from 'postgres';

/** Columns that change on any authenticated request, whatever its body: not part of "the data". */
const VOLATILE_COLUMNS: Record<string, string[]> = { api_keys: ['last_used_at'] };

export type DigestExclusions = {
  /** Rows of these customers (by the creator's user_id) are left out of every table with a
   * `user_id` or `customer_id` column: the valid events a test sends on purpose. */
  userIds?: string[];
  /** Rows with these event ids are left out of every table with an `event_id` column. */
  eventIds?: string[];
};

/**
 * An md5 of every row of every tenant table (each table with a `creator_id` column,
 * partitions through their parent), table by table, as the database owner (RLS does not
 * hide rows). Comparing two digests proves a series of requests wrote nothing, apart
 * from the rows the exclusions name.
 */
export async function tenantDigest(sql: postgres.Sql, exclusions: DigestExclusions = {}): Promise<Record<string, string>> {
  const tables = await sql<Array<{ table: string; columns: string[] }>>`
    select c.relname as table, array_agg(a.attname::text order by a.attnum) as columns
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
    group by c.relname
    having bool_or(a.attname = 'creator_id')
    order by c.relname`;
  const userIds = exclusions.userIds ?? [];
  const customerIds =
    userIds.length === 0 ? [] : (await sql<Array<{ id: string }>>`select customer_id::text as id from customers where user_id = any(${userIds})`).map((r) => r.id);
  const eventIds = exclusions.eventIds ?? [];
  const digest: Record<string, string> = {};
  for (const { table, columns } of tables) {
    let where = sql`true`;
    if (columns.includes('user_id') && userIds.length > 0) where = sql`${where} and not (t.user_id = any(${userIds}))`;
    if (columns.includes('customer_id') && customerIds.length > 0) where = sql`${where} and not (t.customer_id::text = any(${customerIds}))`;
    if (columns.includes('event_id') && eventIds.length > 0) where = sql`${where} and not (t.event_id::text = any(${eventIds}))`;
    const volatile = VOLATILE_COLUMNS[table] ?? [];
    const [row] = await sql<Array<{ md5: string; n: number }>>`
      select md5(coalesce(string_agg(r, e'\n' order by r), '')) as md5, count(*)::int as n
      from (select (to_jsonb(t) - ${volatile}::text[])::text as r from ${sql(table)} t where ${where}) rows`;
    digest[table] = `${row!.n}:${row!.md5}`;
  }
  return digest;
}

/** An owner connection to a test database, for digests and direct checks. */
export const ownerSql = (url: string) => postgres(url, { max: 2, onnotice: () => undefined });
