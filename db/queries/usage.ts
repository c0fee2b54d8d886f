import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { usageAggregates, usageEvents, usageIdempotencyKeys, usageUniqueValues } from '../schema.js';

/** The period counter of one meter × customer × billing period. */
export type CounterKey = { meterId: string; customerId: string; periodStart: Date; periodEnd: Date };
export type Counter = CounterKey & { value: string; eventCount: number };

/** Row sets travel as one JSON parameter (json_to_recordset): one bind, any size, typed in SQL. */
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
  const inserted = await tx
    .insert(usageAggregates)
    .values(
      unique.map((k) => ({
        creatorId,
        meterId: k.meterId,
        customerId: k.customerId,
        window: 'period' as const,
        windowStart: k.periodStart,
        windowEnd: k.periodEnd,
      })),
    )
    .onConflictDoNothing()
    .returning({ meterId: usageAggregates.meterId, customerId: usageAggregates.customerId, periodStart: usageAggregates.windowStart });
  const rows = await tx.execute<CounterRow>(sql`
    select a.meter_id, a.customer_id, a.window_start, a.window_end, a.value, a.event_count
    from usage_aggregates a
    join json_to_recordset(${keysJson(unique)}::json) as k(meter_id uuid, customer_id uuid, window_start timestamptz)
      on a.meter_id = k.meter_id and a.customer_id = k.customer_id and a.window_start = k.window_start
    where a.creator_id = ${creatorId} and a.window = 'period'
    order by a.meter_id, a.customer_id, a.window_start
    for update of a`);
  return { counters: toCounterMap(rows), created: new Set(inserted.map(keyOf)) };
}

/** Removes period counters this transaction created but no accepted event used. */
export async function deleteCounters(tx: Queryable, creatorId: string, keys: Array<{ meterId: string; customerId: string; periodStart: Date }>): Promise<void> {
  if (keys.length === 0) return;
  await tx.execute(sql`
    delete from usage_aggregates a
    using json_to_recordset(${keysJson(keys)}::json) as k(meter_id uuid, customer_id uuid, window_start timestamptz)
    where a.creator_id = ${creatorId} and a.window = 'period'
      and a.meter_id = k.meter_id and a.customer_id = k.customer_id and a.window_start = k.window_start`);
}

export async function writeCounters(tx: Queryable, creatorId: string, counters: Counter[], at: Date): Promise<void> {
  if (counters.length === 0) return;
  await tx.execute(sql`
    update usage_aggregates a
    set value = v.value, event_count = v.event_count, updated_at = ${at.toISOString()}::timestamptz
    from json_to_recordset(${JSON.stringify(
      counters.map((c) => ({ meter_id: c.meterId, customer_id: c.customerId, window_start: c.periodStart.toISOString(), value: c.value, event_count: c.eventCount })),
    )}::json) as v(meter_id uuid, customer_id uuid, window_start timestamptz, value numeric, event_count bigint)
    where a.creator_id = ${creatorId} and a.meter_id = v.meter_id and a.customer_id = v.customer_id
      and a.window = 'period' and a.window_start = v.window_start`);
}

/** Period counters without locking (reads: check, usage reports). */
export async function readCounters(tx: Queryable, keys: Array<{ meterId: string; customerId: string; periodStart: Date }>): Promise<Map<string, Counter>> {
  if (keys.length === 0) return new Map();
  const rows = await tx.execute<CounterRow>(sql`
    select a.meter_id, a.customer_id, a.window_start, a.window_end, a.value, a.event_count
    from usage_aggregates a
    join json_to_recordset(${keysJson(keys)}::json) as k(meter_id uuid, customer_id uuid, window_start timestamptz)
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

export async function insertEvents(tx: Queryable, creatorId: string, events: NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.insert(usageEvents).values(events.map((e) => ({ creatorId, ...e })));
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
  const sorted = [...claims].sort((a, b) => (a.idempotencyKey < b.idempotencyKey ? -1 : 1));
  const rows = await tx
    .insert(usageIdempotencyKeys)
    .values(sorted.map((c) => ({ creatorId, ...c, status: 201, response: {}, createdAt: at })))
    .onConflictDoNothing()
    .returning({ key: usageIdempotencyKeys.idempotencyKey });
  return new Set(rows.map((r) => r.key));
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
    from jsonb_to_recordset(${JSON.stringify(answers.map((a) => ({ idempotency_key: a.idempotencyKey, response: a.response })))}::jsonb)
      as v(idempotency_key text, response jsonb)
    where k.creator_id = ${creatorId} and k.idempotency_key = v.idempotency_key`);
}
