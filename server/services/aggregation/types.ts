import type { D } from '../decimal.js';

/** How one meter type turns events into its period counter. */
export type Aggregation = {
  /** The counter after one more accepted event. `isNewDistinct` matters to unique meters only. */
  next: (current: D, event: { value: D; isNewDistinct: boolean }) => D;
  /** Counter (base quantity) → the meter's unit, for answers. */
  toUnit: (base: D, unitName: string) => D;
  /** A quantity in the meter's unit (a limit) → base quantity, for comparisons. */
  toBase: (quantity: D, unitName: string) => D;
  /** Unique meters track the distinct values they have seen. */
  distinct: boolean;
};

export const identityUnits = { toUnit: (base: D) => base, toBase: (quantity: D) => quantity };
