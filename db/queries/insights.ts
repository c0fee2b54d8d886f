import { sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import type { MeterRollupGrain } from '../schema.js';
import { notSuperseded, overageAmountSql, ts } from './params.js';

/**
 * Creator-wide figures for the dashboard's overview and trends, read from pre-computed
 * tables only (meter rollups, live period counters, alerts): their cost follows the
 * number of meters, customers and windows shown, never the number of raw events.
 */


export type MinuteCount = { minute: Date; events: number };

/** Events per UTC minute in [from, to), across meters (minutes without events are absent). */
export async function findEventsPerMinute(tx: Queryable, creatorId: string, from: Date, to: Date): Promise<MinuteCount[]> {
  const rows = await tx.execute<{ minute: string | Date; events: string | number }>(sql`
    select window_start as minute, sum(event_count) as events
    from usage_meter_rollups
    where creator_id = ${creatorId} and grain = 'minute' and window_start >= ${ts(from)} and window_start < ${ts(to)} and dimension = ''
    group by window_start
    order by window_start`);
  return rows.map((r) => ({ minute: new Date(r.minute), events: Number(r.events) }));
}

export type LiveMeterTotals = { meterId: string; value: string; maxValue: string; customers: number };

/**
 * This period's live counters of every customer (each in its own period: started, not
 * ended at `now`), per meter, and the number of distinct customers with usage overall.
 */
export async function findLiveTotals(tx: Queryable, creatorId: string, now: Date): Promise<{ meters: LiveMeterTotals[]; activeCustomers: number }> {
  // One pass over the live index (a period lasts at most 31 days: older starts are not
  // read), hashed twice: per meter, and distinct customers. A customer × meter with two live
  // periods (Stripe moved the billing anchor: the later one starts inside the earlier one, as
  // notSuperseded says) counts its later one only — one sort of the live rows, not a probe each.
  const rows = await tx.execute<{ meter_id: string | null; value: string | null; max_value: string | null; customers: string | number }>(sql`
    with current_periods as (
      select distinct on (meter_id, customer_id) meter_id, customer_id, value, event_count
      from usage_aggregates
      where creator_id = ${creatorId} and "window" = 'period' and window_end > ${ts(now)} and window_start <= ${ts(now)}
        and window_start > ${ts(now)} - interval '32 days'
      order by meter_id, customer_id, window_start desc
    ),
    live as materialized (select meter_id, customer_id, value from current_periods where event_count > 0)
    select meter_id, sum(value) as value, max(value) as max_value, count(*) as customers from live group by meter_id
    union all
    select null, null, null, (select count(*) from (select distinct customer_id from live) d)`);
  let activeCustomers = 0;
  const meters: LiveMeterTotals[] = [];
  for (const r of rows) {
    if (r.meter_id === null) activeCustomers = Number(r.customers);
    else meters.push({ meterId: r.meter_id, value: r.value ?? '0', maxValue: r.max_value ?? '0', customers: Number(r.customers) });
  }
  return { meters, activeCustomers };
}

/** Base quantity per unit of a meter (duration meters keep seconds); `m` is usage_meters. */
// At 40 decimals: a numeric quotient takes the larger of its operands' scales, and Postgres's
// default (16 significant digits) left an hours meter's 11,112-hour usage 12 decimals, rounded
// twice on the way to a 9-decimal amount (…001 where the usage answer says …000000001 less).
const unitFactorSql = sql`round((case when m.aggregation_type = 'duration' then case m.unit_name when 'ms' then 0.001 when 'minutes' then 60 when 'hours' then 3600 else 1 end else 1 end)::numeric, 40)`;

/**
 * This period's open or acknowledged limit alerts, one row per meter × customer, judged again
 * against the customer's plan and its limit now (a limit raised or a plan upgraded since an
 * alert was raised leaves a customer within it, no longer near or over): over when the live
 * counter is at or past the limit, near when past the soft threshold only; rows neither are
 * left out. `alert_id` is the newest alert of the row's standing (over: a hard limit or
 * overage; near: the soft limit), as a CTE for the statements below.
 */
const limitAlertsSql = (creatorId: string, now: Date) => sql`
  raised as (
    select a.meter_id, a.customer_id, a.period_start,
      (array_agg(a.alert_id order by a.created_at desc, a.alert_id) filter (where a.kind <> 'soft_limit_reached'))[1] as over_alert,
      (array_agg(a.alert_id order by a.created_at desc, a.alert_id) filter (where a.kind = 'soft_limit_reached'))[1] as near_alert
    from usage_alerts a
    where a.creator_id = ${creatorId} and a.status in ('open', 'acknowledged') and a.period_end > ${ts(now)} and a.period_start <= ${ts(now)}
      and a.kind in ('soft_limit_reached', 'hard_limit_reached', 'overage_started')
      -- A period Stripe's moved anchor superseded is no longer the customer's current one.
      and ${notSuperseded('a', { start: 'period_start', end: 'period_end' })}
    group by a.meter_id, a.customer_id, a.period_start
  ),
  judged as (
    select r.*, l.limit_value, g.value as counter_value,
      coalesce(g.value, 0) >= l.limit_value * ${unitFactorSql} as is_over,
      l.soft_limit_threshold is not null and coalesce(g.value, 0) >= l.limit_value * ${unitFactorSql} * l.soft_limit_threshold as is_near
    from raised r
    join customers c on c.creator_id = ${creatorId} and c.customer_id = r.customer_id
    join usage_meters m on m.creator_id = ${creatorId} and m.meter_id = r.meter_id
    join meter_plan_limits l on l.creator_id = ${creatorId} and l.meter_id = r.meter_id and l.plan_name = c.plan_name
      and l.effective_to is null and l.limit_value is not null
    left join usage_aggregates g on g.creator_id = ${creatorId} and g.meter_id = r.meter_id and g.customer_id = r.customer_id
      and g."window" = 'period' and g.window_start = r.period_start
  ),
  al as materialized (
    select meter_id, customer_id, period_start, is_over, limit_value, counter_value,
      case when is_over then coalesce(over_alert, near_alert) else coalesce(near_alert, over_alert) end as alert_id
    from judged
    where is_over or is_near
  )`;

export type LimitAlertCounts = { meterId: string; near: number; over: number };

/** Per meter: customers past a soft threshold only (near), and at or past the limit (over). */
export async function countLimitAlertsThisPeriod(tx: Queryable, creatorId: string, now: Date): Promise<LimitAlertCounts[]> {
  const rows = await tx.execute<{ meter_id: string; near: string | number; over: string | number }>(sql`
    with ${limitAlertsSql(creatorId, now)}
    select meter_id, count(*) filter (where not is_over) as near, count(*) filter (where is_over) as over
    from al group by meter_id`);
  return rows.map((r) => ({ meterId: r.meter_id, near: Number(r.near), over: Number(r.over) }));
}

export type AttentionRow = {
  alertId: string;
  meterId: string;
  userId: string;
  customerName: string | null;
  planName: string | null;
  kind: string;
  status: string;
  used: string;
  limitValue: string;
  /** The live counter (base quantity) of the alert's period, when it exists. */
  counterValue: string | null;
};

/**
 * The `limit` customers furthest along their limit this period (live counter ÷ the limit of
 * their plan now, in the meter's unit), among this period's limit alerts still standing.
 */
export async function findTopLimitAlerts(tx: Queryable, creatorId: string, now: Date, limit: number): Promise<AttentionRow[]> {
  const rows = await tx.execute<{
    alert_id: string;
    meter_id: string;
    user_id: string;
    name: string | null;
    plan_name: string | null;
    kind: string;
    status: string;
    used: string;
    limit_value: string;
    counter_value: string | null;
  }>(sql`
    with ${limitAlertsSql(creatorId, now)},
    ranked as (
      select al.alert_id, al.counter_value, al.limit_value,
        coalesce(al.counter_value / ${unitFactorSql}, x.used) / nullif(al.limit_value, 0) as ratio
      from al
      join usage_alerts x on x.creator_id = ${creatorId} and x.alert_id = al.alert_id
      -- Live meters only, before the limit: an archived meter's alert would take a place and be
      -- dropped by the service, leaving the list short of customers who belong in it.
      join usage_meters m on m.creator_id = ${creatorId} and m.meter_id = al.meter_id and m.archived_at is null
      order by ratio desc nulls first, al.alert_id
      limit ${limit}
    )
    select x.alert_id, x.meter_id, c.user_id, c.name, c.plan_name, x.kind, x.status, x.used, r.limit_value::text as limit_value, r.counter_value
    from ranked r
    join usage_alerts x on x.creator_id = ${creatorId} and x.alert_id = r.alert_id
    join customers c on c.creator_id = ${creatorId} and c.customer_id = x.customer_id
    order by r.ratio desc nulls first, x.alert_id`);
  return rows.map((r) => ({
    alertId: r.alert_id,
    meterId: r.meter_id,
    userId: r.user_id,
    customerName: r.name,
    planName: r.plan_name,
    kind: r.kind,
    status: r.status,
    used: r.used,
    limitValue: r.limit_value,
    counterValue: r.counter_value,
  }));
}

/**
 * Overage so far this period, from every customer's live counter and the current limit of
 * their plan (as the usage endpoint and the revenue page judge it, whether or not an alert
 * fired: a limit lowered below usage raises none at ingest): units beyond the limit (meter
 * unit, rounded half-even to 9 decimals) × its overage price, rounded again, as a customer’s usage answer does (usage-snapshot.ts overage; app_round_half_even, migration 0033);
 * hard-capped and unlimited plans bill none. Archived meters count while their period has usage.
 * `customers`: those beyond a limit that bills overage, each once — also when its price is
 * none or 0 (beyond the limit, owing nothing), as the revenue page counts them.
 */
export async function sumOverageThisPeriod(tx: Queryable, creatorId: string, now: Date): Promise<{ amount: string; customers: number }> {
  const [row] = await tx.execute<{ amount: string | null; customers: string | number }>(sql`
    with owed as (
      select g.customer_id, ${overageAmountSql(sql`greatest(g.value / ${unitFactorSql} - l.limit_value, 0)`, sql`coalesce(l.overage_price, 0)`)} as amount
      from usage_aggregates g
      join usage_meters m on m.creator_id = ${creatorId} and m.meter_id = g.meter_id
      join customers c on c.creator_id = ${creatorId} and c.customer_id = g.customer_id
      join meter_plan_limits l on l.creator_id = ${creatorId} and l.meter_id = g.meter_id and l.plan_name = c.plan_name and l.effective_to is null
      where g.creator_id = ${creatorId} and g."window" = 'period' and g.window_end > ${ts(now)} and g.window_start <= ${ts(now)}
        and g.window_start > ${ts(now)} - interval '32 days'
        and not l.hard_cap and l.limit_value is not null and g.value / ${unitFactorSql} > l.limit_value
        and ${notSuperseded('g')}
    )
    select trim_scale(sum(amount))::text as amount, count(distinct customer_id) as customers from owed`);
  return { amount: row?.amount ?? '0', customers: Number(row?.customers ?? 0) };
}

/** Open alerts (not acknowledged, not resolved). */
export async function countOpenAlerts(tx: Queryable, creatorId: string): Promise<number> {
  const [row] = await tx.execute<{ n: string | number }>(sql`select count(*) as n from usage_alerts where creator_id = ${creatorId} and status = 'open'`);
  return Number(row?.n ?? 0);
}

/** Whether the creator has ever recorded an event (a cheap probe of the rollups). */
export async function hasAnyUsage(tx: Queryable, creatorId: string): Promise<boolean> {
  const [row] = await tx.execute<{ any: boolean }>(sql`
    select exists (select 1 from usage_aggregates where creator_id = ${creatorId} and "window" = 'period') as any`);
  return Boolean(row?.any);
}

export type TrendRow = { bucket: Date; series: string; value: string; events: number };

/**
 * A meter's rollup windows of `grain` in [from, to), grouped into buckets of `bucket`
 * ('hour' | 'day' | 'month', at least the grain) and by series: '' for the total, the
 * plan for dimension '' when `byDimension` is '', else the dimension's values.
 */
export async function findMeterTrend(
  tx: Queryable,
  creatorId: string,
  query: { meterId: string; grain: MeterRollupGrain; bucket: 'hour' | 'day' | 'month'; from: Date; to: Date; dimension: string; split: boolean; combineMax: boolean },
): Promise<TrendRow[]> {
  const combine = query.combineMax ? sql`max(value)` : sql`sum(value)`;
  const series = query.split ? sql`dimension_value` : sql`''::text`;
  // Max meters: a bucket's value is the largest window in it (across customers too).
  const rows = await tx.execute<{ bucket: string | Date; series: string; value: string; events: string | number }>(sql`
    select date_trunc(${query.bucket}, window_start, 'UTC') as bucket, ${series} as series, ${combine} as value, sum(event_count) as events
    from usage_meter_rollups
    where creator_id = ${creatorId} and meter_id = ${query.meterId} and grain = ${query.grain} and dimension = ${query.dimension}
      and window_start >= ${ts(query.from)} and window_start < ${ts(query.to)}
    group by 1, 2
    order by 1, 2`);
  return rows.map((r) => ({ bucket: new Date(r.bucket), series: r.series, value: r.value, events: Number(r.events) }));
}
