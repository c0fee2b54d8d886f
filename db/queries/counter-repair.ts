import { sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { ts, uuidArray } from './params.js';

/**
 * Period counters set again from their raw events (`staryer-usage aggregates repair`): an
 * operator's tool for a counter the consistency check found wrong. Owner connection, the
 * creator's tenant set, under its exclusive configuration lock (server/services/counter-repair.ts).
 */

export type CounterKey = { meterId: string; customerId: string; periodStart: Date };

/** Event names and user ids, to say which counters were repaired in words an operator knows. */
export async function findCounterNames(
  tx: Queryable,
  creatorId: string,
  meterIds: string[],
  customerIds: string[],
): Promise<{ meters: Map<string, { eventName: string; uniqueProperty: string | null }>; users: Map<string, string> }> {
  const meters = await tx.execute<{ meter_id: string; event_name: string; unique_property: string | null }>(sql`
    select meter_id, event_name, unique_property from usage_meters where creator_id = ${creatorId} and meter_id = any(${uuidArray(meterIds)})`);
  const users = await tx.execute<{ customer_id: string; user_id: string }>(sql`
    select customer_id, user_id from customers where creator_id = ${creatorId} and customer_id = any(${uuidArray(customerIds)})`);
  return {
    meters: new Map(meters.map((m) => [m.meter_id, { eventName: m.event_name, uniqueProperty: m.unique_property }])),
    users: new Map(users.map((u) => [u.customer_id, u.user_id])),
  };
}

/**
 * A period counter as stored (locked for update; null when it has no row) and its raw events'
 * figures: event count, Σ value, max value (trailing zeros trimmed). The events of a counter are
 * those filed under its period start, read through the meter × customer × time index.
 */
export async function measurePeriodCounter(
  tx: Queryable,
  creatorId: string,
  key: CounterKey,
): Promise<{ stored: { value: string; eventCount: number } | null; events: { n: number; sum: string; max: string } }> {
  const [counter] = await tx.execute<{ value: string; event_count: string | number }>(sql`
    select trim_scale(value)::text as value, event_count from usage_aggregates
    where creator_id = ${creatorId} and meter_id = ${key.meterId} and customer_id = ${key.customerId}
      and "window" = 'period' and window_start = ${ts(key.periodStart)}
    for update`);
  const [events] = await tx.execute<{ n: string | number; sum: string; max: string }>(sql`
    select count(*) as n, trim_scale(coalesce(sum(e.value), 0))::text as sum, trim_scale(coalesce(max(e.value), 0))::text as max
    from usage_events e
    where e.creator_id = ${creatorId} and e.meter_id = ${key.meterId} and e.customer_id = ${key.customerId}
      and e.period_start = ${ts(key.periodStart)} and e.occurred_at >= ${ts(key.periodStart)}`);
  return {
    stored: counter ? { value: counter.value, eventCount: Number(counter.event_count) } : null,
    events: { n: Number(events!.n), sum: events!.sum, max: events!.max },
  };
}

/** The counter's figures, written as given (the service computed them from raw events). */
export async function setPeriodCounter(tx: Queryable, creatorId: string, key: CounterKey, value: string, eventCount: number, at: Date): Promise<boolean> {
  const rows = await tx.execute(sql`
    update usage_aggregates set value = ${value}::numeric, event_count = ${eventCount}, updated_at = ${ts(at)}
    where creator_id = ${creatorId} and meter_id = ${key.meterId} and customer_id = ${key.customerId}
      and "window" = 'period' and window_start = ${ts(key.periodStart)}
    returning 1`);
  return rows.length === 1;
}

/**
 * The distinct sources of a unique counter's values: each different event value (no
 * unique_property) or property value (jsonb equality; a missing or null property is left
 * out, as ingest leaves it out). The caller keys them as ingest does.
 */
export async function listDistinctSources(
  tx: Queryable,
  creatorId: string,
  key: CounterKey,
  uniqueProperty: string | null,
): Promise<Array<{ value: string; property: unknown }>> {
  const rows = uniqueProperty
    ? await tx.execute<{ value: string; property: unknown }>(sql`
        select distinct '0' as value, e.properties -> ${uniqueProperty} as property
        from usage_events e
        where e.creator_id = ${creatorId} and e.meter_id = ${key.meterId} and e.customer_id = ${key.customerId}
          and e.period_start = ${ts(key.periodStart)} and e.occurred_at >= ${ts(key.periodStart)}
          and coalesce(jsonb_typeof(e.properties -> ${uniqueProperty}), 'null') <> 'null'`)
    : await tx.execute<{ value: string; property: unknown }>(sql`
        select distinct e.value::text as value, null::jsonb as property
        from usage_events e
        where e.creator_id = ${creatorId} and e.meter_id = ${key.meterId} and e.customer_id = ${key.customerId}
          and e.period_start = ${ts(key.periodStart)} and e.occurred_at >= ${ts(key.periodStart)}`);
  return rows.map((r) => ({ value: String(r.value), property: r.property }));
}

/** A unique counter's stored distinct keys, replaced by `keys`. */
export async function replaceUniqueValues(tx: Queryable, creatorId: string, key: CounterKey, keys: string[]): Promise<void> {
  await tx.execute(sql`
    delete from usage_unique_values
    where creator_id = ${creatorId} and meter_id = ${key.meterId} and customer_id = ${key.customerId} and period_start = ${ts(key.periodStart)}`);
  const CHUNK = 5_000;
  for (let i = 0; i < keys.length; i += CHUNK) {
    await tx.execute(sql`
      insert into usage_unique_values (creator_id, meter_id, customer_id, period_start, value)
      select ${creatorId}::uuid, ${key.meterId}::uuid, ${key.customerId}::uuid, ${ts(key.periodStart)}, k.v
      from jsonb_array_elements_text(${JSON.stringify(keys.slice(i, i + CHUNK))}::jsonb) as k(v)
      on conflict do nothing`);
  }
}
