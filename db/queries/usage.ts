import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { usageIdempotencyKeys, usageUniqueValues } from '../schema.js';

/** The period counter of one meter × customer × billing period. */
export type CounterKey = { meterId: string; customerId: string; periodStart: Date; periodEnd: Date };
export type Counter = CounterKey & { value: string; eventCount: number };

/** Row sets travel as one JSON parameter (app_counter_rows / json_to_recordset): one bind, any size, typed in SQL. */
const keysJson = (keys: Array<{ meterId: string; customerId: string; periodStart: Date }>) =>
  JSON.stringify(keys.map((k) => ({ meter_id: k.meterId, customer_id: k.customerId, window_start: k.periodStart.toISOString() })));

const keyOf = (k: { meterId: string; customerId: string; periodStart: Date }) => `${k.meterId}|${k.customerId}|${k.periodStart.toISOString()}`;
export const counterKey = keyOf;

type CounterRow = { meter_id: string; customer_id: string; window_start: Date | string; window_end: Date | string; value: string; event_count: string | number };

function toCounterMap(rows: Iterable<CounterRow>): Map<string, Counter> {
  const counters = new Map<string, Counter>();
  for (const row of rows) {
    const counter: Counter = {
      meterId: row.meter_id,
      customerId: row.customer_id,
      periodStart: new Date(row.window_start),
      periodEnd: new Date(row.window_end),
      value: String(row.value),
      eventCount: Number(row.event_count),
    };
    counters.set(keyOf(counter), counter);
  }
  return counters;
}

/**
 * Creates missing period counters and locks all of them (FOR UPDATE) in a fixed order,
 * so concurrent commits — in this process or another — take turns on a counter and
 * never deadlock. The caller decides under the lock and writes back once.
 */
export async function lockCounters(tx: Queryable, creatorId: string, keys: CounterKey[]): Promise<{ counters: Map<string, Counter>; created: Set<string> }> {
  const unique = [...new Map(keys.map((k) => [keyOf(k), k])).values()].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
  if (unique.length === 0) return { counters: new Map(), created: new Set() };
  const inserted = await tx.execute<{ meter_id: string; customer_id: string; window_start: Date | string }>(sql`
    insert into usage_aggregates (creator_id, meter_id, customer_id, "window", window_start, window_end)
    select ${creatorId}, k.meter_id, k.customer_id, 'period', k.window_start, k.window_end
    from json_to_recordset(${JSON.stringify(
      unique.map((k) => ({ meter_id: k.meterId, customer_id: k.customerId, window_start: k.periodStart.toISOString(), window_end: k.periodEnd.toISOString() })),
    )}::json) as k(meter_id uuid, customer_id uuid, window_start timestamptz, window_end timestamptz)
    order by k.meter_id, k.customer_id, k.window_start
    on conflict do nothing
    returning meter_id, customer_id, window_start`);
  const rows = await tx.execute<CounterRow>(sql`
    select a.meter_id, a.customer_id, a.window_start, a.window_end, a.value, a.event_count
    from usage_aggregates a
    join app_counter_rows(${keysJson(unique)}::json) k
      on a.meter_id = k.meter_id and a.customer_id = k.customer_id and a.window_start = k.window_start
    where a.creator_id = ${creatorId} and a.window = 'period'
    order by a.meter_id, a.customer_id, a.window_start
    for update of a`);
  return {
    counters: toCounterMap(rows),
    created: new Set(inserted.map((r) => keyOf({ meterId: r.meter_id, customerId: r.customer_id, periodStart: new Date(r.window_start) }))),
  };
}

/** Removes period counters this transaction created but no accepted event used. */
export async function deleteCounters(tx: Queryable, creatorId: string, keys: Array<{ meterId: string; customerId: string; periodStart: Date }>): Promise<void> {
  if (keys.length === 0) return;
  await tx.execute(sql`
    delete from usage_aggregates a
    using app_counter_rows(${keysJson(keys)}::json) k
    where a.creator_id = ${creatorId} and a.window = 'period'
      and a.meter_id = k.meter_id and a.customer_id = k.customer_id and a.window_start = k.window_start`);
}

export async function writeCounters(tx: Queryable, creatorId: string, counters: Counter[], at: Date): Promise<void> {
  if (counters.length === 0) return;
  await tx.execute(sql`
    update usage_aggregates a
    set value = v.value, event_count = v.event_count, updated_at = ${at.toISOString()}::timestamptz
    from app_counter_rows(${JSON.stringify(
      counters.map((c) => ({ meter_id: c.meterId, customer_id: c.customerId, window_start: c.periodStart.toISOString(), value: c.value, event_count: c.eventCount })),
    )}::json) v
    where a.creator_id = ${creatorId} and a.meter_id = v.meter_id and a.customer_id = v.customer_id
      and a.window = 'period' and a.window_start = v.window_start`);
}

/** Period counters without locking (reads: check, usage reports). */
export async function readCounters(tx: Queryable, keys: Array<{ meterId: string; customerId: string; periodStart: Date }>): Promise<Map<string, Counter>> {
  if (keys.length === 0) return new Map();
  const rows = await tx.execute<CounterRow>(sql`
    select a.meter_id, a.customer_id, a.window_start, a.window_end, a.value, a.event_count
    from usage_aggregates a
    join app_counter_rows(${keysJson(keys)}::json) k
      on a.meter_id = k.meter_id and a.customer_id = k.customer_id and a.window_start = k.window_start
    where a.window = 'period'`);
  return toCounterMap(rows);
}

