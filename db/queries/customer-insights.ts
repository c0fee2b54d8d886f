import { sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { notSuperseded, overageAmountSql, uuidArray } from './params.js';
import { windowValueSql, type RollupRules } from './rollups.js';

/**
 * Read models of the Top users and customer pages. Everything here reads pre-computed
 * counters (usage_aggregates period/day rows) or pages raw events by keyset over an
 * index; nothing scans usage_events.
 */

export type TopSortKey = 'usage' | 'percent' | 'overage' | 'user_id';

export type TopCustomerRow = {
  customerId: string;
  userId: string;
  email: string | null;
  name: string | null;
  planName: string | null;
  periodStart: Date;
  periodEnd: Date;
  /** Base quantity (as the counter keeps it). */
  value: string;
  eventCount: number;
  limitValue: string | null;
  overagePrice: string | null;
  softLimitThreshold: string | null;
  hardCap: boolean;
  /** The value the list is ordered by, for the next page's cursor. */
  sortKey: string;
};

export type TopCustomersQuery = {
  creatorId: string;
  meterId: string;
  /** Base quantity per unit of the meter (duration: seconds per unit; others 1). */
  unitFactor: string;
  period: 'current' | 'previous';
  now: Date;
  /** Lower-cased, LIKE-escaped prefix. */
  /** A LIKE prefix (wildcards escaped), matched case-insensitively: lower-cased here as the columns are. */
  searchPrefix: string | null;
  sort: TopSortKey;
  limit: number;
  after: { key: string; userId: string } | null;
};

/** Months are at most 31 days: a period containing `now` started less than 32 days ago. */
const MONTH_BOUND = sql`interval '32 days'`;

/**
 * The start of the customer's current billing period at `now`, as server/services/periods.ts
 * computes it (calendar months in UTC, or the anchor's day and time clamped to short months).
 */
function currentPeriodStart(now: string): SQL {
  const nowUtc = sql`(${now}::timestamptz at time zone 'UTC')`;
  const anchor = sql`(c.billing_anchor at time zone 'UTC')`;
  const anchored = (monthStart: SQL) =>
    sql`(${monthStart} + (least(extract(day from ${anchor})::int, extract(day from (${monthStart} + interval '1 month' - interval '1 day'))::int) - 1) * interval '1 day' + (${anchor} - date_trunc('day', ${anchor})))`;
  const thisMonth = sql`date_trunc('month', ${nowUtc})`;
  return sql`(case
    when c.billing_anchor is null then ${thisMonth}
    when ${anchored(thisMonth)} <= ${nowUtc} then ${anchored(thisMonth)}
    else ${anchored(sql`(${thisMonth} - interval '1 month')`)}
  end) at time zone 'UTC'`;
}

export async function listTopCustomers(tx: Queryable, q: TopCustomersQuery): Promise<{ rows: TopCustomerRow[]; total: number }> {
  const now = q.now.toISOString();
  // The period rows of the meter, one per customer: a range of usage_aggregates_meter_window_idx.
  const window =
    q.period === 'current'
      ? sql`a.window_start > ${now}::timestamptz - ${MONTH_BOUND} and a.window_start <= ${now}::timestamptz and a.window_end > ${now}::timestamptz
            and ${notSuperseded('a')}`
      : // The previous period ends at the current period's start or, after an anchor move, less than
        // the shortest period before it (the old anchor's last period: isPreviousPeriod,
        // server/services/periods.ts): it ends less than 32 + 28 days ago, so it started less than
        // three month bounds ago, and at least 28 days ago.
        sql`a.window_start > ${now}::timestamptz - 3 * ${MONTH_BOUND} and a.window_start <= ${now}::timestamptz - interval '28 days'
            and a.window_end <= ${now}::timestamptz and a.window_end <= ${currentPeriodStart(now)}
            and a.window_end > ${currentPeriodStart(now)} - interval '28 days' and ${notSuperseded('a')}`;
  // A closed period is judged by the plan and limit in force at its end (as getCustomerUsage does).
  const at = q.period === 'current' ? sql`${now}::timestamptz` : sql`(a.window_end - interval '1 millisecond')`;
  const planJoin =
    q.period === 'current'
      ? sql``
      : // Before the customer existed (usage back-dated within the late-event grace), the plan
        // it was created on, as ingest judged it (and as findPlanAt and the what-if do).
        sql`left join lateral (
          select pc.plan_name from customer_plan_changes pc
          where pc.creator_id = c.creator_id and pc.customer_id = c.customer_id
          order by pc.effective_from <= ${at} desc, case when pc.effective_from <= ${at} then pc.effective_from end desc, pc.effective_from asc
          limit 1
        ) pc on true`;
  const planName = q.period === 'current' ? sql`c.plan_name` : sql`pc.plan_name`;
  const search = q.searchPrefix
    ? sql`and (lower(c.user_id) like lower(${`${q.searchPrefix}%`}) or lower(c.email) like lower(${`${q.searchPrefix}%`}) or lower(c.name) like lower(${`${q.searchPrefix}%`}))`
    : sql``;
  // Divided at 40 decimals, as the revenue and overview queries divide (insights.ts unitFactorSql).
  const used = sql`(r.value / round(${q.unitFactor}::numeric, 40))`;
  const sortKey =
    q.sort === 'usage'
      ? sql`r.value`
      : q.sort === 'percent'
        ? // Unlimited customers last; a limit of 0 with usage is "infinitely" over.
          sql`case when r.limit_value is null then -1 when r.limit_value = 0 then (case when r.value > 0 then 1e30 else 0 end) else round(${used} / r.limit_value * 100, 6) end`
        : q.sort === 'overage'
          ? // Hard-capped plans bill no overage (overageTerms), whatever their usage.
            sql`case when r.limit_value is null or r.hard_cap then 0 else ${overageAmountSql(sql`greatest(${used} - r.limit_value, 0)`, sql`coalesce(r.overage_price, 0)`)} end`
          : sql`0`;
  const order = q.sort === 'user_id' ? sql`r.user_id asc` : sql`sort_key desc, r.user_id asc`;
  const keyset = !q.after
    ? sql``
    : q.sort === 'user_id'
      ? sql`where r.user_id > ${q.after.userId}`
      : sql`where (r.sort_key < ${q.after.key}::numeric or (r.sort_key = ${q.after.key}::numeric and r.user_id > ${q.after.userId}))`;
  const rows = await tx.execute<{
    customer_id: string;
    user_id: string;
    email: string | null;
    name: string | null;
    plan_name: string | null;
    window_start: string | Date;
    window_end: string | Date;
    value: string;
    event_count: string | number;
    limit_value: string | null;
    overage_price: string | null;
    soft_limit_threshold: string | null;
    hard_cap: boolean | null;
    sort_key: string;
    total: string | number;
  }>(sql`
    with lim as materialized (
      -- This meter's limit rows, all plans and their history: a handful, joined in memory.
      -- A closed period is judged at its end; for a meter created after it ended (late events
      -- within the grace), by the limits it was created with, as ingestion judged them.
      select l.plan_name, l.limit_value, l.overage_price, l.soft_limit_threshold, l.hard_cap, l.effective_from, l.effective_to, m.created_at as meter_created_at
      from meter_plan_limits l
      join usage_meters m on m.creator_id = l.creator_id and m.meter_id = l.meter_id
      where l.creator_id = ${q.creatorId} and l.meter_id = ${q.meterId}
    ),
    base as (
      select c.customer_id, c.user_id, c.email, c.name, ${planName} as plan_name, a.window_start, a.window_end, a.value, a.event_count,
             l.limit_value, l.overage_price, l.soft_limit_threshold, l.hard_cap
      from usage_aggregates a
      join customers c on c.creator_id = a.creator_id and c.customer_id = a.customer_id
      ${planJoin}
      -- Limit rows of one plan never overlap in time: at most one matches.
      left join lim l on l.plan_name = ${planName} and l.effective_from <= greatest(${at}, l.meter_created_at)
        and (l.effective_to is null or l.effective_to > greatest(${at}, l.meter_created_at))
      where a.creator_id = ${q.creatorId} and a.meter_id = ${q.meterId} and a.window = 'period' and ${window} ${search}
    ),
    keyed as (select r.*, (${sortKey})::numeric as sort_key from base r)
    select r.*, (select count(*) from keyed) as total
    from keyed r
    ${keyset}
    order by ${order}
    limit ${q.limit}`);
  const total = rows[0] ? Number(rows[0].total) : await countTop(tx, q, window, search);
  return {
    total,
    rows: rows.map((r) => ({
      customerId: r.customer_id,
      userId: r.user_id,
      email: r.email,
      name: r.name,
      planName: r.plan_name,
      periodStart: new Date(r.window_start),
      periodEnd: new Date(r.window_end),
      value: String(r.value),
      eventCount: Number(r.event_count),
      limitValue: r.limit_value,
      overagePrice: r.overage_price,
      softLimitThreshold: r.soft_limit_threshold,
      hardCap: Boolean(r.hard_cap),
      sortKey: String(r.sort_key),
    })),
  };
}

/** The total when the page is empty (past the last row): the same rows, counted. */
async function countTop(tx: Queryable, q: TopCustomersQuery, window: SQL, search: SQL): Promise<number> {
  const [row] = await tx.execute<{ total: string | number }>(sql`
    select count(*) as total
    from usage_aggregates a
    join customers c on c.creator_id = a.creator_id and c.customer_id = a.customer_id
    where a.creator_id = ${q.creatorId} and a.meter_id = ${q.meterId} and a.window = 'period' and ${window} ${search}`);
  return Number(row?.total ?? 0);
}

export type WindowTotal = { meterId: string; windowStart: Date; windowEnd: Date; value: string; eventCount: number };

/**
 * A customer's counters of one window kind since `since` (period rows for history, day
 * rollups for the current period), over the primary key (creator, meter, customer, window, start).
 */
export async function listCustomerWindows(
  tx: Queryable,
  q: { creatorId: string; customerId: string; meterIds: string[]; window: 'period' | 'day' | 'hour'; since: Date; until: Date },
): Promise<WindowTotal[]> {
  if (q.meterIds.length === 0) return [];
  const rows = await tx.execute<{ meter_id: string; window_start: string | Date; window_end: string | Date; value: string; event_count: string | number }>(sql`
    select a.meter_id, a.window_start, a.window_end, a.value, a.event_count
    from usage_aggregates a
    where a.creator_id = ${q.creatorId} and a.meter_id = any(${uuidArray(q.meterIds)}) and a.customer_id = ${q.customerId}
      and a.window = ${q.window} and a.window_start >= ${q.since.toISOString()}::timestamptz and a.window_start < ${q.until.toISOString()}::timestamptz
    order by a.meter_id, a.window_start desc`);
  return rows.map((r) => ({
    meterId: r.meter_id,
    windowStart: new Date(r.window_start),
    windowEnd: new Date(r.window_end),
    value: String(r.value),
    eventCount: Number(r.event_count),
  }));
}

/**
 * A customer's raw events in a short range (under an hour: the part of a period's first
 * hour before the rollups' hour windows line up; or the days a superseded period overlaps)
 * as one window per meter, or per meter × UTC day (`byDay`), measured by the rollups' own
 * rules, over the (creator, customer, occurred_at) index. With `periodStart`, only the
 * events metered in the period starting then (a period Stripe's moved anchor superseded
 * keeps its own events, which the day rollups hold beside the new period's).
 */
export async function measureCustomerEvents(
  tx: Queryable,
  q: { creatorId: string; customerId: string; meterIds: string[]; from: Date; to: Date; periodStart?: Date; byDay?: boolean },
  rules: RollupRules,
): Promise<Array<{ meterId: string; day: Date | null; value: string; eventCount: number }>> {
  if (q.meterIds.length === 0 || q.from >= q.to) return [];
  const day = q.byDay ? sql`date_trunc('day', e.occurred_at at time zone 'UTC') at time zone 'UTC'` : sql`null::timestamptz`;
  const period = q.periodStart ? sql`and e.period_start = ${q.periodStart.toISOString()}::timestamptz` : sql``;
  const rows = await tx.execute<{ meter_id: string; day: string | Date | null; value: string; event_count: number }>(sql`
    select meter_id, day, (${windowValueSql(rules)})::text as value, count(*)::int as event_count
    from (
      select e.meter_id, ${day} as day, e.value, e.new_distinct, m.aggregation_type
      from usage_events e
      join usage_meters m on m.creator_id = e.creator_id and m.meter_id = e.meter_id
      where e.creator_id = ${q.creatorId} and e.customer_id = ${q.customerId} and e.meter_id = any(${uuidArray(q.meterIds)})
        and e.occurred_at >= ${q.from.toISOString()}::timestamptz and e.occurred_at < ${q.to.toISOString()}::timestamptz ${period}
    ) ev
    group by meter_id, day, aggregation_type`);
  return rows.map((r) => ({ meterId: r.meter_id, day: r.day === null ? null : new Date(r.day), value: String(r.value), eventCount: Number(r.event_count) }));
}

export type RawEvent = {
  id: string;
  meterId: string;
  eventName: string;
  value: string;
  properties: Record<string, unknown>;
  idempotencyKey: string | null;
  newDistinct: boolean;
  occurredAt: Date;
  receivedAt: Date;
  /** occurred_at to the microsecond, for the cursor (a JS Date keeps milliseconds). */
  occurredAtExact: string;
};

export type EventsQuery = {
  creatorId: string;
  customerId: string;
  meterId: string | null;
  from: Date | null;
  to: Date | null;
  /** JSON objects any of which the properties must contain (`@>`). */
  containing: string[];
  limit: number;
  after: { occurredAt: string; eventId: string } | null;
};

/**
 * A customer's raw events, newest first, by keyset on (occurred_at desc, event_id desc):
 * usage_events_customer_time_idx, or usage_events_meter_customer_time_idx with a meter.
 * Never OFFSET: page N costs what page 1 does.
 */
export async function listCustomerEvents(tx: Queryable, q: EventsQuery): Promise<RawEvent[]> {
  const conditions: SQL[] = [sql`e.creator_id = ${q.creatorId}`, sql`e.customer_id = ${q.customerId}`];
  if (q.meterId) conditions.push(sql`e.meter_id = ${q.meterId}`);
  if (q.from) conditions.push(sql`e.occurred_at >= ${q.from.toISOString()}::timestamptz`);
  if (q.to) conditions.push(sql`e.occurred_at <= ${q.to.toISOString()}::timestamptz`);
  if (q.after) {
    conditions.push(sql`e.occurred_at <= ${q.after.occurredAt}::timestamptz`);
    conditions.push(sql`(e.occurred_at < ${q.after.occurredAt}::timestamptz or e.event_id < ${q.after.eventId}::uuid)`);
  }
  if (q.containing.length > 0) conditions.push(sql`(${sql.join(q.containing.map((json) => sql`e.properties @> ${json}::jsonb`), sql` or `)})`);
  const rows = await tx.execute<{
    event_id: string;
    meter_id: string;
    event_name: string;
    value: string;
    properties: Record<string, unknown>;
    idempotency_key: string | null;
    new_distinct: boolean;
    occurred_at: string | Date;
    received_at: string | Date;
    exact: string;
  }>(sql`
    select e.event_id, e.meter_id, e.event_name, e.value, e.properties, e.idempotency_key, e.new_distinct, e.occurred_at, e.received_at,
           to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as exact
    from usage_events e
    where ${sql.join(conditions, sql` and `)}
    order by e.occurred_at desc, e.event_id desc
    limit ${q.limit}`);
  return rows.map((r) => ({
    id: r.event_id,
    meterId: r.meter_id,
    eventName: r.event_name,
    value: String(r.value),
    properties: r.properties,
    idempotencyKey: r.idempotency_key,
    newDistinct: r.new_distinct,
    occurredAt: new Date(r.occurred_at),
    receivedAt: new Date(r.received_at),
    occurredAtExact: r.exact,
  }));
}

/** Bounds this transaction's statements: a property search over a heavy customer's history stops instead of running on. */
export async function boundEventSearch(tx: Queryable, timeoutMs: number): Promise<void> {
  await tx.execute(sql`select set_config('statement_timeout', ${String(timeoutMs)}, true)`);
}
