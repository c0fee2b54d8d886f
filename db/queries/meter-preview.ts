import { sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { ts, uuidArray } from './params.js';

/**
 * Reads for the dashboard's Meters pages: a meter's limit history and the preview of a
 * definition over recent raw events.
 */


export type PlanLimitHistoryRow = {
  planName: string;
  limitValue: string | null;
  overagePrice: string | null;
  softLimitThreshold: string | null;
  hardCap: boolean;
  effectiveFrom: Date;
  effectiveTo: Date | null;
};

/** Older limits listed per plan, besides its current one: a bound on the answer, never on the plans. */
export const LIMIT_HISTORY_PER_PLAN = 100;

/**
 * A meter's limit rows (meter_plan_limits_meter_idx), by plan, newest first: every plan's
 * current limit and its LIMIT_HISTORY_PER_PLAN newest older ones, and per plan how many older
 * ones were left out. (A cap on the whole list cut whole plans, current limit and all, off
 * the end of the alphabet.)
 */
export async function listPlanLimitHistory(tx: Queryable, creatorId: string, meterId: string): Promise<{ rows: PlanLimitHistoryRow[]; omitted: Map<string, number> }> {
  const rows = await tx.execute<{
    plan_name: string;
    limit_value: string | null;
    overage_price: string | null;
    soft_limit_threshold: string | null;
    hard_cap: boolean;
    effective_from: string | Date;
    effective_to: string | Date | null;
    rank: number;
    plan_rows: number;
  }>(sql`
    select * from (
      select plan_name, limit_value::text, overage_price::text, soft_limit_threshold::text, hard_cap, effective_from, effective_to,
        row_number() over (partition by plan_name order by effective_from desc, effective_to desc nulls first)::int as rank,
        count(*) over (partition by plan_name)::int as plan_rows
      from meter_plan_limits
      where creator_id = ${creatorId} and meter_id = ${meterId}
    ) h
    where rank <= ${LIMIT_HISTORY_PER_PLAN + 1} or effective_to is null
    order by plan_name, effective_from desc, effective_to desc nulls first`);
  const omitted = new Map<string, number>();
  for (const r of rows) if (r.plan_rows > LIMIT_HISTORY_PER_PLAN + 1) omitted.set(r.plan_name, r.plan_rows - (LIMIT_HISTORY_PER_PLAN + 1));
  const listed = rows.map((r) => ({
    planName: r.plan_name,
    limitValue: r.limit_value,
    overagePrice: r.overage_price,
    softLimitThreshold: r.soft_limit_threshold,
    hardCap: r.hard_cap,
    effectiveFrom: new Date(r.effective_from),
    effectiveTo: r.effective_to === null ? null : new Date(r.effective_to),
  }));
  return { rows: listed, omitted };
}

export type PreviewSource = {
  from: Date;
  to: Date;
  /** Events of these meters: the one edited, or every meter (archived too) of the event name. */
  meterIds: string[];
  /** Count distinct keys (unique meters): slower, so only when asked. */
  distinct: boolean;
  /** Unique meters: the property whose distinct values count (null: the value). */
  uniqueProperty: string | null;
};

/** One customer × billing period (customerId set) or one UTC day (day set). */
export type PreviewGroupRow = {
  customerId: string | null;
  periodStart: Date | null;
  day: string | null;
  events: number;
  sum: string;
  max: string;
  distinct: number;
};

/**
 * Raw events of the window grouped twice: per customer × billing period (the period
 * stamped on each event at ingestion) and per UTC day. Each group carries every figure
 * the plain aggregations need (count, sum, max) in one hashed scan; distinct counts,
 * which need sorting, are computed only for unique meters.
 * Distinct keys follow ingestion (services/aggregation/unique.ts): the property's JSON,
 * or the value; events without the property count for nothing.
 */
export async function groupPreviewEvents(tx: Queryable, creatorId: string, source: PreviewSource): Promise<PreviewGroupRow[]> {
  if (source.meterIds.length === 0) return [];
  // By meter (usage_events_meter_customer_time_idx, partitions pruned by the window).
  const which = sql`e.meter_id = any(${uuidArray(source.meterIds)})`;
  const events = sql`
    select e.customer_id, e.period_start, date_trunc('day', e.occurred_at at time zone 'UTC') as day, e.value, e.properties
    from usage_events e
    where e.creator_id = ${creatorId} and e.occurred_at >= ${ts(source.from)} and e.occurred_at < ${ts(source.to)} and ${which}`;
  type Row = { customer_id: string | null; period_start: string | Date | null; day: string | null; events: string | number; total: string; largest: string; uniq: string | number };
  let rows: Row[];
  if (source.distinct) {
    // Unique meters: distinct keys per customer × period, and per day of customer × key.
    const key = source.uniqueProperty
      ? sql`case when ev.properties ? ${source.uniqueProperty} and jsonb_typeof(ev.properties -> ${source.uniqueProperty}) <> 'null'
              then 'p:' || (ev.properties -> ${source.uniqueProperty})::text end`
      : sql`'v:' || trim_scale(ev.value)::text`;
    // Distinct triples first (hashed), then counted: cheaper than count(distinct …), which sorts.
    rows = await tx.execute<Row>(sql`
      with ev as materialized (select customer_id, period_start, day, ${key} as k from (${events}) ev),
      per_period as (select customer_id, period_start, count(*) as events from ev group by customer_id, period_start),
      per_period_keys as (
        select customer_id, period_start, count(*) as uniq
        from (select distinct customer_id, period_start, k from ev where k is not null) d group by customer_id, period_start),
      per_day as (select day, count(*) as events from ev group by day),
      per_day_keys as (select day, count(*) as uniq from (select distinct day, customer_id, k from ev where k is not null) d group by day)
      select p.customer_id, p.period_start, null as day, p.events, '0' as total, '0' as largest, coalesce(u.uniq, 0) as uniq
      from per_period p left join per_period_keys u using (customer_id, period_start)
      union all
      select null, null, to_char(d.day, 'YYYY-MM-DD'), d.events, '0', '0', coalesce(u.uniq, 0)
      from per_day d left join per_day_keys u using (day)`);
  } else {
    // One scan, grouped twice; plain aggregates hash-aggregate without sorting.
    rows = await tx.execute<Row>(sql`
      select customer_id, period_start, to_char(day, 'YYYY-MM-DD') as day, count(*) as events,
        coalesce(sum(value), 0)::text as total, coalesce(max(value), 0)::text as largest, 0 as uniq
      from (${events}) ev
      group by grouping sets ((customer_id, period_start), (day))`);
  }
  return rows.map((r) => ({
    customerId: r.customer_id,
    periodStart: r.period_start === null ? null : new Date(r.period_start),
    day: r.day,
    events: Number(r.events),
    sum: r.total,
    max: r.largest,
    distinct: Number(r.uniq),
  }));
}

/**
 * Every meter, archived ones included, that has had this event name: events are stored
 * only under a meter, so these are where events of the name can be.
 */
export async function findMeterIdsByEventName(tx: Queryable, creatorId: string, eventName: string): Promise<string[]> {
  const rows = await tx.execute<{ meter_id: string }>(sql`select meter_id from usage_meters where creator_id = ${creatorId} and event_name = ${eventName}`);
  return rows.map((r) => r.meter_id);
}

/** Current plan of each of these customers (customers_pkey). */
export async function findCustomerPlans(tx: Queryable, creatorId: string, customerIds: string[]): Promise<Map<string, string | null>> {
  if (customerIds.length === 0) return new Map();
  const rows = await tx.execute<{ customer_id: string; plan_name: string | null }>(sql`
    select customer_id, plan_name from customers
    where creator_id = ${creatorId} and customer_id = any(${uuidArray(customerIds)})`);
  return new Map(rows.map((r) => [r.customer_id, r.plan_name]));
}

/**
 * Bounds an on-demand read over raw events, for this transaction only: a statement
 * timeout, and enough memory for its hash aggregates not to spill to disk.
 */
export async function boundPreviewStatements(tx: Queryable, timeoutMs: number): Promise<void> {
  await tx.execute(sql`select set_config('statement_timeout', ${String(timeoutMs)}, true), set_config('work_mem', '64MB', true)`);
}

/**
 * The values of these customers' events in the window, per customer × billing period in the
 * order ingestion judged them (arrival: `received_at`, then the time-ordered event id, a
 * batch's order): what a hard cap's replay needs.
 */
export async function listPreviewEventValues(
  tx: Queryable,
  creatorId: string,
  source: { from: Date; to: Date; meterIds: string[]; customerIds: string[] },
): Promise<Array<{ customerId: string; periodStart: Date; value: string }>> {
  if (source.meterIds.length === 0 || source.customerIds.length === 0) return [];
  const rows = await tx.execute<{ customer_id: string; period_start: string | Date; value: string }>(sql`
    select e.customer_id, e.period_start, e.value::text as value
    from usage_events e
    where e.creator_id = ${creatorId} and e.occurred_at >= ${ts(source.from)} and e.occurred_at < ${ts(source.to)}
      and e.meter_id = any(${uuidArray(source.meterIds)}) and e.customer_id = any(${uuidArray(source.customerIds)})
    order by e.customer_id, e.period_start, e.received_at, e.event_id`);
  return rows.map((r) => ({ customerId: r.customer_id, periodStart: new Date(r.period_start), value: r.value }));
}
