import { sql } from 'drizzle-orm';

/** A timestamp parameter, typed for Postgres (a bare Date cannot be bound in a raw `sql` template). */
export const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`;

/** A uuid[] parameter, for `= any(…)` over ids we generated (uuids: no quoting needed). */
export const uuidArray = (ids: string[]) => sql`${`{${ids.join(',')}}`}::uuid[]`;
