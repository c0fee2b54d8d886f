import type { Meter, PlanLimit } from '../../db/queries/meters.js';
import { aggregationOf } from './aggregation/index.js';
import { D, toWire, toWireRounded } from './decimal.js';
import type { Period } from './periods.js';

/** The plan limit that applies to a customer on a meter now (none: unlimited). */
export function limitFor(meter: Meter, planName: string | null): PlanLimit | null {
  if (!planName) return null;
  return meter.planLimits.find((l) => l.planName === planName) ?? null;
}

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

/** Units beyond the limit and what they cost (exact decimals). */
export function overage(meter: Meter, counterBase: D, limit: PlanLimit | null): { quantity: string; amount: string } {
  if (!limit || limit.limitValue === null) return { quantity: '0', amount: '0' };
  const used = aggregationOf(meter.aggregationType).toUnit(counterBase, meter.unitName);
  const beyond = D.max(used.minus(limit.limitValue), 0);
  const amount = limit.overagePrice === null ? new D(0) : beyond.times(limit.overagePrice);
  return { quantity: toWireRounded(beyond), amount: toWire(amount.toDecimalPlaces(9, D.ROUND_HALF_EVEN)) };
}