/** Which of these distinct values a unique meter has already seen in the period. */
export async function findSeenDistinct(tx: Queryable, key: { meterId: string; customerId: string; periodStart: Date }, values: string[]): Promise<Set<string>> {
  if (values.length === 0) return new Set();
  const rows = await tx
    .select({ value: usageUniqueValues.value })
    .from(usageUniqueValues)
    .where(
      and(
        eq(usageUniqueValues.meterId, key.meterId),
        eq(usageUniqueValues.customerId, key.customerId),
        eq(usageUniqueValues.periodStart, key.periodStart),
        inArray(usageUniqueValues.value, values),
      ),
    );
  return new Set(rows.map((r) => r.value));
}

export async function insertDistinct(
  tx: Queryable,
  creatorId: string,
  rows: Array<{ meterId: string; customerId: string; periodStart: Date; value: string }>,
): Promise<void> {
  if (rows.length === 0) return;
  await tx.insert(usageUniqueValues).values(rows.map((r) => ({ creatorId, ...r }))).onConflictDoNothing();
}

export type NewEvent = {
  eventId: string;
  meterId: string;
  customerId: string;
  eventName: string;
  userId: string;
  value: string;
  properties: Record<string, unknown>;
  idempotencyKey: string | null;
  newDistinct: boolean;
  periodStart: Date;
  occurredAt: Date;
  receivedAt: Date;
};

/**
 * One statement whose text never changes, whatever the number of events: no per-row SQL
 * building on our side, one prepared statement on Postgres's (the ORM's multi-row insert
 * cost ~40 % of the server's CPU at 1,000 events per batch).
 */
export async function insertEvents(tx: Queryable, creatorId: string, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((e) => ({
    event_id: e.eventId,
    meter_id: e.meterId,
    customer_id: e.customerId,
    event_name: e.eventName,
    user_id: e.userId,
    value: e.value,
    properties: e.properties,
    idempotency_key: e.idempotencyKey,
    new_distinct: e.newDistinct,
    period_start: e.periodStart.toISOString(),
    occurred_at: e.occurredAt.toISOString(),
    received_at: e.receivedAt.toISOString(),
  }));
  await tx.execute(sql`
    insert into usage_events (creator_id, event_id, meter_id, customer_id, event_name, user_id, value, properties,
                              idempotency_key, new_distinct, period_start, occurred_at, received_at)
    select ${creatorId}, e.event_id, e.meter_id, e.customer_id, e.event_name, e.user_id, e.value, e.properties,
           e.idempotency_key, e.new_distinct, e.period_start, e.occurred_at, e.received_at
    from json_to_recordset(${JSON.stringify(rows)}::json) as e(event_id uuid, meter_id uuid, customer_id uuid, event_name text, user_id text,
      value numeric, properties jsonb, idempotency_key text, new_distinct boolean, period_start timestamptz, occurred_at timestamptz, received_at timestamptz)`);
}

export type StoredAnswer = { idempotencyKey: string; requestHash: string; eventId: string; status: number; response: unknown };

/**
 * Claims idempotency keys for this transaction. A key already committed — or claimed by
 * a concurrent transaction, which we wait for — is not returned: its event is a replay.
 */
export async function claimIdempotencyKeys(
  tx: Queryable,
  creatorId: string,
  claims: Array<{ idempotencyKey: string; requestHash: string; eventId: string }>,
  at: Date,
): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const rows = await tx.execute<{ idempotency_key: string }>(sql`
    insert into usage_idempotency_keys (creator_id, idempotency_key, request_hash, event_id, status, response, created_at)
    select ${creatorId}, c.k, c.h, c.e, 201, '{}'::jsonb, ${at.toISOString()}::timestamptz
    from json_to_recordset(${JSON.stringify(claims.map((c) => ({ k: c.idempotencyKey, h: c.requestHash, e: c.eventId })))}::json) as c(k text, h text, e uuid)
    order by c.k
    on conflict do nothing
    returning idempotency_key`);
  return new Set(rows.map((r) => r.idempotency_key));
}

export async function findIdempotencyAnswers(tx: Queryable, keys: string[]): Promise<Map<string, StoredAnswer>> {
  if (keys.length === 0) return new Map();
  const rows = await tx.select().from(usageIdempotencyKeys).where(inArray(usageIdempotencyKeys.idempotencyKey, keys));
  return new Map(rows.map((r) => [r.idempotencyKey, { idempotencyKey: r.idempotencyKey, requestHash: r.requestHash, eventId: r.eventId, status: r.status, response: r.response }]));
}

export async function releaseIdempotencyKeys(tx: Queryable, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await tx.delete(usageIdempotencyKeys).where(inArray(usageIdempotencyKeys.idempotencyKey, keys));
}

export async function storeIdempotencyAnswers(tx: Queryable, creatorId: string, answers: Array<{ idempotencyKey: string; response: unknown }>): Promise<void> {
  if (answers.length === 0) return;
  await tx.execute(sql`
    update usage_idempotency_keys k set response = v.response
    from app_idempotency_rows(${JSON.stringify(answers.map((a) => ({ idempotency_key: a.idempotencyKey, response: a.response })))}::jsonb) v
    where k.creator_id = ${creatorId} and k.idempotency_key = v.idempotency_key`);
}
