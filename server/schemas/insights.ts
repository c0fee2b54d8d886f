import { z } from 'zod';
import { AGGREGATION_TYPES } from '../../db/schema.js';
import { ZId, ZInstantInput, ZText } from './common.js';

/** Quantities and money on the wire: exact decimal strings. */
const ZDecimal = z.string();

export const ZOverview = z.object({
  generated_at: z.iso.datetime(),
  /** When the period figures (usage per meter, active customers, limits, overage) were computed: at most a few seconds ago. */
  period_figures_at: z.iso.datetime(),
  /**
   * When the oldest committed event not yet in the charts (the rollups) was committed: events
   * since then are in the figures, which come from the live counters, but not yet in the
   * events-per-minute chart or Trends. Null when the charts have every event (the usual
   * case: rollups follow within a second or two).
   */
  rollups_pending_since: z.iso.datetime().nullable(),
  has_usage: z.boolean(),
  /** Events per UTC minute over the last hour, oldest first, the current minute last (60 points). */
  events_per_minute: z.array(z.object({ minute: z.iso.datetime(), events: z.number().int() })),
  events_last_hour: z.number().int(),
  /** Customers with usage in their current billing period. */
  active_customers: z.number().int(),
  open_alerts: z.number().int(),
  meters: z.array(
    z.object({
      meter_id: ZId,
      event_name: z.string(),
      display_name: z.string(),
      aggregation_type: z.enum(AGGREGATION_TYPES),
      unit_name: z.string(),
      /** This period across customers, in the meter's unit (max meters: the largest customer). */
      used: ZDecimal,
      customers: z.number().int(),
      /** Customers past the soft threshold but within the limit. */
      near_limit: z.number().int(),
      /** Customers at or past the limit (hard cap reached or in overage). */
      over_limit: z.number().int(),
    }),
  ),
  /** Customers near or over a limit this period, the closest to (or furthest past) it first. */
  attention: z.array(
    z.object({
      alert_id: ZId,
      meter_id: ZId,
      event_name: z.string(),
      user_id: z.string(),
      customer_name: z.string().nullable(),
      plan_name: z.string().nullable(),
      kind: z.string(),
      status: z.string(),
      used: ZDecimal,
      limit: ZDecimal,
      /** used / limit × 100, rounded to one decimal. */
      percent: z.number(),
    }),
  ),
  /** Overage so far this period across customers (soft-limit plans with an overage price). */
  overage: z.object({ amount: ZDecimal, customers: z.number().int() }),
});
export type TOverview = z.infer<typeof ZOverview>;

export const TREND_GRAINS = ['hour', 'day', 'month'] as const;
export const TREND_BREAKDOWNS = ['none', 'plan', 'dimension'] as const;
/** Longest range a chart covers per bucket size (a chart of more points is not readable). */
export const TREND_MAX_POINTS = { hour: 24 * 31, day: 400, month: 60 } as const;

const VALID_INSTANT = ZInstantInput('is not an instant');

export const ZTrendsInput = z
  .object({
    meter_id: ZId,
    grain: z.enum(TREND_GRAINS).default('day'),
    from: ZInstantInput('must be an ISO 8601 date-time'),
    to: ZInstantInput('must be an ISO 8601 date-time'),
    compare: z.boolean().default(false),
    breakdown: z.enum(TREND_BREAKDOWNS).default('none'),
    /** With breakdown 'dimension': one of the meter's rollup dimensions. */
    dimension: ZText(128).optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    // Only two valid instants are compared: a bad `from` is named once, not `to` beside it.
    if (VALID_INSTANT.safeParse(input.from).success && VALID_INSTANT.safeParse(input.to).success && !(Date.parse(input.to) > Date.parse(input.from))) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
    }
    if (input.breakdown === 'dimension' && !input.dimension) ctx.addIssue({ code: 'custom', path: ['dimension'], message: 'is required to break down by a dimension' });
    if (input.breakdown === 'dimension' && input.compare) ctx.addIssue({ code: 'custom', path: ['compare'], message: 'cannot be combined with a breakdown by dimension' });
  });
export type TTrendsInput = z.input<typeof ZTrendsInput>;

export const ZTrends = z.object({
  meter_id: ZId,
  event_name: z.string(),
  unit_name: z.string(),
  aggregation_type: z.enum(AGGREGATION_TYPES),
  grain: z.enum(TREND_GRAINS),
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  /** Series names, in legend order ('Total', plans, or dimension values; 'Other' gathers the rest — 'Other (N more)' when a real value is named Other), all distinct. */
  series: z.array(z.string()),
  /** One point per bucket in [from, to): its start and each series' value (meter unit). */
  points: z.array(z.object({ bucket: z.iso.datetime(), values: z.record(z.string(), z.number()), events: z.number().int() })),
  total: ZDecimal,
  events: z.number().int(),
  /** With compare: the same-length range just before, aligned bucket by bucket. */
  previous: z.object({ from: z.iso.datetime(), to: z.iso.datetime(), points: z.array(z.object({ bucket: z.iso.datetime(), value: z.number() })), total: ZDecimal }).nullable(),
  dimensions: z.array(z.string()),
});
export type TTrends = z.infer<typeof ZTrends>;
