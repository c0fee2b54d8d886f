import { sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { notSuperseded, overageAmountSql } from './params.js';

/** The shortest time a run rate is taken over, in seconds: a day (see currentOverageQuery). */
const RUN_RATE_MIN_SECONDS = 86_400;
const runRateMin = sql.raw(String(RUN_RATE_MIN_SECONDS));

/**
 * One meter × plan whose customers may owe overage, as the service judged it: the limit
 * in the meter's base quantity (what period counters hold) and whether usage projects
 * linearly to the period's end (count, sum, duration) or stays where it is (max, unique).
 */
export type OverageGroup = {
  meterId: string;
  planName: string;
  limitBase: string;
  runRate: boolean;
  /** The limit in the meter's unit, base quantity per unit, and the overage price (0 when none): to price each counter. */
  limitUnit: string;
  unitFactor: string;
  price: string;
};

/** Counters beyond the limit in a group (now, and projected to their period end): how many, and their overage. */
export type OverageSums = {
  meterId: string;
  planName: string;
  overCount: number;
  /** Σ over the counters beyond the limit of used − limit (the meter's unit), each rounded to 9 decimals as its customer's usage answer is. */
  overQuantity: string;
  /** Σ over the counters beyond the limit of (used − limit) × price, each rounded to 9 decimals as its customer's usage answer is. */
  overAmount: string;
  projectedCount: number;
  /** The same two sums over the counters projected beyond the limit, each customer rounded alike. */
  projectedQuantity: string;
  projectedAmount: string;
};

/**
 * Customers beyond a limit, each counted once however many meters put them there: per plan
 * (a customer is on one plan now) and in all.
 */
export type OverageCustomers = { byPlan: Map<string, { over: number; projected: number }>; total: { over: number; projected: number } };

type SumsRow = {
  meter_id: string | null;
  plan_name: string | null;
  /** grouping(meter_id, plan_name): 0 for a meter × plan row, 2 for a plan's row, 3 for the total. */
  level: number;
  over_count: string | number;
  over_quantity: string;
  over_amount: string;
  projected_count: string | number;
  projected_quantity: string;
  projected_amount: string;
};

/**
 * Sums, per meter × plan, the current period counters beyond the limit — now, and
 * projected to each counter's period end. "Current" is each customer's own period
 * (window_start ≤ now < window_end); a period lasts at most 31 days, so the index range
 * on window_start stays within the last 32 days and never reads older periods, the hour
 * and day rollups, or raw events. Customers are judged on their plan now.
 */
export async function sumCurrentOverage(
  tx: Queryable,
  creatorId: string,
  now: Date,
  groups: OverageGroup[],
): Promise<{ sums: OverageSums[]; customers: OverageCustomers }> {
  const customers: OverageCustomers = { byPlan: new Map(), total: { over: 0, projected: 0 } };
  if (groups.length === 0) return { sums: [], customers };
  // Enough memory to hash-aggregate every candidate instead of sorting them on disk.
  await tx.execute(sql`set local work_mem = '32MB'`);
  const rows = await tx.execute<SumsRow>(currentOverageQuery(creatorId, now, groups));
  const sums: OverageSums[] = [];
  for (const r of rows) {
    const counts = { over: Number(r.over_count), projected: Number(r.projected_count) };
    if (Number(r.level) === 0) {
      sums.push({
        meterId: r.meter_id!,
        planName: r.plan_name!,
        overCount: counts.over,
        overQuantity: r.over_quantity,
        overAmount: r.over_amount,
        projectedCount: counts.projected,
        projectedQuantity: r.projected_quantity,
        projectedAmount: r.projected_amount,
      });
    } else if (Number(r.level) === 2) customers.byPlan.set(r.plan_name!, counts);
    else customers.total = counts;
  }
  return { sums, customers };
}

/** The statement of sumCurrentOverage, also for EXPLAIN in the benchmark. */
export function currentOverageQuery(creatorId: string, now: Date, groups: OverageGroup[]): SQL {
  const at = now.toISOString();
  // A run rate is taken over the period so far, but over a day at least (the whole period when
  // shorter): in a period's first minutes, 12 calls would otherwise project to 500,000 — on the
  // 1st of each month, every calendar-month customer at once.
  // Money is exact: numeric comparisons, divisions and sums. Only the first sieve over every
  // counter runs in float8 (a numeric division per counter is most of the cost at 200k
  // counters), with a margin far beyond float8's error, and the counters it keeps are projected
  // again in numeric: a max meter's projection is its value to the last decimal, a run rate's
  // rounded to 9 decimals. Projected usage is never below usage so far, so a counter
  // that cannot pass its meter's lowest limit either way owes nothing and stops there,
  // before the join with customers (materialized, so the planner cannot join customers first and
  // filter 200k joined rows: measured 431 vs 565 ms p50 on the loaded benchmark machine).
  return sql`
    with g as (
      select * from json_to_recordset(${JSON.stringify(
        groups.map((g) => ({ meter_id: g.meterId, plan_name: g.planName, limit_base: g.limitBase, run_rate: g.runRate, limit_unit: g.limitUnit, unit_factor: g.unitFactor, price: g.price })),
      )}::json) as g(meter_id uuid, plan_name text, limit_base numeric, run_rate boolean, limit_unit numeric, unit_factor numeric, price numeric)
    ),
    m as (
      select meter_id, min(limit_base) as min_limit, min(limit_base)::float8 as min_limit_f, bool_and(run_rate) as run_rate from g group by meter_id
    ),
    sieved as materialized (
      select a.meter_id, a.customer_id, a.value, a.window_start, a.window_end, m.run_rate
      from usage_aggregates a
      join m on m.meter_id = a.meter_id
      where a.creator_id = ${creatorId}::uuid
        and a.window = 'period'
        and a.window_end > ${at}::timestamptz
        and a.window_start <= ${at}::timestamptz
        and a.window_start > ${at}::timestamptz - interval '32 days'
        and (a.value > m.min_limit
          or (m.run_rate and ${at}::timestamptz > a.window_start
            and a.value::float8 * (date_part('epoch', a.window_end - a.window_start)
              / least(date_part('epoch', a.window_end - a.window_start), greatest(date_part('epoch', ${at}::timestamptz - a.window_start), ${runRateMin}))) > m.min_limit_f * 0.999999))
        and ${notSuperseded('a')}
    ),
    candidates as (
      select s.meter_id, s.customer_id, s.value,
        case
          when s.run_rate and ${at}::timestamptz > s.window_start
            then round((s.value * extract(epoch from s.window_end - s.window_start))::numeric(1000, 20)
              / least(extract(epoch from s.window_end - s.window_start), greatest(extract(epoch from ${at}::timestamptz - s.window_start), ${runRateMin})), 9)
          else s.value
        end as projected
      from sieved s
    )
    -- Rows per meter × plan (level 0), and customer counts per plan (2) and in all (3), where a
    -- customer beyond the limits of two meters is one customer (their sums there mix units: unused).
    select g.meter_id, g.plan_name, grouping(g.meter_id, g.plan_name) as level,
      count(distinct k.customer_id) filter (where k.value > g.limit_base) as over_count,
      trim_scale(coalesce(sum(app_round_half_even(k.value / round(g.unit_factor, 40) - g.limit_unit, 9)) filter (where k.value > g.limit_base), 0))::text as over_quantity,
      trim_scale(coalesce(sum(${overageAmountSql(sql`k.value / round(g.unit_factor, 40) - g.limit_unit`, sql`g.price`)}) filter (where k.value > g.limit_base), 0))::text as over_amount,
      count(distinct k.customer_id) filter (where k.projected > g.limit_base) as projected_count,
      trim_scale(coalesce(sum(app_round_half_even(k.projected / round(g.unit_factor, 40) - g.limit_unit, 9)) filter (where k.projected > g.limit_base), 0))::text as projected_quantity,
      trim_scale(coalesce(sum(${overageAmountSql(sql`k.projected / round(g.unit_factor, 40) - g.limit_unit`, sql`g.price`)}) filter (where k.projected > g.limit_base), 0))::text as projected_amount
    from candidates k
    join customers c on c.creator_id = ${creatorId}::uuid and c.customer_id = k.customer_id
    join g on g.meter_id = k.meter_id and g.plan_name = c.plan_name
    group by grouping sets ((g.meter_id, g.plan_name), (g.plan_name), ())`;
}

/** A closed period counter of one meter, with its customer and the plan it ended on. */
export type ClosedCounter = {
  customerId: string;
  userId: string;
  billingAnchor: Date | null;
  planName: string | null;
  periodStart: Date;
  periodEnd: Date;
  value: string;
};

type ClosedRow = { customer_id: string; user_id: string; billing_anchor: Date | string | null; plan_name: string | null; window_start: Date | string; window_end: Date | string; value: string };

/**
 * Period counters of a meter that closed in the last two months (a customer's previous
 * period ends less than 32 + 28 days ago, after an anchor move, and lasts at most 31 days), at least `minBase`, whose
 * customer ended that period on `planName` (the plan history, as overage of a past period
 * is judged). The caller keeps each customer's previous period among them.
 */
export async function listRecentClosedCounters(tx: Queryable, creatorId: string, input: { meterId: string; planName: string; now: Date; minBase: string }): Promise<ClosedCounter[]> {
  const at = input.now.toISOString();
  const rows = await tx.execute<ClosedRow>(sql`
    select a.customer_id, c.user_id, c.billing_anchor, p.plan_name, a.window_start, a.window_end, a.value::text as value
    from usage_aggregates a
    join customers c on c.creator_id = a.creator_id and c.customer_id = a.customer_id
    cross join lateral (
      -- The plan in force at the period's end; for a customer created after it (usage
      -- back-dated within the late-event grace), the plan they were created on.
      select pc.plan_name from customer_plan_changes pc
      where pc.creator_id = a.creator_id and pc.customer_id = a.customer_id
      order by pc.effective_from < a.window_end desc,
        case when pc.effective_from < a.window_end then pc.effective_from end desc,
        pc.effective_from asc
      limit 1
    ) p
    where a.creator_id = ${creatorId}::uuid
      and a.meter_id = ${input.meterId}::uuid
      and a.window = 'period'
      -- Wide enough for every period isPreviousPeriod may take (server/services/periods.ts): after an
      -- anchor move, the old anchor's last period ends up to 28 days before the current one's start.
      and a.window_start > ${at}::timestamptz - interval '96 days'
      and a.window_start < ${at}::timestamptz
      and a.window_end <= ${at}::timestamptz
      and a.window_end > ${at}::timestamptz - interval '60 days'
      and a.value >= ${input.minBase}::numeric
      and p.plan_name = ${input.planName}
      and ${notSuperseded('a')}`);
  return rows.map((r) => ({
    customerId: r.customer_id,
    userId: r.user_id,
    billingAnchor: r.billing_anchor === null ? null : new Date(r.billing_anchor),
    planName: r.plan_name,
    periodStart: new Date(r.window_start),
    periodEnd: new Date(r.window_end),
    value: r.value,
  }));
}

/** How many customers the creator has (for the page's empty states). */
export async function countCustomers(tx: Queryable): Promise<number> {
  const [row] = await tx.execute<{ n: string | number }>(sql`select count(*) as n from customers`);
  return Number(row?.n ?? 0);
}
