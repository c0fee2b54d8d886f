import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sql } from 'drizzle-orm';
import type postgres from 'postgres';
import type { Db, Queryable } from '../client.js';
import { MAX_DISTINCT_KEY_BYTES, type AlertKind, type AlertStatus } from '../schema.js';
import { ts } from './params.js';
import { dimensionValueSql, PLAN_AT, planAtJoins } from './rollups.js';

/** Whether the owner login is a superuser: COPY into tables under row-level security needs one. */
export async function isOwnerSuperuser(db: Db): Promise<boolean> {
  const [row] = await db.execute<{ rolsuper: boolean }>(sql`select rolsuper from pg_roles where rolname = current_user`);
  return row?.rolsuper === true;
}

/**
 * Bulk loading for `staryer-usage seed` (owner connection): customers, raw events by COPY,
 * and the derived tables rebuilt set-based from raw events. Every statement names the
 * creator and runs with its tenant set, so it holds under forced RLS for a non-superuser
 * owner too.
 */


/** The driver under drizzle: COPY is not something the ORM speaks. */
const clientOf = (db: Db): postgres.Sql => (db as Db & { $client: postgres.Sql }).$client;

export type SeedCustomerRow = {
  customerId: string;
  userId: string;
  planName: string;
  email: string;
  name: string;
  billingAnchor: Date | null;
  tenantId: string | null;
  createdAt: Date;
};

export async function insertSeedCustomers(tx: Queryable, creatorId: string, rows: SeedCustomerRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 5000) {
    const chunk = JSON.stringify(
      rows.slice(i, i + 5000).map((r) => ({
        customer_id: r.customerId,
        user_id: r.userId,
        plan_name: r.planName,
        email: r.email,
        name: r.name,
        billing_anchor: r.billingAnchor?.toISOString() ?? null,
        tenant_id: r.tenantId,
        created_at: r.createdAt.toISOString(),
      })),
    );
    await tx.execute(sql`
      with r as (
        select * from json_to_recordset(${chunk}::json) as r(customer_id uuid, user_id text, plan_name text, email text, name text,
          billing_anchor timestamptz, tenant_id text, created_at timestamptz)
      ),
      c as (
        insert into customers (creator_id, customer_id, user_id, plan_name, email, name, billing_anchor, tenant_id, created_at, updated_at)
        select ${creatorId}, customer_id, user_id, plan_name, email, name, billing_anchor, tenant_id, created_at, created_at from r
        returning customer_id, plan_name, created_at
      )
      insert into customer_plan_changes (creator_id, customer_id, plan_name, effective_from)
      select ${creatorId}, customer_id, plan_name, created_at from c`);
  }
}

export type SeedCustomer = { customerId: string; userId: string; planName: string | null; billingAnchor: Date | null };

export async function listSeedCustomers(tx: Queryable, creatorId: string): Promise<SeedCustomer[]> {
  const rows = await tx.execute<{ customer_id: string; user_id: string; plan_name: string | null; billing_anchor: string | Date | null }>(sql`
    select customer_id, user_id, plan_name, billing_anchor from customers where creator_id = ${creatorId} order by user_id`);
  return rows.map((r) => ({ customerId: r.customer_id, userId: r.user_id, planName: r.plan_name, billingAnchor: r.billing_anchor ? new Date(r.billing_anchor) : null }));
}

/** Monthly partitions of usage_events covering [from, to) (owner: the function is not granted to the app). */
export async function ensureSeedPartitions(db: Db, from: Date, to: Date): Promise<void> {
  await db.execute(sql`select app_ensure_usage_event_partitions(${ts(from)}, ${ts(to)})`);
}

export type Tuning = { workMem: string };

/** Transaction-local settings for bulk work: no commit waits, room to hash and sort. */
async function tune(tx: Queryable, creatorId: string, tuning: Tuning): Promise<void> {
  await tx.execute(sql`select set_config('app.creator_id', ${creatorId}, true),
    set_config('synchronous_commit', 'off', true), set_config('work_mem', ${tuning.workMem}, true),
    set_config('maintenance_work_mem', '512MB', true), set_config('jit', 'off', true)`);
}

/**
 * COPY rows (text format, tab-separated, in the column order below) into usage_events in
 * one transaction: nothing is half-loaded.
 */
