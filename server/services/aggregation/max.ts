import type { Aggregation } from './types.js';
import { identityUnits } from './types.js';

/** Largest value of the period. An event at or below the current maximum changes nothing. */
export const max: Aggregation = {
  ...identityUnits,
  distinct: false,
  next: (current, { value }) => (value.greaterThan(current) ? value : current),
};
