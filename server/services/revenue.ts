import type { z } from 'zod';
import { findMeter, listMeters, type Meter, type PlanLimit } from '../../db/queries/meters.js';
import { countCustomers, listRecentClosedCounters, sumCurrentOverage, type OverageGroup } from '../../db/queries/revenue.js';
import type { AggregationType } from '../../db/schema.js';
import { withCreator } from '../../db/tenant.js';
import { AppError, validationError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { Projection, TRevenueOverview, TTerms, TWhatIfCustomer, TWhatIfResult, ZWhatIfInput } from '../schemas/revenue.js';
import { D, toWire, toWireRounded } from './decimal.js';
import { isPreviousPeriod } from './periods.js';
import { limitFor, limitInBase, overage, overageTerms, usageFigures } from './usage-snapshot.js';

/**
 * Usage that accumulates (count, sum, duration) is carried to the period's end at its
 * run-rate so far; a max or a distinct count is already what the period will bill at
 * least, and nothing says it will grow, so it stays as it is.
 */
export const PROJECTION = {
  count: 'run_rate',
  sum: 'run_rate',
  duration: 'run_rate',
  max: 'current',
  unique: 'current',
} as const satisfies Record<AggregationType, Projection>;

/** Money on the wire: exact, at most 9 decimals (a price of 9 decimals × a fractional quantity can be finer). */
const money = (amount: D): string => toWire(amount.toDecimalPlaces(9, D.ROUND_HALF_EVEN));

type Figures = { customersInOverage: number; quantitySoFar: D; amountSoFar: D; customersProjected: number; quantityProjected: D; amountProjected: D };

const emptyFigures = (): Figures => ({
  customersInOverage: 0,
  quantitySoFar: new D(0),
  amountSoFar: new D(0),
  customersProjected: 0,
  quantityProjected: new D(0),
  amountProjected: new D(0),
});

function add(into: Figures, more: Figures, withQuantity = true): void {
  into.customersInOverage += more.customersInOverage;
  into.amountSoFar = into.amountSoFar.plus(more.amountSoFar);
  into.customersProjected += more.customersProjected;
  into.amountProjected = into.amountProjected.plus(more.amountProjected);
  // Quantities of different meters are different units: only added up within a meter.
  if (withQuantity) {
    into.quantitySoFar = into.quantitySoFar.plus(more.quantitySoFar);
    into.quantityProjected = into.quantityProjected.plus(more.quantityProjected);
  }
}

const toWireMoney = (f: Figures) => ({
  customers_in_overage: f.customersInOverage,
  amount_so_far: money(f.amountSoFar),
  customers_projected: f.customersProjected,
  amount_projected: money(f.amountProjected),
});

const toWireFigures = (f: Figures) => ({ ...toWireMoney(f), quantity_so_far: toWireRounded(f.quantitySoFar), quantity_projected: toWireRounded(f.quantityProjected) });

/**
 * Large accounts read a snapshot: summing every live counter (10k customers × 20 meters
 * is 200k of them) costs more than a page load may, and the page says "as of". A snapshot
 * is served as is for FRESH_MS, then served while a new one is computed in the background
 * for up to STALE_MS; older, the page waits for a new one. Small accounts are always live,
 * so what a creator just did shows at once.
 */
const SNAPSHOT_FROM_COUNTERS = 20_000;
const FRESH_MS = 30_000;
const STALE_MS = 5 * 60_000;

type Snapshot = { overview: TRevenueOverview; at: number; refreshing: boolean };
const snapshots = new WeakMap<Runtime, Map<string, Snapshot>>();

/**
 * Overage revenue of the current period, per meter and per plan, so far and projected to
 * each customer's period end. Each customer is judged as GET …/customers/{id}/usage judges
 * the current period — their plan now, the plan's limit now, hard caps billing nothing —
 * from the period counters only (never raw events), summed in the database per meter × plan.
 */
export async function getRevenueOverview(rt: Runtime, creatorId: string): Promise<TRevenueOverview> {
  let byCreator = snapshots.get(rt);
  if (!byCreator) snapshots.set(rt, (byCreator = new Map()));
  const cached = byCreator.get(creatorId);
  const age = cached ? rt.now().getTime() - cached.at : Infinity;
  if (cached && age < FRESH_MS) return cached.overview;
  if (cached && age < STALE_MS) {
    if (!cached.refreshing) {
      cached.refreshing = true;
      computeRevenueOverview(rt, creatorId, byCreator).catch((err: unknown) => {
        cached.refreshing = false;
        rt.log.warn({ err, creatorId }, 'revenue snapshot refresh failed');
      });
    }
    return cached.overview;
  }
  return computeRevenueOverview(rt, creatorId, byCreator);
}

async function computeRevenueOverview(rt: Runtime, creatorId: string, byCreator: Map<string, Snapshot>): Promise<TRevenueOverview> {
  const now = rt.now();
  const overview = await sumRevenueOverview(rt, creatorId, now);
  const counters = overview.customers_count * overview.meters.filter((m) => m.billing_plans > 0).length;
  if (counters >= SNAPSHOT_FROM_COUNTERS) byCreator.set(creatorId, { overview, at: now.getTime(), refreshing: false });
  else byCreator.delete(creatorId);
  return overview;
}

/** Every meter × plan that bills overage, with what the overage query needs to judge and price its counters. */
/** An archived meter meters nothing more: its period ends where it is, whatever its aggregation. */
const projectionOf = (meter: Meter): Projection => (meter.archivedAt ? 'current' : PROJECTION[meter.aggregationType]);

export function overageGroups(meters: Meter[]): Array<OverageGroup & { meter: Meter; limit: PlanLimit }> {
  return meters.flatMap((meter) =>
    meter.planLimits.flatMap((limit) => {
      const terms = overageTerms(limit);
      if (!terms) return [];
      return [
        {
          meter,
          limit,
          meterId: meter.id,
          planName: limit.planName,
          limitBase: toWire(limitInBase(meter, terms.limitValue)),
          runRate: projectionOf(meter) === 'run_rate',
          limitUnit: toWire(terms.limitValue),
          unitFactor: toWire(limitInBase(meter, new D(1))),
          price: toWire(terms.overagePrice),
        },
      ];
    }),
  );
}

/** The overview computed now, without the snapshot (the benchmark measures it). */
export async function sumRevenueOverview(rt: Runtime, creatorId: string, now: Date): Promise<TRevenueOverview> {
  return withCreator(rt.db, creatorId, async (tx) => {
    const [meters, customersCount] = await Promise.all([listMeters(tx, { includeArchived: true }), countCustomers(tx)]);
    const groups = overageGroups(meters);
    const current = await sumCurrentOverage(tx, creatorId, now, groups);
    const sums = new Map(current.sums.map((s) => [`${s.meterId}|${s.planName}`, s]));

    const totals = emptyFigures();
    const byMeter = new Map<string, Figures>();
    const byPlan = new Map<string, Figures>();
    const planMeters: TRevenueOverview['plan_meters'] = [];
    for (const group of groups) {
      const s = sums.get(`${group.meterId}|${group.planName}`);
      // Each customer's quantity and amount rounded as their usage answer and the overview round
      // them, then added — so far and projected alike (a max meter projects at its value: the same figures).
      const figures: Figures = {
        customersInOverage: s?.overCount ?? 0,
        quantitySoFar: new D(s?.overQuantity ?? 0),
        amountSoFar: new D(s?.overAmount ?? 0),
        customersProjected: s?.projectedCount ?? 0,
        quantityProjected: new D(s?.projectedQuantity ?? 0),
        amountProjected: new D(s?.projectedAmount ?? 0),
      };
      if (!byMeter.has(group.meterId)) byMeter.set(group.meterId, emptyFigures());
      add(byMeter.get(group.meterId)!, figures);
      if (!byPlan.has(group.planName)) byPlan.set(group.planName, emptyFigures());
      add(byPlan.get(group.planName)!, figures, false);
      add(totals, figures, false);
      // An archived meter keeps its place only while its period still has overage.
      if (group.meter.archivedAt && figures.customersProjected === 0) continue;
      planMeters.push({
        plan_name: group.planName,
        meter_id: group.meterId,
        event_name: group.meter.eventName,
        display_name: group.meter.displayName,
        unit_name: group.meter.unitName,
        limit_value: group.limit.limitValue!,
        overage_price: group.limit.overagePrice,
        ...toWireFigures(figures),
      });
    }
    // A customer beyond the limits of several meters is one customer in a plan's and the total's counts.
    for (const [planName, figures] of byPlan) {
      const counted = current.customers.byPlan.get(planName);
      figures.customersInOverage = counted?.over ?? 0;
      figures.customersProjected = counted?.projected ?? 0;
    }
    totals.customersInOverage = current.customers.total.over;
    totals.customersProjected = current.customers.total.projected;
    const meterRows = meters.flatMap((meter) => {
      const figures = byMeter.get(meter.id) ?? emptyFigures();
      if (meter.archivedAt && figures.customersProjected === 0) return [];
      return [
        {
          meter_id: meter.id,
          event_name: meter.eventName,
          display_name: meter.displayName,
          unit_name: meter.unitName,
          aggregation_type: meter.aggregationType,
          projection: projectionOf(meter),
          archived: meter.archivedAt !== null,
          billing_plans: groups.filter((g) => g.meterId === meter.id).length,
          ...toWireFigures(figures),
        },
      ];
    });
    planMeters.sort((a, b) => a.plan_name.localeCompare(b.plan_name) || a.event_name.localeCompare(b.event_name));
    return {
      as_of: now.toISOString(),
      meters_count: meters.filter((m) => !m.archivedAt).length,
      customers_count: customersCount,
      totals: toWireMoney(totals),
      meters: meterRows,
      plans: [...byPlan.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([plan_name, f]) => ({ plan_name, ...toWireMoney(f) })),
      plan_meters: planMeters,
    };
  });
}

type Status = TWhatIfCustomer['before'];

/**
 * Where a period's usage leaves a customer under some terms: within them, billed overage, or
 * stopped at a hard cap. Judged on the exact counter against the limit in base units, as the
 * overview counts customers in overage and ingestion caps them (not on usage rounded to 9
 * decimals of the unit: 3600.000001 s is past a 1-hour limit, 59.999999999 s is within a minute).
 */
function statusUnder(meter: Meter, base: D, limit: PlanLimit): Status {
  if (limit.limitValue === null) return 'within';
  const limitBase = limitInBase(meter, new D(limit.limitValue));
  if (limit.hardCap) return base.greaterThanOrEqualTo(limitBase) ? 'capped' : 'within';
  return base.greaterThan(limitBase) ? 'overage' : 'within';
}

const toTerms = (limit: PlanLimit): TTerms => ({ limit_value: limit.limitValue, overage_price: limit.overagePrice, hard_cap: limit.hardCap });

const AFFECTED_SHOWN = 20;

/**
 * What one plan's overage on one meter would have brought in over each customer's last
 * full period, under its current terms and under new ones: nothing is saved. Customers
 * are those who ended that period on the plan (the plan history, as overage of a past
 * period is judged); usage is their real period counter.
 */
export async function simulateWhatIf(rt: Runtime, creatorId: string, input: z.output<typeof ZWhatIfInput>): Promise<TWhatIfResult> {
  const now = rt.now();
  return withCreator(rt.db, creatorId, async (tx) => {
    const meter = await findMeter(tx, input.meter_id);
    if (!meter) {
      throw new AppError('not_found', { code: 'not_found', detail: 'Meter was not found.', errors: [{ field: 'meter_id', message: 'is not one of your meters' }] });
    }
    const current = limitFor(meter, input.plan_name);
    if (!current) {
      const plans = meter.planLimits.map((l) => l.planName);
      throw validationError([
        {
          field: 'plan_name',
          message: plans.length > 0 ? `is not a plan of ${meter.eventName} (its plans: ${plans.join(', ')})` : `is not a plan of ${meter.eventName}, which has no plan limits yet`,
        },
      ]);
    }
    const proposed: PlanLimit = { ...current, limitValue: input.limit_value, overagePrice: input.overage_price, hardCap: input.hard_cap };

    // Only usage at or above the lower of the two limits can bill overage or be capped under either.
    const limits = [current.limitValue, proposed.limitValue].filter((v): v is string => v !== null).map((v) => limitInBase(meter, new D(v)));
    const counters =
      limits.length === 0
        ? []
        : await listRecentClosedCounters(tx, creatorId, { meterId: meter.id, planName: input.plan_name, now, minBase: toWire(D.min(...limits)) });

    const before = { revenue: new D(0), quantity: new D(0), overage: 0, capped: 0 };
    const after = { revenue: new D(0), quantity: new D(0), overage: 0, capped: 0 };
    let newlyCapped = 0;
    let newlyInOverage = 0;
    let noLongerInOverage = 0;
    let considered = 0;
    const affected: Array<TWhatIfCustomer & { deltaValue: D }> = [];
    for (const counter of counters) {
      // Each customer's own previous period: their anchor decides which closed counter that is
      // (after an anchor move, the last period metered under the old one: isPreviousPeriod).
      if (!isPreviousPeriod({ start: counter.periodStart, end: counter.periodEnd }, now, counter.billingAnchor)) continue;
      considered += 1;
      const base = new D(counter.value);
      const used = new D(usageFigures(meter, base, null, { start: counter.periodStart, end: counter.periodEnd }).used);
      const was = overage(meter, base, current);
      const would = overage(meter, base, proposed);
      const statusBefore = statusUnder(meter, base, current);
      const statusAfter = statusUnder(meter, base, proposed);
      for (const [side, money, status] of [
        [before, was, statusBefore],
        [after, would, statusAfter],
      ] as const) {
        side.revenue = side.revenue.plus(money.amount);
        side.quantity = side.quantity.plus(money.quantity);
        if (status === 'overage') side.overage += 1;
        if (status === 'capped') side.capped += 1;
      }
      if (statusAfter === 'capped' && statusBefore !== 'capped') newlyCapped += 1;
      if (statusAfter === 'overage' && statusBefore !== 'overage') newlyInOverage += 1;
      if (statusBefore === 'overage' && statusAfter !== 'overage') noLongerInOverage += 1;
      const deltaValue = new D(would.amount).minus(was.amount);
      if (!deltaValue.isZero() || statusBefore !== statusAfter) {
        affected.push({
          user_id: counter.userId,
          used: toWireRounded(used),
          period_start: counter.periodStart.toISOString(),
          period_end: counter.periodEnd.toISOString(),
          revenue_before: was.amount,
          revenue_after: would.amount,
          delta: toWire(deltaValue),
          before: statusBefore,
          after: statusAfter,
          deltaValue,
        });
      }
    }
    affected.sort((a, b) => b.deltaValue.abs().comparedTo(a.deltaValue.abs()) || Number(b.before !== b.after) - Number(a.before !== a.after) || (a.user_id < b.user_id ? -1 : 1));
    const side = (s: typeof before) => ({ revenue: money(s.revenue), overage_quantity: toWireRounded(s.quantity), customers_in_overage: s.overage, customers_capped: s.capped });
    return {
      meter_id: meter.id,
      event_name: meter.eventName,
      display_name: meter.displayName,
      unit_name: meter.unitName,
      plan_name: current.planName,
      as_of: now.toISOString(),
      current_terms: toTerms(current),
      new_terms: toTerms(proposed),
      customers_considered: considered,
      before: side(before),
      after: side(after),
      delta: money(after.revenue.minus(before.revenue)),
      customers_newly_capped: newlyCapped,
      customers_newly_in_overage: newlyInOverage,
      customers_no_longer_in_overage: noLongerInOverage,
      affected: affected.slice(0, AFFECTED_SHOWN).map(({ deltaValue: _, ...row }) => row),
      affected_count: affected.length,
    };
  });
}
