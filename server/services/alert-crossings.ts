import type { AlertKind } from '../../db/schema.js';
import type { Meter, PlanLimit } from '../../db/queries/meters.js';
import { aggregationOf } from './aggregation/index.js';
import { D, roundQuantity } from './decimal.js';

/**
 * The alerts a counter owes for going from `from` to `to` (base quantities) under `limit`:
 * each threshold usage went from below to at or above (overage: strictly above the limit).
 * A hard cap that refused an event counts as reaching the limit when usage stopped just
 * short of it (within REFUSAL_NEAR_LIMIT): the customer is blocked in practice. A refusal
 * further below (one event larger than all that is left) is answered 402 but alerts nothing:
 * the period's one hard_limit_reached is kept for the usage that really reaches the limit.
 * Unlimited plans never alert; a zero limit has no fractions to reach,
 * only the limit itself. Ingest asks for one group's change; a limit change asks from zero
 * (what a customer at this usage would have been told under these limits). Each alert
 * fires once per period all the same: the unique key of usage_alerts.
 */
/** A refusal counts as reaching a hard cap once usage is at least this fraction of the limit. */
export const REFUSAL_NEAR_LIMIT = '0.9';

export function alertsCrossed(meter: Meter, limit: PlanLimit | null, from: D, to: D, refused = false): Array<{ kind: AlertKind; threshold: string }> {
  if (!limit || limit.limitValue === null) return [];
  const aggregation = aggregationOf(meter.aggregationType);
  const limitValue = new D(limit.limitValue);
  const limitBase = aggregation.toBase(limitValue, meter.unitName);
  // Overage starts when there is overage to bill: the usage answered (the meter's unit, 9
  // decimals) past the limit — 60.000000001 s on a 1-minute limit answers "1" used and bills
  // nothing, so it raises nothing (the hard cap, exact, refuses it all the same).
  const billedPast = (usage: D) => roundQuantity(aggregation.toUnit(usage, meter.unitName)).greaterThan(limitValue);
  const alerts: Array<{ kind: AlertKind; threshold: string }> = [];
  if (limitBase.isZero()) {
    if (limit.hardCap && (refused || to.greaterThan(from))) alerts.push({ kind: 'hard_limit_reached', threshold: '1' });
    if (!limit.hardCap && billedPast(to) && !billedPast(from)) alerts.push({ kind: 'overage_started', threshold: '1' });
    return alerts;
  }
  const reached = (fraction: D) => from.lessThan(limitBase.times(fraction)) && to.greaterThanOrEqualTo(limitBase.times(fraction));
  if (limit.softLimitThreshold !== null && reached(new D(limit.softLimitThreshold))) alerts.push({ kind: 'soft_limit_reached', threshold: limit.softLimitThreshold });
  for (const threshold of meter.alertThresholds) if (reached(new D(threshold))) alerts.push({ kind: 'threshold_reached', threshold });
  if (limit.hardCap) {
    if ((refused && to.greaterThanOrEqualTo(limitBase.times(REFUSAL_NEAR_LIMIT))) || reached(new D(1))) alerts.push({ kind: 'hard_limit_reached', threshold: '1' });
  } else if (!billedPast(from) && billedPast(to)) {
    alerts.push({ kind: 'overage_started', threshold: '1' });
  }
  return alerts;
}
