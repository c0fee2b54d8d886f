import type { AggregationType } from '../../../db/schema.js';
import { count } from './count.js';
import { duration } from './duration.js';
import { max } from './max.js';
import type { Aggregation } from './types.js';
import { unique } from './unique.js';
import { sum } from './sum.js';

export type { Aggregation };
export { canonicalJson, distinctKeyOf, distinctKeysOf } from './unique.js';

export const AGGREGATIONS = { count, sum, max, unique, duration } as const satisfies Record<AggregationType, Aggregation>;

export const aggregationOf = (type: AggregationType): Aggregation => AGGREGATIONS[type];