export async function copyEvents(db: Db, creatorId: string, rows: AsyncIterable<string>): Promise<void> {
  const client = clientOf(db);
  await client.begin(async (tx) => {
    await tx`select set_config('app.creator_id', ${creatorId}, true), set_config('synchronous_commit', 'off', true)`;
    const writable = await tx`
      copy usage_events (creator_id, event_id, meter_id, customer_id, event_name, user_id, value, properties,
        idempotency_key, new_distinct, period_start, occurred_at, received_at) from stdin`.writable();
    await pipeline(Readable.from(rows), writable);
  });
}

export type PeriodCounterRow = { meterId: string; customerId: string; periodStart: Date; value: string };

/** Period counters ending after `since`, to continue from in append mode. */
export async function listPeriodCounters(tx: Queryable, creatorId: string, since: Date): Promise<PeriodCounterRow[]> {
  const rows = await tx.execute<{ meter_id: string; customer_id: string; window_start: string | Date; value: string }>(sql`
    select meter_id, customer_id, window_start, value from usage_aggregates
    where creator_id = ${creatorId} and "window" = 'period' and window_end > ${ts(since)}`);
  return rows.map((r) => ({ meterId: r.meter_id, customerId: r.customer_id, periodStart: new Date(r.window_start), value: String(r.value) }));
}

/** Distinct values seen in periods starting at or after `since`. */
export async function listUniqueValues(tx: Queryable, creatorId: string, since: Date): Promise<Array<{ meterId: string; customerId: string; periodStart: Date; value: string }>> {
  const rows = await tx.execute<{ meter_id: string; customer_id: string; period_start: string | Date; value: string }>(sql`
    select meter_id, customer_id, period_start, value from usage_unique_values
    where creator_id = ${creatorId} and period_start >= ${ts(since)}`);
  return rows.map((r) => ({ meterId: r.meter_id, customerId: r.customer_id, periodStart: new Date(r.period_start), value: r.value }));
}

export type SeedPeriod = { customerId: string; start: Date; end: Date };

/**
 * Period counters of the given customer periods, recomputed from all their raw events
 * (count, Σ, max, new distinct values, Σ seconds): the same figures ingest keeps live.
 * Existing counters of those periods are replaced, so a re-run or an append is exact.
 */
export async function rebuildPeriodCounters(db: Db, creatorId: string, periods: SeedPeriod[], at: Date, tuning: Tuning): Promise<number> {
  if (periods.length === 0) return 0;
  const eventsFrom = new Date(periods.reduce((min, p) => Math.min(min, p.start.getTime()), Infinity));
  return db.transaction(async (tx) => {
    await tune(tx, creatorId, tuning);
    const [row] = await tx.execute<{ n: number }>(sql`
      with p as (
        select * from json_to_recordset(${JSON.stringify(periods.map((p) => ({ c: p.customerId, s: p.start.toISOString(), e: p.end.toISOString() })))}::json)
          as p(c uuid, s timestamptz, e timestamptz)
      ),
      x as (
        select e.meter_id, e.customer_id, e.period_start,
          count(*) as n, sum(e.value) as s, max(e.value) as mx, count(*) filter (where e.new_distinct) as nd
        from usage_events e
        where e.creator_id = ${creatorId} and e.occurred_at >= ${ts(eventsFrom)}
        group by 1, 2, 3
      ),
      ins as (
        insert into usage_aggregates as a (creator_id, meter_id, customer_id, "window", window_start, window_end, value, event_count, updated_at)
        select ${creatorId}::uuid, x.meter_id, x.customer_id, 'period', x.period_start, p.e,
          case m.aggregation_type when 'count' then x.n::numeric when 'unique' then x.nd::numeric when 'max' then x.mx else x.s end,
          x.n, ${ts(at)}
        from x
        join p on p.c = x.customer_id and p.s = x.period_start
        join usage_meters m on m.creator_id = ${creatorId} and m.meter_id = x.meter_id
        order by x.meter_id, x.customer_id, x.period_start
        on conflict (creator_id, meter_id, customer_id, "window", window_start) do update set
          value = excluded.value, event_count = excluded.event_count, window_end = excluded.window_end, updated_at = excluded.updated_at
        returning 1
      )
      select count(*)::int as n from ins`);
    return Number(row?.n ?? 0);
  });
}

