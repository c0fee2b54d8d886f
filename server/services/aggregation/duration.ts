import { DURATION_UNITS, type DurationUnit } from '../../schemas/meters.js';
import { D } from '../decimal.js';
import type { Aggregation } from './types.js';

/** Seconds per unit. The counter keeps exact seconds; answers convert. */
export const SECONDS_PER_UNIT = {
  ms: new D('0.001'),
  seconds: new D(1),
  minutes: new D(60),
  hours: new D(3600),
} as const satisfies Record<DurationUnit, D>;

const factorOf = (unitName: string): D => {
  if (!(DURATION_UNITS as readonly string[]).includes(unitName)) throw new Error(`Unknown duration unit ${unitName}`);
  return SECONDS_PER_UNIT[unitName as DurationUnit];
};

/** Event values are seconds; the period total is reported in the meter's unit. */
export const duration: Aggregation = {
  distinct: false,
  next: (current, { value }) => current.plus(value),
  toUnit: (base, unitName) => base.dividedBy(factorOf(unitName)),
  toBase: (quantity, unitName) => quantity.times(factorOf(unitName)),
};
