import type { Meter, PlanLimit } from '../../db/queries/meters.js';
import { aggregationOf } from './aggregation/index.js';
import { D, roundQuantity, toWire, toWireRounded } from './decimal.js';
import type { Period } from './periods.js';

/** The plan limit that applies to a customer on a meter now (none: unlimited). */
export function limitFor(meter: Meter, planName: string | null): PlanLimit | null {
  if (!planName) return null;
  return meter.planLimits.find((l) => l.planName === planName) ?? null;
}

/**
 * When a closed period's plan limit is read: its last millisecond, as it is reported and
 * billed — or, for a meter created after the period ended (late events within the grace),
 * the meter's creation: the limits it was created with, none having been in force at the end.
 */
export const closedPeriodLimitAt = (meter: Meter, period: Period): Date => new Date(Math.max(period.end.getTime() - 1, meter.createdAt.getTime()));

export type UsageFigures = {
  used: string;
  limit: string | null;
  remaining: string | null;
  period_start: string;
  period_end: string;
};

/** Usage in the meter's unit, from a counter in base quantity. remaining = limit − used (negative in overage). */
export function usageFigures(meter: Meter, counterBase: D, limit: PlanLimit | null, period: Period): UsageFigures {
  const used = aggregationOf(meter.aggregationType).toUnit(counterBase, meter.unitName);
  const limitValue = limit?.limitValue ?? null;
  return {
    used: toWireRounded(used),
    limit: limitValue,
    remaining: limitValue === null ? null : toWireRounded(new D(limitValue).minus(used)),
    period_start: period.start.toISOString(),
    period_end: period.end.toISOString(),
  };
}

/**
 * A plan limit that bills overage, in the meter's unit: a limit on a plan without a hard
 * cap (a hard cap refuses events at the limit, so nothing goes beyond it to bill).
 * Null: this limit never bills overage (none, unlimited, or hard-capped).
 */
export function overageTerms(limit: PlanLimit | null): { limitValue: D; overagePrice: D } | null {
  if (!limit || limit.limitValue === null || limit.hardCap) return null;
  return { limitValue: new D(limit.limitValue), overagePrice: new D(limit.overagePrice ?? 0) };
}

/** A limit in the meter's base quantity, to compare counters with it where they are stored. */
export const limitInBase = (meter: Meter, limitValue: D): D => aggregationOf(meter.aggregationType).toBase(limitValue, meter.unitName);

/**
 * Units beyond the limit and what they cost; none on unlimited and hard-capped plans. The
 * quantity is rounded to 9 decimals (a duration in minutes or hours may repeat) before it is
 * priced: the amount is the quantity answered × the price, rounded half-even to 9 decimals —
 * what Stripe bills, since it is sent the rounded usage (ADR 0013). The SQL figures (overview,
 * revenue, Top users) price the same rounded quantity.
 */
export function overage(meter: Meter, counterBase: D, limit: PlanLimit | null): { quantity: string; amount: string } {
  const terms = overageTerms(limit);
  if (!terms) return { quantity: '0', amount: '0' };
  const used = aggregationOf(meter.aggregationType).toUnit(counterBase, meter.unitName);
  const quantity = roundQuantity(D.max(used.minus(terms.limitValue), 0));
  return { quantity: toWire(quantity), amount: toWireRounded(quantity.times(terms.overagePrice)) };
}