/**
 * usage_unique_values from the raw events that brought a new value (new_distinct), keyed
 * as ingest keys them (distinctKeyOf): `p:` and the property's JSON, or `v:` and the
 * value; `h:` and the SHA-256 of a key longer than MAX_DISTINCT_KEY_BYTES.
 */
export async function rebuildUniqueValues(db: Db, creatorId: string, from: Date, tuning: Tuning): Promise<number> {
  return db.transaction(async (tx) => {
    await tune(tx, creatorId, tuning);
    const [row] = await tx.execute<{ n: number }>(sql`
      with ins as (
        insert into usage_unique_values (creator_id, meter_id, customer_id, period_start, value)
        select distinct ${creatorId}::uuid, k.meter_id, k.customer_id, k.period_start,
          case when octet_length(k.key) > ${MAX_DISTINCT_KEY_BYTES}::int then 'h:' || encode(sha256(convert_to(k.key, 'UTF8')), 'hex') else k.key end
        from (
          select e.meter_id, e.customer_id, e.period_start,
            case when m.unique_property is null then 'v:' || e.value::text else 'p:' || (e.properties -> m.unique_property)::text end as key
          from usage_events e
          join usage_meters m on m.creator_id = e.creator_id and m.meter_id = e.meter_id
          where e.creator_id = ${creatorId} and e.occurred_at >= ${ts(from)} and e.new_distinct and m.aggregation_type = 'unique'
        ) k
        on conflict do nothing
        returning 1
      )
      select count(*)::int as n from ins`);
    return Number(row?.n ?? 0);
  });
}

export type SeedAlertRow = {
  meterId: string;
  customerId: string;
  kind: AlertKind;
  threshold: string;
  periodStart: Date;
  periodEnd: Date;
  used: string;
  limitValue: string;
  status: AlertStatus;
  createdAt: Date;
  resolvedAt: Date | null;
};

/** Threshold crossings found while generating; one per meter × customer × period × kind × threshold, as ingest keeps them. */
export async function insertSeedAlerts(db: Db, creatorId: string, alerts: SeedAlertRow[]): Promise<number> {
  let inserted = 0;
  await db.transaction(async (tx) => {
    await tune(tx, creatorId, { workMem: '64MB' });
    for (let i = 0; i < alerts.length; i += 5000) {
      const chunk = JSON.stringify(
        alerts.slice(i, i + 5000).map((a) => ({
          m: a.meterId,
          c: a.customerId,
          k: a.kind,
          t: a.threshold,
          ps: a.periodStart.toISOString(),
          pe: a.periodEnd.toISOString(),
          u: a.used,
          l: a.limitValue,
          st: a.status,
          ca: a.createdAt.toISOString(),
          ra: a.resolvedAt?.toISOString() ?? null,
        })),
      );
      const [row] = await tx.execute<{ n: number }>(sql`
        with ins as (
          insert into usage_alerts (creator_id, alert_id, meter_id, customer_id, kind, threshold, period_start, period_end, used, limit_value, status, resolved_at, created_at)
          select ${creatorId}::uuid, gen_random_uuid(), a.m, a.c, a.k::alert_kind, a.t, a.ps, a.pe, a.u, a.l, a.st::alert_status, a.ra, a.ca
          from json_to_recordset(${chunk}::json) as a(m uuid, c uuid, k text, t numeric, ps timestamptz, pe timestamptz, u numeric, l numeric, st text, ca timestamptz, ra timestamptz)
          on conflict do nothing
          returning 1
        )
        select count(*)::int as n from ins`);
      inserted += Number(row?.n ?? 0);
    }
  });
  return inserted;
}

export type SeedRollupRules = { dimensionNone: string; dimensionMaxLength: number; pending: { schema: string; queue: string } };

/**
 * Hour and day rollups (and their dimension rows) of [from, to) — whole UTC days —
 * rewritten from raw events in one transaction under the creator's exclusive rollup lock,
 * as the rebuild does, but set-based over the whole range: hours grouped from events, days
 * from those hours. Events of rollup jobs not applied yet are left to those jobs.
 */
