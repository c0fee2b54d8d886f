import type { Aggregation } from './types.js';
import { identityUnits } from './types.js';

/** Number of events, whatever their value. */
export const count: Aggregation = { ...identityUnits, distinct: false, next: (current) => current.plus(1) };
