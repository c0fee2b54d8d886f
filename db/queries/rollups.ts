import { sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { AGGREGATION_TYPES, type AggregationType } from '../schema.js';
import { ts, uuidArray } from './params.js';

/**
 * Hourly and daily rollups (usage_aggregates windows 'hour' | 'day', and
 * usage_dimension_aggregates), written set-based: one INSERT … SELECT … GROUP BY … ON
 * CONFLICT DO UPDATE per table, whatever the number of events. The same statements serve
 * the incremental path (one committed group's events) and the rebuild (a range of raw
 * events), so the two cannot drift apart.
 */

/** What each event contributes to a rollup window, and how two contributions combine. */
export type RollupRule = { measure: 'events' | 'value' | 'new_distinct'; combine: 'add' | 'max' };
export type RollupRules = {
  aggregations: Record<AggregationType, RollupRule>;
  /**
   * Dimension value of an event whose property is missing, null, an array or an object. A
   * string property whose text is this value followed by none or more U+0001 is stored with
   * one U+0001 more (a real "(none)" as "(none)\u0001"), so the two never share a row;
   * decodeDimensionValue (server/services/rollups.ts) reads them back.
   */
  dimensionNone: string;
  /** Longer string values are cut (they are index keys: btree rows have a size limit). */
  dimensionMaxLength: number;
};

/** pg-boss's job table and the queue whose jobs carry `{creatorId, eventIds}` payloads. */
export type PendingJobs = { schema: string; queue: string };

/**
 * Which events a rollup statement reads. `batch`: one committed group (its ids, and the
 * occurred_at bounds that prune partitions). `range`: raw events in [from, to), minus
 * those of rollup jobs not applied yet — they will add themselves when they run.
 */
export type RollupEventSource =
  | { kind: 'batch'; eventIds: string[]; from: Date; to: Date }
  | { kind: 'range'; from: Date; to: Date; pending: PendingJobs };

const typeLiteral = (type: AggregationType) => sql.raw(`'${type}'`);

/** One rule's aggregate over a group of events (columns value, new_distinct). */
function measureSql(rule: RollupRule): SQL {
  if (rule.measure === 'events' && rule.combine === 'add') return sql`count(*)::numeric`;
  if (rule.measure === 'value' && rule.combine === 'add') return sql`sum(value)`;
  if (rule.measure === 'value' && rule.combine === 'max') return sql`max(value)`;
  if (rule.measure === 'new_distinct' && rule.combine === 'add') return sql`(count(*) filter (where new_distinct))::numeric`;
  throw new Error(`Unsupported rollup rule ${JSON.stringify(rule)}`);
}

/** The window value of a group of events (columns aggregation_type, value, new_distinct), by the group's aggregation_type. */
export const windowValueSql = (rules: RollupRules) =>
  sql`case aggregation_type ${sql.join(
    AGGREGATION_TYPES.map((type) => sql`when ${typeLiteral(type)} then ${measureSql(rules.aggregations[type])}`),
    sql` `,
  )} end`;

const maxTypes = (rules: RollupRules) => AGGREGATION_TYPES.filter((type) => rules.aggregations[type].combine === 'max');

/** ON CONFLICT: an existing window absorbs the new contribution (max meters keep the larger). */
function combineSql(rules: RollupRules, creatorId: string): SQL {
  const types = maxTypes(rules);
  const isMax =
    types.length === 0
      ? sql`false`
      : sql`a.meter_id in (select meter_id from usage_meters where creator_id = ${creatorId} and aggregation_type in (${sql.join(types.map(typeLiteral), sql`, `)}))`;
  return sql`case when ${isMax} then greatest(a.value, excluded.value) else a.value + excluded.value end`;
}

/** Ids of events in rollup jobs that are waiting, retrying or running and not applied yet. */
/**
 * A creator's rollups.apply jobs not applied yet: waiting (by singleton key, which ingestion
 * sets to the creator and pg-boss indexes for queued jobs) or running (few), not in
 * rollup_batches. Not by the payload's creator: that read every creator's pending jobs.
 */
function pendingJobsSql(creatorId: string, pending: PendingJobs, columns: SQL): SQL {
  const job = sql`${sql.identifier(pending.schema)}.job`;
  const applied = sql`exists (select 1 from rollup_batches b where b.creator_id = ${creatorId} and b.batch_id = j.id::text)`;
  return sql`
    select ${columns} from ${job} j
    where j.name = ${pending.queue} and j.state < 'active' and j.singleton_key = ${creatorId} and not ${applied}
    union all
    select ${columns} from ${job} j
    where j.name = ${pending.queue} and j.state = 'active' and j.singleton_key = ${creatorId} and not ${applied}`;
}

/** The statement of findOldestPendingRollup (also for EXPLAIN in tests). */
export const oldestPendingRollupQuery = (creatorId: string, pending: PendingJobs): SQL =>
  sql`select min(p.created_on) as since from (${pendingJobsSql(creatorId, pending, sql`j.created_on`)}) p`;

function pendingEventIdsSql(creatorId: string, pending: PendingJobs): SQL {
  return pendingJobsSql(creatorId, pending, sql`(jsonb_array_elements_text(j.data -> 'eventIds'))::uuid as event_id`);
}

/** CTEs `ev` (the source's events with their meter's type and dimensions) and `w` (× hour and day windows). */
function eventWindowsSql(creatorId: string, source: RollupEventSource): SQL {
  const filter =
    source.kind === 'batch'
      ? sql`e.event_id = any(${uuidArray(source.eventIds)}) and e.occurred_at >= ${ts(source.from)} and e.occurred_at <= ${ts(source.to)}`
      : sql`e.occurred_at >= ${ts(source.from)} and e.occurred_at < ${ts(source.to)}
          and not exists (select 1 from pending p where p.event_id = e.event_id)`;
  const pending = source.kind === 'range' ? sql`pending as (${pendingEventIdsSql(creatorId, source.pending)}),` : sql``;
  return sql`
    with ${pending}
    ev as (
      select e.meter_id, e.customer_id, e.occurred_at, e.value, e.new_distinct, e.properties, m.aggregation_type, m.rollup_dimensions
      from usage_events e
      join usage_meters m on m.creator_id = e.creator_id and m.meter_id = e.meter_id
      where e.creator_id = ${creatorId} and ${filter}
    ),
    w as (
      select ev.*, g.win, g.win_start, g.win_start + g.span as win_end
      from ev cross join lateral (values
        ('hour'::aggregate_window, date_trunc('hour', ev.occurred_at, 'UTC'), interval '1 hour'),
        ('day'::aggregate_window, date_trunc('day', ev.occurred_at, 'UTC'), interval '1 day')
      ) as g(win, win_start, span)
    )`;
}

export type RollupWriteCounts = { hourRows: number; dayRows: number; dimensionRows: number; meterRows: number };

/**
 * Adds the source's events to the hour and day windows of usage_aggregates and of
 * usage_dimension_aggregates. Rows are written in key order, so concurrent writers lock
 * them in the same order and never deadlock.
 */
export async function addEventsToRollups(tx: Queryable, creatorId: string, source: RollupEventSource, rules: RollupRules, at: Date): Promise<RollupWriteCounts> {
  const value = windowValueSql(rules);
  const windows = await tx.execute<{ events: number; hour_rows: number; day_rows: number }>(sql`
    ${eventWindowsSql(creatorId, source)},
    ins as (
      insert into usage_aggregates as a (creator_id, meter_id, customer_id, "window", window_start, window_end, value, event_count, updated_at)
      select ${creatorId}::uuid, meter_id, customer_id, win, win_start, win_end, ${value}, count(*), ${ts(at)}
      from w
      group by meter_id, customer_id, aggregation_type, win, win_start, win_end
      order by meter_id, customer_id, win, win_start
      on conflict (creator_id, meter_id, customer_id, "window", window_start) do update set
        value = ${combineSql(rules, creatorId)},
        event_count = a.event_count + excluded.event_count,
        updated_at = excluded.updated_at
      returning "window"
    )
    select (select count(*)::int from ev) as events,
      (select count(*)::int from ins where "window" = 'hour') as hour_rows,
      (select count(*)::int from ins where "window" = 'day') as day_rows`);
  assertAllEventsSeen(source, windows[0]?.events);
  const dimensionValue = dimensionValueSql(rules, sql`w`);
  const [dimensions] = await tx.execute<{ n: number; events: number }>(sql`
    ${eventWindowsSql(creatorId, source)},
    dv as (
      select w.*, d.dimension, ${dimensionValue} as dimension_value
      from w cross join lateral unnest(w.rollup_dimensions) as d(dimension)
    ),
    ins as (
      insert into usage_dimension_aggregates as a (creator_id, meter_id, customer_id, "window", window_start, dimension, dimension_value, value, event_count, updated_at)
      select ${creatorId}::uuid, meter_id, customer_id, win, win_start, dimension, dimension_value, ${value}, count(*), ${ts(at)}
      from dv
      group by meter_id, customer_id, aggregation_type, win, win_start, dimension, dimension_value
      order by meter_id, customer_id, win, win_start, dimension, dimension_value
      on conflict (creator_id, meter_id, customer_id, "window", window_start, dimension, dimension_value) do update set
        value = ${combineSql(rules, creatorId)},
        event_count = a.event_count + excluded.event_count,
        updated_at = excluded.updated_at
      returning 1
    )
    select count(*)::int as n, (select count(*)::int from ev) as events from ins`);
  assertAllEventsSeen(source, dimensions?.events);
  const meterRows = await addEventsToMeterRollups(tx, creatorId, source, rules, at);
  return {
    meterRows,
    hourRows: Number(windows[0]?.hour_rows ?? 0),
    dayRows: Number(windows[0]?.day_rows ?? 0),
    dimensionRows: Number(dimensions?.n ?? 0),
  };
}

/** A statement of a batch's rollups saw fewer of its events than the batch holds: see assertAllEventsSeen. */
export class RollupEventsUnseen extends Error {}

/**
 * The plan a customer was on at `at`, as the charts file usage under it (ADR 0011): the latest
 * plan change at or before it; for a time older than the first change, the first; without
 * any change, the customer's plan. Joins giving `PLAN_AT`: the customer by its primary key
 * and each change by the (customer, effective_from) index — one probe each per row, which no
 * row estimate can turn into a scan (as a plain join, a batch estimated at one row became a
 * scan of all the creator's customers per event: 10,000 customers, 126 of 141 ms for 1,000 events).
 */
export const planAtJoins = (creatorId: string, customerId: SQL, at: SQL) => sql`
  cross join lateral (
    select c.plan_name from customers c
    where c.creator_id = ${creatorId} and c.customer_id = ${customerId}
    limit 1
  ) cu
  left join lateral (
    select pc.plan_name, true as found from customer_plan_changes pc
    where pc.creator_id = ${creatorId} and pc.customer_id = ${customerId} and pc.effective_from <= ${at}
    order by pc.effective_from desc limit 1
  ) p on true
  left join lateral (
    select pc.plan_name, true as found from customer_plan_changes pc
    where p.found is null and pc.creator_id = ${creatorId} and pc.customer_id = ${customerId}
    order by pc.effective_from asc limit 1
  ) f on true`;
export const PLAN_AT = sql`coalesce(case when p.found then p.plan_name when f.found then f.plan_name else cu.plan_name end, '')`;

/**
 * Every event of a batch exists (it committed with its job), so each rollup statement must
 * see all of them. One planned while a new month's partition was being attached (its early rows
 * moved out of the default partition) can see none of them: committed behind the batch's claim,
 * they would never be counted. Such a statement fails the transaction instead (claim and all),
 * and the job is retried.
 */
function assertAllEventsSeen(source: RollupEventSource, seen: number | undefined): void {
  if (source.kind !== 'batch') return;
  const expected = new Set(source.eventIds).size;
  if (Number(seen ?? 0) !== expected) throw new RollupEventsUnseen(`a rollup statement saw ${Number(seen ?? 0)} of the batch's ${expected} events; retried`);
}

/** A regular expression of the strings stored escaped: the "none" value then any number of U+0001. */
const dimensionNoneLookalike = (rules: Pick<RollupRules, 'dimensionNone'>) => `^${rules.dimensionNone.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}\u0001*$`;

/** A rollup dimension's value in an event's properties (`alias`.properties, CTE alias `d` for the dimension); the seed's rollups use it too. */
export const dimensionValueSql = (rules: Pick<RollupRules, 'dimensionNone' | 'dimensionMaxLength'>, alias: SQL) => sql`case jsonb_typeof(${alias}.properties -> d.dimension)
      when 'string' then case when left(${alias}.properties ->> d.dimension, ${rules.dimensionMaxLength}::int) ~ ${dimensionNoneLookalike(rules)}
        then left(${alias}.properties ->> d.dimension, ${rules.dimensionMaxLength}::int) || chr(1)
        else left(${alias}.properties ->> d.dimension, ${rules.dimensionMaxLength}::int) end
      when 'number' then (${alias}.properties -> d.dimension)::text
      when 'boolean' then (${alias}.properties -> d.dimension)::text
      else ${rules.dimensionNone}::text end`;

/**
 * Adds the source's events to usage_meter_rollups: per meter × minute/hour/day × the plan
 * the customer was on when the event occurred (dimension ''), and per meter × hour/day ×
 * rollup dimension value. The plan comes from customer_plan_changes as findPlanAt reads it
 * (the latest change at or before the event; for an event older than the customer's first
 * change, that first plan), so a late event, a job applied after a plan change and a
 * rebuild all file an event under the same plan.
 */
async function addEventsToMeterRollups(tx: Queryable, creatorId: string, source: RollupEventSource, rules: RollupRules, at: Date): Promise<number> {
  const [row] = await tx.execute<{ n: number; events: number }>(sql`
    ${eventWindowsSql(creatorId, source)},
    mw as (
      -- The plan at the event's time: one index probe per event (the latest change at or
      -- before it; for an event older than the first change, the first), which no row
      -- estimate of the batch can turn into a scan.
      select ev.meter_id, ev.aggregation_type, ev.value, ev.new_distinct, ev.properties, ev.rollup_dimensions,
        ${PLAN_AT} as plan_name, g.grain, g.win_start
      from ev
      ${planAtJoins(creatorId, sql`ev.customer_id`, sql`ev.occurred_at`)}
      cross join lateral (values
        ('minute', date_trunc('minute', ev.occurred_at, 'UTC')),
        ('hour', date_trunc('hour', ev.occurred_at, 'UTC')),
        ('day', date_trunc('day', ev.occurred_at, 'UTC'))
      ) as g(grain, win_start)
    ),
    src as (
      select meter_id, aggregation_type, value, new_distinct, grain, win_start, ''::text as dimension, plan_name as dimension_value from mw
      union all
      select mw.meter_id, mw.aggregation_type, mw.value, mw.new_distinct, mw.grain, mw.win_start, d.dimension, ${dimensionValueSql(rules, sql`mw`)}
      from mw cross join lateral unnest(mw.rollup_dimensions) as d(dimension)
      where mw.grain <> 'minute'
    ),
    ins as (
      insert into usage_meter_rollups as a (creator_id, meter_id, grain, window_start, dimension, dimension_value, value, event_count, updated_at)
      select ${creatorId}::uuid, meter_id, grain, win_start, dimension, dimension_value, ${windowValueSql(rules)}, count(*), ${ts(at)}
      from src
      group by meter_id, aggregation_type, grain, win_start, dimension, dimension_value
      order by grain, win_start, meter_id, dimension, dimension_value
      on conflict (creator_id, grain, window_start, meter_id, dimension, dimension_value) do update set
        value = ${combineSql(rules, creatorId)},
        event_count = a.event_count + excluded.event_count,
        updated_at = excluded.updated_at
      returning 1
    )
    select count(*)::int as n, (select count(*)::int from ev) as events from ins`);
  assertAllEventsSeen(source, row?.events);
  return Number(row?.n ?? 0);
}

/** Minute rollups are for the live overview: older than `before` they are dropped. */
export async function pruneMinuteRollups(tx: Queryable, creatorId: string, before: Date): Promise<void> {
  await tx.execute(sql`delete from usage_meter_rollups where creator_id = ${creatorId} and grain = 'minute' and window_start < ${ts(before)}`);
}

/** The creator's meter rollup rows (every grain) whose window starts in [from, to). */
export async function countMeterRollups(tx: Queryable, creatorId: string, from: Date, to: Date): Promise<number> {
  const [row] = await tx.execute<{ n: number }>(sql`
    select count(*)::int as n from usage_meter_rollups where creator_id = ${creatorId} and window_start >= ${ts(from)} and window_start < ${ts(to)}`);
  return Number(row?.n ?? 0);
}

/**
 * When the creator's oldest rollup job not applied yet (waiting, retrying or running, and not
 * in rollup_batches) was created — its events are in the counters, not yet in the rollups —
 * or null when there is none.
 */
export async function findOldestPendingRollup(tx: Queryable, creatorId: string, pending: PendingJobs): Promise<Date | null> {
  const [row] = await tx.execute<{ since: string | Date | null }>(oldestPendingRollupQuery(creatorId, pending));
  return row?.since ? new Date(row.since) : null;
}

/** Records rollup batches (their pg-boss job ids) as applied; returns those that were not yet (a job delivered again is not). */
export async function claimRollupBatches(tx: Queryable, creatorId: string, batchIds: string[], at: Date): Promise<Set<string>> {
  if (batchIds.length === 0) return new Set();
  const rows = await tx.execute<{ batch_id: string }>(sql`
    insert into rollup_batches (creator_id, batch_id, applied_at)
    select distinct ${creatorId}::uuid, b.job_id::text, ${ts(at)} from unnest(${uuidArray(batchIds)}) as b(job_id)
    order by 2
    on conflict do nothing
    returning batch_id`);
  return new Set(rows.map((r) => r.batch_id));
}

/**
 * Deletes, across creators (owner connection), up to `limit` of the oldest rollup_batches
 * rows applied before `before` whose pg-boss job is no longer waiting, retrying or running:
 * only such a job could be delivered again, and only its row tells a redelivery apart.
 */
export async function deleteAppliedRollupBatches(db: Queryable, before: Date, pending: PendingJobs, limit: number): Promise<number> {
  const [row] = await db.execute<{ n: number }>(sql`
    with old as (
      select b.creator_id, b.batch_id from rollup_batches b
      where b.applied_at < ${ts(before)}
        and not exists (
          select 1 from ${sql.identifier(pending.schema)}.job j
          where j.name = ${pending.queue} and j.state in ('created', 'retry', 'active') and j.id::text = b.batch_id)
      order by b.applied_at
      limit ${limit}
    ),
    gone as (
      delete from rollup_batches r using old
      where r.creator_id = old.creator_id and r.batch_id = old.batch_id
      returning 1
    )
    select count(*)::int as n from gone`);
  return Number(row?.n ?? 0);
}

/**
 * A creator's rollup lock, for this transaction: batches take it shared (they run side by
 * side), a rebuild exclusive, so no batch commits between its delete and its rewrite.
 */
export async function lockRollups(tx: Queryable, creatorId: string, mode: 'shared' | 'exclusive'): Promise<void> {
  const fn = mode === 'shared' ? sql`pg_advisory_xact_lock_shared` : sql`pg_advisory_xact_lock`;
  await tx.execute(sql`select ${fn}(hashtext('rollups'), hashtext(${creatorId}))`);
}

/** Deletes the hour and day windows (and their dimension rows) starting in [from, to). */
export async function deleteRollupWindows(tx: Queryable, creatorId: string, from: Date, to: Date): Promise<void> {
  for (const table of [sql`usage_aggregates`, sql`usage_dimension_aggregates`]) {
    await tx.execute(sql`
      delete from ${table}
      where creator_id = ${creatorId} and "window" in ('hour', 'day')
        and window_start >= ${ts(from)} and window_start < ${ts(to)}`);
  }
  await tx.execute(sql`
    delete from usage_meter_rollups
    where creator_id = ${creatorId} and window_start >= ${ts(from)} and window_start < ${ts(to)}`);
}

/** First and last instant with raw events or hour/day rollups (null when there are none). */
export async function findRollupExtent(tx: Queryable, creatorId: string): Promise<{ first: Date | null; last: Date | null }> {
  const [row] = await tx.execute<{ first: string | Date | null; last: string | Date | null }>(sql`
    select least(
        (select min(occurred_at) from usage_events where creator_id = ${creatorId}),
        (select min(window_start) from usage_aggregates where creator_id = ${creatorId} and "window" in ('hour', 'day')),
        (select min(window_start) from usage_dimension_aggregates where creator_id = ${creatorId})) as first,
      greatest(
        (select max(occurred_at) from usage_events where creator_id = ${creatorId}),
        (select max(window_start) from usage_aggregates where creator_id = ${creatorId} and "window" in ('hour', 'day')),
        (select max(window_start) from usage_dimension_aggregates where creator_id = ${creatorId})) as last`);
  return { first: row?.first ? new Date(row.first) : null, last: row?.last ? new Date(row.last) : null };
}

// ---------------------------------------------------------------------------------------
// Consistency: each query returns only the windows that disagree.

export type ConsistencyKind = 'period_vs_events' | 'hours_vs_period' | 'hours_vs_events' | 'day_vs_hours' | 'meter_rollups_vs_events';

export type ConsistencyRow = {
  kind: ConsistencyKind;
  meterId: string;
  /** Null for a meter's rollup of all its customers (meter_rollups_vs_events). */
  customerId: string | null;
  aggregationType: AggregationType;
  windowStart: Date;
  windowEnd: Date;
  /** The stored figure under test; null when its row is missing. */
  actual: { value: string; eventCount: number } | null;
  /** What its source says it should be. */
  expected: { value: string; eventCount: number };
};

type RawRow = {
  meter_id: string;
  customer_id: string | null;
  aggregation_type: AggregationType;
  window_start: string | Date;
  window_end: string | Date;
  actual_value: string | null;
  actual_count: string | number | null;
  expected_value: string;
  expected_count: string | number;
};

const toConsistencyRows = (kind: ConsistencyKind, rows: Iterable<RawRow>): ConsistencyRow[] =>
  [...rows].map((r) => ({
    kind,
    meterId: r.meter_id,
    customerId: r.customer_id,
    aggregationType: r.aggregation_type,
    windowStart: new Date(r.window_start),
    windowEnd: new Date(r.window_end),
    actual: r.actual_value === null ? null : { value: String(r.actual_value), eventCount: Number(r.actual_count) },
    expected: { value: String(r.expected_value), eventCount: Number(r.expected_count) },
  }));

/** By rule: the expected figure from grouped events (columns n, s, mx, nd, and d = distinct values). */
const fromEventsSql = (rules: RollupRules, distinct: 'flags' | 'values') =>
  sql`case m.aggregation_type ${sql.join(
    AGGREGATION_TYPES.map((type) => {
      const rule = rules.aggregations[type];
      const column =
        rule.measure === 'events' ? sql`x.n` : rule.measure === 'new_distinct' ? (distinct === 'values' ? sql`x.d` : sql`x.nd`) : rule.combine === 'max' ? sql`x.mx` : sql`x.s`;
      return sql`when ${typeLiteral(type)} then coalesce(${column}, 0)`;
    }),
    sql` `,
  )} end`;

/** The earliest start of the period counters the check covers (window_end > since). */
export async function findEarliestPeriodStart(tx: Queryable, creatorId: string, since: Date): Promise<Date | null> {
  const [row] = await tx.execute<{ first: string | Date | null }>(sql`
    select min(window_start) as first from usage_aggregates
    where creator_id = ${creatorId} and "window" = 'period' and window_end > ${ts(since)}`);
  return row?.first ? new Date(row.first) : null;
}

/**
 * Period counters (window_end > since) against their raw events: count, Σ value, max,
 * distinct values of unique_property (as ingest keys them: the property's JSON, else the
 * value). Events of a period with no counter are reported when any is at or after since.
 */
export async function findPeriodEventDisagreements(tx: Queryable, creatorId: string, since: Date, eventsFrom: Date, rules: RollupRules): Promise<ConsistencyRow[]> {
  const rows = await tx.execute<RawRow>(sql`
    with p as (
      select meter_id, customer_id, window_start, window_end, value, event_count
      from usage_aggregates
      where creator_id = ${creatorId} and "window" = 'period' and window_end > ${ts(since)}
    ),
    x as (
      select e.meter_id, e.customer_id, e.period_start,
        count(*) as n, sum(e.value) as s, max(e.value) as mx, count(*) filter (where e.new_distinct) as nd,
        count(distinct case
          when m.unique_property is null then 'v:' || e.value::text
          when coalesce(jsonb_typeof(e.properties -> m.unique_property), 'null') = 'null' then null
          else 'p:' || (e.properties -> m.unique_property)::text end) as d,
        max(e.occurred_at) as last_at
      from usage_events e
      join usage_meters m on m.creator_id = e.creator_id and m.meter_id = e.meter_id
      where e.creator_id = ${creatorId} and e.occurred_at >= ${ts(eventsFrom)}
      group by 1, 2, 3
    ),
    j as (
      select coalesce(p.meter_id, x.meter_id) as meter_id, coalesce(p.customer_id, x.customer_id) as customer_id,
        coalesce(p.window_start, x.period_start) as window_start, coalesce(p.window_end, x.last_at) as window_end,
        p.value as actual_value, p.event_count as actual_count, x.n, x.s, x.mx, x.nd, x.d, x.last_at
      from p full join x on x.meter_id = p.meter_id and x.customer_id = p.customer_id and x.period_start = p.window_start
    )
    select x.meter_id, x.customer_id, m.aggregation_type, x.window_start, x.window_end,
      x.actual_value, x.actual_count, ${fromEventsSql(rules, 'values')} as expected_value, coalesce(x.n, 0) as expected_count
    from j x
    join usage_meters m on m.creator_id = ${creatorId} and m.meter_id = x.meter_id
    where (x.actual_value is not null or x.last_at >= ${ts(since)})
      and (x.actual_value is distinct from ${fromEventsSql(rules, 'values')} or x.actual_count is distinct from coalesce(x.n, 0))
    order by x.meter_id, x.customer_id, x.window_start`);
  return toConsistencyRows('period_vs_events', rows);
}

/**
 * Period counters (window_end > since) against their hour rollups. An hour that a
 * period boundary cuts (anchored periods start at any minute) holds events of two
 * periods, so such hours are replaced by the period's own raw events in them; events of
 * rollup jobs not applied yet are added from the raw events too. What remains is exact:
 * no lag, no time heuristic.
 */
export async function findHourPeriodDisagreements(
  tx: Queryable,
  creatorId: string,
  since: Date,
  eventsFrom: Date,
  rules: RollupRules,
  pending: PendingJobs,
): Promise<ConsistencyRow[]> {
  const hourSide = sql`case m.aggregation_type ${sql.join(
    AGGREGATION_TYPES.map((type) => {
      const rule = rules.aggregations[type];
      const extra = rule.measure === 'events' ? sql`x.n` : rule.measure === 'new_distinct' ? sql`x.nd` : rule.combine === 'max' ? sql`x.mx` : sql`x.s`;
      return rule.combine === 'max'
        ? sql`when ${typeLiteral(type)} then greatest(coalesce(h.mx, 0), coalesce(${extra}, 0))`
        : sql`when ${typeLiteral(type)} then coalesce(h.s, 0) + coalesce(${extra}, 0)`;
    }),
    sql` `,
  )} end`;
  const rows = await tx.execute<RawRow>(sql`
    with pending as (${pendingEventIdsSql(creatorId, pending)}),
    p as (
      select meter_id, customer_id, window_start, window_end, value, event_count
      from usage_aggregates
      where creator_id = ${creatorId} and "window" = 'period' and window_end > ${ts(since)}
    ),
    h as (
      select p.meter_id, p.customer_id, p.window_start, sum(r.value) as s, max(r.value) as mx, sum(r.event_count) as n
      from p
      join usage_aggregates r on r.creator_id = ${creatorId} and r.meter_id = p.meter_id and r.customer_id = p.customer_id
        and r."window" = 'hour' and r.window_start >= p.window_start and r.window_start + interval '1 hour' <= p.window_end
      group by 1, 2, 3
    ),
    x as (
      select p.meter_id, p.customer_id, p.window_start,
        count(*) as n, sum(e.value) as s, max(e.value) as mx, count(*) filter (where e.new_distinct) as nd
      from p
      join usage_events e on e.creator_id = ${creatorId} and e.meter_id = p.meter_id and e.customer_id = p.customer_id
        and e.period_start = p.window_start and e.occurred_at >= ${ts(eventsFrom)}
      where date_trunc('hour', e.occurred_at, 'UTC') < p.window_start
        or date_trunc('hour', e.occurred_at, 'UTC') + interval '1 hour' > p.window_end
        or exists (select 1 from pending q where q.event_id = e.event_id)
      group by 1, 2, 3
    )
    select p.meter_id, p.customer_id, m.aggregation_type, p.window_start, p.window_end,
      ${hourSide} as actual_value, coalesce(h.n, 0) + coalesce(x.n, 0) as actual_count,
      p.value as expected_value, p.event_count as expected_count
    from p
    join usage_meters m on m.creator_id = ${creatorId} and m.meter_id = p.meter_id
    left join h on h.meter_id = p.meter_id and h.customer_id = p.customer_id and h.window_start = p.window_start
    left join x on x.meter_id = p.meter_id and x.customer_id = p.customer_id and x.window_start = p.window_start
    where ${hourSide} is distinct from p.value or coalesce(h.n, 0) + coalesce(x.n, 0) is distinct from p.event_count
    order by p.meter_id, p.customer_id, p.window_start`);
  return toConsistencyRows('hours_vs_period', rows);
}

/** Day rollups (from since's day on) against their hours: both are written in one transaction, so they agree at any instant. */
export async function findDayHourDisagreements(tx: Queryable, creatorId: string, since: Date, rules: RollupRules): Promise<ConsistencyRow[]> {
  const fromHours = sql`case m.aggregation_type ${sql.join(
    AGGREGATION_TYPES.map((type) =>
      rules.aggregations[type].combine === 'max' ? sql`when ${typeLiteral(type)} then coalesce(h.mx, 0)` : sql`when ${typeLiteral(type)} then coalesce(h.s, 0)`,
    ),
    sql` `,
  )} end`;
  const rows = await tx.execute<RawRow>(sql`
    with h as (
      select meter_id, customer_id, date_trunc('day', window_start, 'UTC') as day, sum(value) as s, max(value) as mx, sum(event_count) as n
      from usage_aggregates
      where creator_id = ${creatorId} and "window" = 'hour' and window_start >= date_trunc('day', ${ts(since)}, 'UTC')
      group by 1, 2, 3
    ),
    d as (
      select meter_id, customer_id, window_start as day, window_end, value, event_count
      from usage_aggregates
      where creator_id = ${creatorId} and "window" = 'day' and window_start >= date_trunc('day', ${ts(since)}, 'UTC')
    ),
    j as (
      select coalesce(d.meter_id, h.meter_id) as meter_id, coalesce(d.customer_id, h.customer_id) as customer_id,
        coalesce(d.day, h.day) as window_start, coalesce(d.day, h.day) + interval '1 day' as window_end,
        d.value as actual_value, d.event_count as actual_count, h.s, h.mx, h.n
      from d full join h on h.meter_id = d.meter_id and h.customer_id = d.customer_id and h.day = d.day
    )
    select h.meter_id, h.customer_id, m.aggregation_type, h.window_start, h.window_end,
      h.actual_value, h.actual_count, ${fromHours} as expected_value, coalesce(h.n, 0) as expected_count
    from j h
    join usage_meters m on m.creator_id = ${creatorId} and m.meter_id = h.meter_id
    where h.actual_value is distinct from ${fromHours} or h.actual_count is distinct from coalesce(h.n, 0)
    order by h.meter_id, h.customer_id, h.window_start`);
  return toConsistencyRows('day_vs_hours', rows);
}

/**
 * CTEs `pending` and `name`: the raw events from since's day on, per meter (and customer, with
 * `byCustomer` = `e.customer_id,`) × UTC hour (window_start), measured every way a rule may ask
 * (n, s, mx, nd); events of rollup jobs not applied yet are left out (their jobs add them).
 */
const eventHoursSql = (creatorId: string, since: Date, pending: PendingJobs, name: string, byCustomer: SQL) => sql`
    pending as (${pendingEventIdsSql(creatorId, pending)}),
    ${sql.raw(name)} as (
      select e.meter_id, ${byCustomer} date_trunc('hour', e.occurred_at, 'UTC') as window_start,
        count(*) as n, sum(e.value) as s, max(e.value) as mx, count(*) filter (where e.new_distinct) as nd
      from usage_events e
      where e.creator_id = ${creatorId} and e.occurred_at >= date_trunc('day', ${ts(since)}, 'UTC')
        and not exists (select 1 from pending q where q.event_id = e.event_id)
      group by e.meter_id, ${byCustomer} date_trunc('hour', e.occurred_at, 'UTC')
    )`;

/**
 * Each customer's hour windows (from since's day on) against the raw events in them, pending
 * jobs' events left out. The hours of a period agreeing with its counter in sum does not put
 * each event in its hour (usage filed under the wrong day of the right period passed); days
 * are checked against their hours (findDayHourDisagreements).
 */
export async function findHourEventDisagreements(tx: Queryable, creatorId: string, since: Date, rules: RollupRules, pending: PendingJobs): Promise<ConsistencyRow[]> {
  const rows = await tx.execute<RawRow>(sql`
    with ${eventHoursSql(creatorId, since, pending, 'x', sql`e.customer_id,`)},
    h as (
      select meter_id, customer_id, window_start, value, event_count
      from usage_aggregates
      where creator_id = ${creatorId} and "window" = 'hour' and window_start >= date_trunc('day', ${ts(since)}, 'UTC')
    ),
    j as (
      select coalesce(h.meter_id, x.meter_id) as meter_id, coalesce(h.customer_id, x.customer_id) as customer_id,
        coalesce(h.window_start, x.window_start) as window_start, h.value as actual_value, h.event_count as actual_count, x.n, x.s, x.mx, x.nd
      from h full join x on x.meter_id = h.meter_id and x.customer_id = h.customer_id and x.window_start = h.window_start
    )
    select x.meter_id, x.customer_id, m.aggregation_type, x.window_start, x.window_start + interval '1 hour' as window_end,
      x.actual_value, x.actual_count, ${fromEventsSql(rules, 'flags')} as expected_value, coalesce(x.n, 0) as expected_count
    from j x
    join usage_meters m on m.creator_id = ${creatorId} and m.meter_id = x.meter_id
    where x.actual_value is distinct from ${fromEventsSql(rules, 'flags')} or x.actual_count is distinct from coalesce(x.n, 0)
    order by x.meter_id, x.customer_id, x.window_start`);
  return toConsistencyRows('hours_vs_events', rows);
}

/**
 * The meters' hour and day rollups of all customers (usage_meter_rollups split by plan, what
 * Trends and the overview chart) from since's day on, against the raw events of those windows
 * (events of rollup jobs not applied yet left out: their jobs add them). Written by their own
 * statement, they are checked on their own: the customer windows agreeing says nothing of them.
 */
export async function findMeterRollupDisagreements(tx: Queryable, creatorId: string, since: Date, rules: RollupRules, pending: PendingJobs): Promise<ConsistencyRow[]> {
  const rows = await tx.execute<RawRow>(sql`
    with ${eventHoursSql(creatorId, since, pending, 'hours', sql``)},
    x as (
      select meter_id, 'hour' as grain, window_start, n, s, mx, nd from hours
      union all
      select meter_id, 'day', date_trunc('day', window_start, 'UTC'), sum(n), sum(s), max(mx), sum(nd) from hours group by 1, 3
    ),
    r as (
      select r.meter_id, r.grain, r.window_start,
        case m.aggregation_type when 'max' then max(r.value) else sum(r.value) end as value, sum(r.event_count) as event_count
      from usage_meter_rollups r
      join usage_meters m on m.creator_id = r.creator_id and m.meter_id = r.meter_id
      where r.creator_id = ${creatorId} and r.grain in ('hour', 'day') and r.dimension = '' and r.window_start >= date_trunc('day', ${ts(since)}, 'UTC')
      group by r.meter_id, r.grain, r.window_start, m.aggregation_type
    ),
    j as (
      select coalesce(r.meter_id, x.meter_id) as meter_id, coalesce(r.grain, x.grain) as grain, coalesce(r.window_start, x.window_start) as window_start,
        r.value as actual_value, r.event_count as actual_count, x.n, x.s, x.mx, x.nd
      from r full join x on x.meter_id = r.meter_id and x.grain = r.grain and x.window_start = r.window_start
    )
    select x.meter_id, null::uuid as customer_id, m.aggregation_type, x.window_start,
      x.window_start + case x.grain when 'hour' then interval '1 hour' else interval '1 day' end as window_end,
      x.actual_value, x.actual_count, ${fromEventsSql(rules, 'flags')} as expected_value, coalesce(x.n, 0) as expected_count
    from j x
    join usage_meters m on m.creator_id = ${creatorId} and m.meter_id = x.meter_id
    where x.actual_value is distinct from ${fromEventsSql(rules, 'flags')} or x.actual_count is distinct from coalesce(x.n, 0)
    order by x.meter_id, x.window_start, x.grain`);
  return toConsistencyRows('meter_rollups_vs_events', rows);
}

/** Every creator's id (owner connection: row-level security would hide the others). */
/** Each creator's late-event grace in hours (owner connection; 24, the default, without a settings row). */
export async function listLateEventGraces(tx: Queryable): Promise<Map<string, number>> {
  const rows = await tx.execute<{ creator_id: string; hours: number }>(sql`
    select c.creator_id, coalesce(s.late_event_grace_hours, 24)::int as hours
    from creators c left join creator_settings s on s.creator_id = c.creator_id`);
  return new Map(rows.map((r) => [r.creator_id, Number(r.hours)]));
}

export async function listCreatorIds(tx: Queryable): Promise<string[]> {
  const rows = await tx.execute<{ creator_id: string }>(sql`select creator_id from creators order by creator_id`);
  return rows.map((r) => r.creator_id);
}