export async function rebuildRollupRange(
  db: Db,
  creatorId: string,
  from: Date,
  to: Date,
  at: Date,
  rules: SeedRollupRules & { minutesFrom: Date },
  tuning: Tuning,
): Promise<{ hourRows: number; dayRows: number; dimensionRows: number; meterRows: number }> {
  return db.transaction(async (tx) => {
    await tune(tx, creatorId, tuning);
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('rollups'), hashtext(${creatorId}))`);
    for (const table of [sql`usage_aggregates`, sql`usage_dimension_aggregates`]) {
      await tx.execute(sql`delete from ${table} where creator_id = ${creatorId} and "window" in ('hour', 'day') and window_start >= ${ts(from)} and window_start < ${ts(to)}`);
    }
    await tx.execute(sql`delete from usage_meter_rollups where creator_id = ${creatorId} and window_start >= ${ts(from)} and window_start < ${ts(to)}`);
    const eventsOf = (eventsFrom: Date) => sql`
      pending as (
        select (jsonb_array_elements_text(j.data -> 'eventIds'))::uuid as event_id
        from ${sql.identifier(rules.pending.schema)}.job j
        where j.name = ${rules.pending.queue} and j.state in ('created', 'retry', 'active') and j.data ->> 'creatorId' = ${creatorId}
          and not exists (select 1 from rollup_batches b where b.creator_id = ${creatorId} and b.batch_id = j.id::text)
      ),
      ev as (
        select e.meter_id, e.customer_id, e.occurred_at, date_trunc('hour', e.occurred_at, 'UTC') as hour, e.value, e.new_distinct, e.properties, m.aggregation_type, m.rollup_dimensions
        from usage_events e
        join usage_meters m on m.creator_id = e.creator_id and m.meter_id = e.meter_id
        where e.creator_id = ${creatorId} and e.occurred_at >= ${ts(eventsFrom)} and e.occurred_at < ${ts(to)}
          and not exists (select 1 from pending p where p.event_id = e.event_id)
      )`;
    const events = eventsOf(from);
    const measure = sql`case aggregation_type when 'count' then count(*)::numeric when 'unique' then (count(*) filter (where new_distinct))::numeric
      when 'max' then max(value) else sum(value) end`;
    const count = async (query: ReturnType<typeof sql>) => Number((await tx.execute<{ n: number }>(query))[0]?.n ?? 0);
    const hourRows = await count(sql`
      with ${events},
      ins as (
        insert into usage_aggregates (creator_id, meter_id, customer_id, "window", window_start, window_end, value, event_count, updated_at)
        select ${creatorId}::uuid, meter_id, customer_id, 'hour', hour, hour + interval '1 hour', ${measure}, count(*), ${ts(at)}
        from ev group by meter_id, customer_id, aggregation_type, hour
        order by meter_id, customer_id, hour
        returning 1
      )
      select count(*)::int as n from ins`);
    const dayRows = await count(sql`
      with ins as (
        insert into usage_aggregates (creator_id, meter_id, customer_id, "window", window_start, window_end, value, event_count, updated_at)
        select ${creatorId}::uuid, a.meter_id, a.customer_id, 'day', date_trunc('day', a.window_start, 'UTC'), date_trunc('day', a.window_start, 'UTC') + interval '1 day',
          case m.aggregation_type when 'max' then max(a.value) else sum(a.value) end, sum(a.event_count), ${ts(at)}
        from usage_aggregates a
        join usage_meters m on m.creator_id = a.creator_id and m.meter_id = a.meter_id
        where a.creator_id = ${creatorId} and a."window" = 'hour' and a.window_start >= ${ts(from)} and a.window_start < ${ts(to)}
        group by a.meter_id, a.customer_id, m.aggregation_type, 5
        order by 2, 3, 5
        returning 1
      )
      select count(*)::int as n from ins`);
    // As ingestion's rollups store it (a real "(none)" text apart from a missing property).
    const dimensionValue = dimensionValueSql(rules, sql`ev`);
    const dimensionHours = await count(sql`
      with ${events},
      dv as (
        select ev.meter_id, ev.customer_id, ev.hour, ev.value, ev.new_distinct, ev.aggregation_type, d.dimension, ${dimensionValue} as dimension_value
        from ev cross join lateral unnest(ev.rollup_dimensions) as d(dimension)
        where cardinality(ev.rollup_dimensions) > 0
      ),
      ins as (
        insert into usage_dimension_aggregates (creator_id, meter_id, customer_id, "window", window_start, dimension, dimension_value, value, event_count, updated_at)
        select ${creatorId}::uuid, meter_id, customer_id, 'hour', hour, dimension, dimension_value, ${measure}, count(*), ${ts(at)}
        from dv group by meter_id, customer_id, aggregation_type, hour, dimension, dimension_value
        order by meter_id, customer_id, hour, dimension, dimension_value
        returning 1
      )
      select count(*)::int as n from ins`);
    const dimensionDays = await count(sql`
      with ins as (
        insert into usage_dimension_aggregates (creator_id, meter_id, customer_id, "window", window_start, dimension, dimension_value, value, event_count, updated_at)
        select ${creatorId}::uuid, a.meter_id, a.customer_id, 'day', date_trunc('day', a.window_start, 'UTC'), a.dimension, a.dimension_value,
          case m.aggregation_type when 'max' then max(a.value) else sum(a.value) end, sum(a.event_count), ${ts(at)}
        from usage_dimension_aggregates a
        join usage_meters m on m.creator_id = a.creator_id and m.meter_id = a.meter_id
        where a.creator_id = ${creatorId} and a."window" = 'hour' and a.window_start >= ${ts(from)} and a.window_start < ${ts(to)}
        group by a.meter_id, a.customer_id, m.aggregation_type, 5, a.dimension, a.dimension_value
        order by 2, 3, 5, 6, 7
        returning 1
      )
      select count(*)::int as n from ins`);
    // usage_meter_rollups: per meter, hours and days split by the plan the customer was on when
    // each event occurred (as the jobs file them: planAtJoins), by dimension value (from the
    // dimension windows), and minutes of the last days (what the live overview keeps) from the
    // events. An hour of a customer window is one plan's unless the customer's plan changed
    // inside it: those few hours are measured from their events, each under its own plan.
    const combined = sql`case aggregation_type when 'max' then max(value) else sum(value) end`;
    const planHours = await count(sql`
      with ${events},
      changed as (
        select distinct pc.customer_id, date_trunc('hour', pc.effective_from, 'UTC') as hour
        from customer_plan_changes pc
        where pc.creator_id = ${creatorId} and pc.effective_from >= ${ts(from)} and pc.effective_from < ${ts(to)}
          and pc.effective_from <> date_trunc('hour', pc.effective_from, 'UTC')
      ),
      whole as (
        select a.meter_id, a.window_start, m.aggregation_type, a.value, a.event_count, ${PLAN_AT} as plan_name
        from usage_aggregates a
        join usage_meters m on m.creator_id = a.creator_id and m.meter_id = a.meter_id
        ${planAtJoins(creatorId, sql`a.customer_id`, sql`a.window_start`)}
        where a.creator_id = ${creatorId} and a."window" = 'hour' and a.window_start >= ${ts(from)} and a.window_start < ${ts(to)}
          and not exists (select 1 from changed where changed.customer_id = a.customer_id and changed.hour = a.window_start)
      ),
      split as (
        select meter_id, hour as window_start, aggregation_type, ${measure} as value, count(*) as event_count, plan_name
        from (
          select ev.meter_id, ev.hour, ev.aggregation_type, ev.value, ev.new_distinct, ${PLAN_AT} as plan_name
          from ev ${planAtJoins(creatorId, sql`ev.customer_id`, sql`ev.occurred_at`)}
          where exists (select 1 from changed where changed.customer_id = ev.customer_id and changed.hour = ev.hour)
        ) planned
        group by meter_id, hour, aggregation_type, plan_name
      ),
      ins as (
        insert into usage_meter_rollups (creator_id, meter_id, grain, window_start, dimension, dimension_value, value, event_count, updated_at)
        select ${creatorId}::uuid, meter_id, 'hour', window_start, '', plan_name, ${combined}, sum(event_count), ${ts(at)}
        from (select * from whole union all select * from split) parts
        group by meter_id, window_start, plan_name, aggregation_type
        returning 1
      )
      select count(*)::int as n from ins`);
    const planDays = await count(sql`
      with ins as (
        insert into usage_meter_rollups (creator_id, meter_id, grain, window_start, dimension, dimension_value, value, event_count, updated_at)
        select ${creatorId}::uuid, r.meter_id, 'day', date_trunc('day', r.window_start, 'UTC'), '', r.dimension_value,
          case m.aggregation_type when 'max' then max(r.value) else sum(r.value) end, sum(r.event_count), ${ts(at)}
        from usage_meter_rollups r
        join usage_meters m on m.creator_id = r.creator_id and m.meter_id = r.meter_id
        where r.creator_id = ${creatorId} and r.grain = 'hour' and r.dimension = '' and r.window_start >= ${ts(from)} and r.window_start < ${ts(to)}
        group by r.meter_id, 4, r.dimension_value, m.aggregation_type
        returning 1
      )
      select count(*)::int as n from ins`);
    const dimensionMeterRows = await count(sql`
        with ins as (
          insert into usage_meter_rollups (creator_id, meter_id, grain, window_start, dimension, dimension_value, value, event_count, updated_at)
          select ${creatorId}::uuid, a.meter_id, a."window"::text, a.window_start, a.dimension, a.dimension_value, case m.aggregation_type when 'max' then max(a.value) else sum(a.value) end, sum(a.event_count), ${ts(at)}
          from usage_dimension_aggregates a
          join usage_meters m on m.creator_id = a.creator_id and m.meter_id = a.meter_id
          where a.creator_id = ${creatorId} and a."window" in ('hour', 'day') and a.window_start >= ${ts(from)} and a.window_start < ${ts(to)}
          group by a.meter_id, a."window", a.window_start, a.dimension, a.dimension_value, m.aggregation_type
          returning 1
        )
        select count(*)::int as n from ins`);
    const minuteRows =
      rules.minutesFrom < to
        ? await count(sql`
        with ${eventsOf(rules.minutesFrom > from ? rules.minutesFrom : from)},
        planned as (
          select ev.meter_id, ev.aggregation_type, ev.value, ev.new_distinct, date_trunc('minute', ev.occurred_at, 'UTC') as minute, ${PLAN_AT} as plan_name
          from ev ${planAtJoins(creatorId, sql`ev.customer_id`, sql`ev.occurred_at`)}
        ),
        ins as (
          insert into usage_meter_rollups (creator_id, meter_id, grain, window_start, dimension, dimension_value, value, event_count, updated_at)
          select ${creatorId}::uuid, meter_id, 'minute', minute, '', plan_name, ${measure}, count(*), ${ts(at)}
          from planned
          group by meter_id, aggregation_type, minute, plan_name
          returning 1
        )
        select count(*)::int as n from ins`)
        : 0;
    const meterRows = planHours + planDays + dimensionMeterRows + minuteRows;
    return { hourRows, dayRows, dimensionRows: dimensionHours + dimensionDays, meterRows };
  });
}

/** Statistics of freshly loaded events: without them the planner takes a day of events for a handful of rows. */
export async function analyzeEvents(db: Db): Promise<void> {
  await db.execute(sql`analyze usage_events`);
}

/**
 * Fresh planner statistics and visibility maps for the tables the dashboard reads: what
 * autovacuum would reach some minutes later, so index-only scans work from the first page
 * view (counts of open alerts read the heap of every row otherwise).
 */
export async function vacuumSeededTables(db: Db): Promise<void> {
  await db.execute(
    sql`vacuum (analyze) usage_events, usage_aggregates, usage_dimension_aggregates, usage_meter_rollups, usage_unique_values, usage_alerts, customers, customer_plan_changes`,
  );
}

/**
 * Removes every row of a creator (owner connection): each table with a creator_id column,
 * then the creator. Tables are retried in passes so foreign keys between them never
 * decide the order.
 */
export async function deleteCreatorEverywhere(db: Db, creatorId: string): Promise<void> {
  const tables = await db.execute<{ name: string }>(sql`
    select c.relname as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attname = 'creator_id' and not a.attisdropped
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition and c.relname <> 'creators'`);
  let pending = tables.map((t) => t.name);
  await db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('app.creator_id', ${creatorId}, true), set_config('synchronous_commit', 'off', true)`);
    for (let pass = 0; pass < 5 && pending.length > 0; pass++) {
      const failed: string[] = [];
      for (const name of pending) {
        try {
          await tx.transaction(async (sp) => {
            await sp.execute(sql`delete from ${sql.identifier(name)} where creator_id = ${creatorId}`);
          });
        } catch {
          failed.push(name);
        }
      }
      pending = failed;
    }
    if (pending.length > 0) throw new Error(`could not delete the creator's rows from ${pending.join(', ')}`);
    await tx.execute(sql`delete from creators where creator_id = ${creatorId}`);
  });
}
