import { sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';

/**
 * Reads for the dashboard's Meters pages: a meter's limit history, the current periods'
 * counters per meter, and the preview of a definition over recent raw events.
 */

const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`;

export type PlanLimitHistoryRow = {
  planName: string;
  limitValue: string | null;
  overagePrice: string | null;
  softLimitThreshold: string | null;
  hardCap: boolean;
  effectiveFrom: Date;
  effectiveTo: Date | null;
};

/** Every limit row of a meter (meter_plan_limits_meter_idx), by plan, newest first. */
export async function listPlanLimitHistory(tx: Queryable, creatorId: string, meterId: string): Promise<PlanLimitHistoryRow[]> {
  const rows = await tx.execute<{
    plan_name: string;
    limit_value: string | null;
    overage_price: string | null;
    soft_limit_threshold: string | null;
    hard_cap: boolean;
    effective_from: string | Date;
    effective_to: string | Date | null;
  }>(sql`
    select plan_name, limit_value::text, overage_price::text, soft_limit_threshold::text, hard_cap, effective_from, effective_to
    from meter_plan_limits
    where creator_id = ${creatorId} and meter_id = ${meterId}
    order by plan_name, effective_from desc, effective_to desc nulls first
    limit 1000`);
  return rows.map((r) => ({
    planName: r.plan_name,
    limitValue: r.limit_value,
    overagePrice: r.overage_price,
    softLimitThreshold: r.soft_limit_threshold,
    hardCap: r.hard_cap,
    effectiveFrom: new Date(r.effective_from),
    effectiveTo: r.effective_to === null ? null : new Date(r.effective_to),
  }));
}

/**
 * The live `period` counters whose period contains `at`, summed per meter. Periods are
 * monthly (server/services/periods.ts), so only rows starting in the last 32 days can
 * contain `at`: the index range (creator, meter, 'period', window_start) stays one
 * month wide however much history there is.
 */
export async function sumCurrentPeriodCounters(
  tx: Queryable,
  creatorId: string,
  meterIds: string[],
  at: Date,
): Promise<Array<{ meterId: string; customers: number; value: string }>> {
  if (meterIds.length === 0) return [];
  const since = new Date(at.getTime() - 32 * 24 * 3600 * 1000);
  const rows = await tx.execute<{ meter_id: string; customers: string | number; value: string }>(sql`
    select meter_id, count(*) as customers, coalesce(sum(value), 0)::text as value
    from usage_aggregates
    where creator_id = ${creatorId} and meter_id = any(${`{${meterIds.join(',')}}`}::uuid[]) and "window" = 'period'
      and window_start > ${ts(since)} and window_start <= ${ts(at)} and window_end > ${ts(at)}
    group by meter_id`);
  return rows.map((r) => ({ meterId: r.meter_id, customers: Number(r.customers), value: r.value }));
}

export type PreviewSource = {
  from: Date;
  to: Date;
  /** Events of this meter (edit), else every event with this name (a new definition). */
  meterId: string | null;
  eventName: string;
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
 * Raw events of the window grouped twice in one scan: per customer × billing period
 * (the period stamped on each event at ingestion) and per UTC day. Each group carries
 * every figure an aggregation may need, so one query serves any aggregation type.
 * Distinct keys follow ingestion (services/aggregation/unique.ts): the property's JSON,
 * or the value; events without the property count for nothing.
 */
export async function groupPreviewEvents(tx: Queryable, creatorId: string, source: PreviewSource): Promise<PreviewGroupRow[]> {
  const distinctKey = source.uniqueProperty
    ? sql`case when e.properties ? ${source.uniqueProperty} and jsonb_typeof(e.properties -> ${source.uniqueProperty}) <> 'null'
            then 'p:' || (e.properties -> ${source.uniqueProperty})::text end`
    : sql`'v:' || trim_scale(e.value)::text`;
  const which = source.meterId ? sql`e.meter_id = ${source.meterId}` : sql`e.event_name = ${source.eventName}`;
  const rows = await tx.execute<{
    customer_id: string | null;
    period_start: string | Date | null;
    day: string | null;
    events: string | number;
    total: string;
    largest: string;
    uniq: string | number;
  }>(sql`
    select customer_id, period_start, to_char(day, 'YYYY-MM-DD') as day, count(*) as events,
      coalesce(sum(value), 0)::text as total, coalesce(max(value), 0)::text as largest, count(distinct k) as uniq
    from (
      select e.customer_id, e.period_start, date_trunc('day', e.occurred_at at time zone 'UTC') as day, e.value,
        e.customer_id::text || '|' || (${distinctKey}) as k
      from usage_events e
      where e.creator_id = ${creatorId} and e.occurred_at >= ${ts(source.from)} and e.occurred_at < ${ts(source.to)} and ${which}
    ) ev
    group by grouping sets ((customer_id, period_start), (day))`);
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

/** Current plan of each of these customers (customers_pkey). */
export async function findCustomerPlans(tx: Queryable, creatorId: string, customerIds: string[]): Promise<Map<string, string | null>> {
  if (customerIds.length === 0) return new Map();
  const rows = await tx.execute<{ customer_id: string; plan_name: string | null }>(sql`
    select customer_id, plan_name from customers
    where creator_id = ${creatorId} and customer_id = any(${`{${customerIds.join(',')}}`}::uuid[])`);
  return new Map(rows.map((r) => [r.customer_id, r.plan_name]));
}

/** Caps the statements of this transaction (an on-demand read over raw events). */
export async function limitStatementTime(tx: Queryable, milliseconds: number): Promise<void> {
  await tx.execute(sql`select set_config('statement_timeout', ${String(milliseconds)}, true)`);
}
