import type { Aggregation } from './types.js';
import { identityUnits } from './types.js';

/** Sum of values, exact in decimals (0.1 + 0.2 = 0.3). */
export const sum: Aggregation = { ...identityUnits, distinct: false, next: (current, { value }) => current.plus(value) };
