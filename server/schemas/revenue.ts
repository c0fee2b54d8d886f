import { z } from 'zod';
import { AGGREGATION_TYPES } from '../../db/schema.js';
import { ZId } from './common.js';
import { ZDecimal } from './decimal.js';
import { ZPlanName } from './meters.js';

/** How usage is carried to the period's end: linearly at the run-rate so far, or as it is now. */
export const PROJECTIONS = ['run_rate', 'current'] as const;
export type Projection = (typeof PROJECTIONS)[number];

/** Money and quantities are decimal strings, exact. */
const ZAmount = z.string();

const moneyFigures = {
  /** Customer × meter counters beyond the limit now. */
  customers_in_overage: z.number().int(),
  amount_so_far: ZAmount,
  /** Those projected beyond the limit at their period's end. */
  customers_projected: z.number().int(),
  amount_projected: ZAmount,
};

/** Quantities are in one meter's unit, so only a meter (or a plan on a meter) has them. */
const overageFigures = { ...moneyFigures, quantity_so_far: ZAmount, quantity_projected: ZAmount };

export const ZRevenueMeter = z.object({
  meter_id: ZId,
  event_name: z.string(),
  display_name: z.string(),
  unit_name: z.string(),
  aggregation_type: z.enum(AGGREGATION_TYPES),
  projection: z.enum(PROJECTIONS),
  archived: z.boolean(),
  /** Plans of this meter that bill overage (a limit, no hard cap). */
  billing_plans: z.number().int(),
  ...overageFigures,
});
export type TRevenueMeter = z.infer<typeof ZRevenueMeter>;

export const ZRevenuePlanMeter = z.object({
  plan_name: z.string(),
  meter_id: ZId,
  event_name: z.string(),
  display_name: z.string(),
  unit_name: z.string(),
  limit_value: ZAmount,
  overage_price: ZAmount.nullable(),
  ...overageFigures,
});
export type TRevenuePlanMeter = z.infer<typeof ZRevenuePlanMeter>;

export const ZRevenuePlan = z.object({ plan_name: z.string(), ...moneyFigures });

export const ZRevenueOverview = z.object({
  /** The moment "this period" and the projections are taken at. */
  as_of: z.string(),
  meters_count: z.number().int(),
  customers_count: z.number().int(),
  totals: z.object(moneyFigures),
  meters: z.array(ZRevenueMeter),
  /** Per plan (all meters together), then per plan × meter. */
  plans: z.array(ZRevenuePlan),
  plan_meters: z.array(ZRevenuePlanMeter),
});
export type TRevenueOverview = z.infer<typeof ZRevenueOverview>;

/**
 * A what-if: new terms for one plan on one meter. An absent or null limit is unlimited;
 * an absent or null price bills nothing beyond the limit.
 */
export const ZWhatIfInput = z
  .object({
    meter_id: ZId,
    plan_name: ZPlanName,
    limit_value: ZDecimal.nullable().default(null),
    overage_price: ZDecimal.nullable().default(null),
    hard_cap: z.boolean({ error: 'must be true or false' }).default(false),
  })
  .strict();
export type TWhatIfInput = z.input<typeof ZWhatIfInput>;

const ZTerms = z.object({ limit_value: ZAmount.nullable(), overage_price: ZAmount.nullable(), hard_cap: z.boolean() });
export type TTerms = z.infer<typeof ZTerms>;

const ZWhatIfSide = z.object({
  revenue: ZAmount,
  overage_quantity: ZAmount,
  customers_in_overage: z.number().int(),
  customers_capped: z.number().int(),
});

export const ZWhatIfCustomer = z.object({
  user_id: z.string(),
  used: ZAmount,
  period_start: z.string(),
  period_end: z.string(),
  revenue_before: ZAmount,
  revenue_after: ZAmount,
  delta: ZAmount,
  /** Their status under the current terms and under the new ones. */
  before: z.enum(['within', 'overage', 'capped']),
  after: z.enum(['within', 'overage', 'capped']),
});
export type TWhatIfCustomer = z.infer<typeof ZWhatIfCustomer>;

export const ZWhatIfResult = z.object({
  meter_id: ZId,
  event_name: z.string(),
  display_name: z.string(),
  unit_name: z.string(),
  plan_name: z.string(),
  as_of: z.string(),
  current_terms: ZTerms,
  new_terms: ZTerms,
  /** Customers whose previous period on this plan could change (usage at or above the lower limit). */
  customers_considered: z.number().int(),
  before: ZWhatIfSide,
  after: ZWhatIfSide,
  delta: ZAmount,
  customers_newly_capped: z.number().int(),
  customers_newly_in_overage: z.number().int(),
  customers_no_longer_in_overage: z.number().int(),
  /** The 20 customers whose revenue moves most (then status changes), largest first. */
  affected: z.array(ZWhatIfCustomer),
  affected_count: z.number().int(),
});
export type TWhatIfResult = z.infer<typeof ZWhatIfResult>;
