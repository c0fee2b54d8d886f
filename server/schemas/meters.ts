import { z } from 'zod';
import { AGGREGATION_TYPES, BILLING_MODELS } from '../../db/schema.js';
import { ZText, ZWarnings } from './common.js';
import { ZDecimal } from './decimal.js';

export { AGGREGATION_TYPES, BILLING_MODELS };

/** Duration meters take seconds and report in one of these units. */
export const DURATION_UNITS = ['ms', 'seconds', 'minutes', 'hours'] as const;
export type DurationUnit = (typeof DURATION_UNITS)[number];

export const ZEventName = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .regex(/^[a-z0-9_.-]{1,100}$/, 'must be 1–100 characters of a–z, 0–9, "_", "." or "-"');

export const ZPlanName = ZText(100).trim().min(1, 'is required');

export const ZPlanLimitInput = z
  .object({
    plan_name: ZPlanName,
    limit_value: ZDecimal.nullable().default(null),
    overage_price: ZDecimal.nullable().default(null),
    soft_limit_threshold: ZDecimal.refine((t) => Number(t) > 0 && Number(t) <= 1, 'must be greater than 0 and at most 1')
      .nullable()
      .default(null),
    hard_cap: z.boolean({ error: 'must be true or false' }).default(false),
  })
  .strict();
export type TPlanLimitInput = z.infer<typeof ZPlanLimitInput>;

const planLimitsArray = z
  .array(ZPlanLimitInput, { error: 'must be an array of plan limits' })
  .max(100, 'at most 100 plans')
  .superRefine((limits, ctx) => {
    // By name as customers are matched to it (exactly), and without case: "Pro" beside "pro" is
    // a typo that would leave customers on one of them without the limit meant for them.
    const seen = new Map<string, string>();
    limits.forEach((limit, index) => {
      const other = seen.get(limit.plan_name.toLowerCase());
      if (other === limit.plan_name) ctx.addIssue({ code: 'custom', path: [index, 'plan_name'], message: 'appears twice' });
      else if (other !== undefined) ctx.addIssue({ code: 'custom', path: [index, 'plan_name'], message: planCaseMessage(other) });
      seen.set(limit.plan_name.toLowerCase(), limit.plan_name);
    });
  });

/** Two plans of a meter whose names differ only in case (plan names are matched exactly). */
export const planCaseMessage = (other: string) =>
  `differs only in case from the plan "${other}"; plan names are matched exactly, so a customer on one would not get the other's limit — use one spelling`;

const ZAlertThresholds = z
  .array(ZDecimal.refine((t) => Number(t) > 0 && Number(t) <= 10, 'must be greater than 0 and at most 10 (1 = the limit)'), { error: 'must be an array of fractions' })
  .max(10, 'must list at most 10 thresholds')
  .transform((ts) => [...new Set(ts)].sort((a, b) => Number(a) - Number(b)));

const ZRollupDimensions = z
  .array(ZText(100).trim().min(1, 'must not be empty'), { error: 'must be an array of property names' })
  .max(3, 'must list at most 3 properties')
  .transform((ds) => [...new Set(ds)]);

const meterFields = {
  display_name: ZText(200).trim().min(1, 'is required'),
  description: ZText(2000).default(''),
  unit_name: ZText(50).trim().min(1, 'is required'),
  billing_model: z.enum(BILLING_MODELS).default('metered'),
  unique_property: ZText(200).trim().min(1, 'must not be empty').nullable().default(null),
};

const checkMeterConsistency = (
  meter: { aggregation_type?: string; unit_name?: string; unique_property?: string | null },
  ctx: z.RefinementCtx,
) => {
  if (meter.aggregation_type === 'duration' && meter.unit_name && !(DURATION_UNITS as readonly string[]).includes(meter.unit_name)) {
    ctx.addIssue({ code: 'custom', path: ['unit_name'], message: `must be one of ${DURATION_UNITS.join(', ')} for a duration meter` });
  }
  if (meter.unique_property && meter.aggregation_type && meter.aggregation_type !== 'unique') {
    ctx.addIssue({ code: 'custom', path: ['unique_property'], message: 'applies to unique meters only' });
  }
};

export const ZCreateMeterInput = z
  .object({
    event_name: ZEventName,
    aggregation_type: z.enum(AGGREGATION_TYPES),
    ...meterFields,
    plan_limits: planLimitsArray.default([]),
    alert_thresholds: ZAlertThresholds.default([]),
    rollup_dimensions: ZRollupDimensions.default([]),
  })
  .strict()
  .superRefine(checkMeterConsistency);
export type TCreateMeterInput = z.infer<typeof ZCreateMeterInput>;

/** Event name and aggregation are fixed once events may exist; everything else can change. */
export const ZUpdateMeterInput = z
  .object({
    display_name: meterFields.display_name.optional(),
    description: ZText(2000).optional(),
    unit_name: meterFields.unit_name.optional(),
    billing_model: z.enum(BILLING_MODELS).optional(),
    /** Replaces the listed plans' limits (history kept); plans not listed stay as they are. */
    plan_limits: planLimitsArray.optional(),
    /** Plans whose limits end now. */
    remove_plans: z.array(ZPlanName).max(100).optional(),
    alert_thresholds: ZAlertThresholds.optional(),
    rollup_dimensions: ZRollupDimensions.optional(),
    /** Links the meter to the Stripe Billing Meter with this event_name (null unlinks). */
    stripe_meter_event_name: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'must be a Stripe meter event_name (1–100 of A-Z a-z 0-9 _ . : -)')
      .nullable()
      .optional(),
  })
  .strict();
export type TUpdateMeterInput = z.infer<typeof ZUpdateMeterInput>;

export const ZPlanLimit = z.object({
  plan_name: z.string(),
  limit_value: z.string().nullable(),
  overage_price: z.string().nullable(),
  soft_limit_threshold: z.string().nullable(),
  hard_cap: z.boolean(),
  effective_from: z.iso.datetime(),
});
export type TPlanLimit = z.infer<typeof ZPlanLimit>;

export const ZMeter = z.object({
  id: z.uuid(),
  event_name: z.string(),
  display_name: z.string(),
  description: z.string(),
  aggregation_type: z.enum(AGGREGATION_TYPES),
  unit_name: z.string(),
  billing_model: z.enum(BILLING_MODELS),
  unique_property: z.string().nullable(),
  alert_thresholds: z.array(z.string()),
  rollup_dimensions: z.array(z.string()),
  status: z.enum(['active', 'archived']),
  stripe_meter_event_name: z.string().nullable(),
  /** The Stripe Billing Meter found or created through POST …/stripe-meter; null when linked by name only (not looked up in Stripe). */
  stripe_meter_id: z.string().nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
  archived_at: z.iso.datetime().nullable(),
  plan_limits: z.array(ZPlanLimit),
});
export type TMeter = z.infer<typeof ZMeter>;

export const ZMeterList = z.object({ meters: z.array(ZMeter) });
export const ZMeterIdInput = z.object({ id: z.uuid('must be a UUID') });
export const ZListMetersInput = z.object({ include_archived: z.boolean().default(false) }).default({ include_archived: false });

type MeterDomain = {
  id: string;
  eventName: string;
  displayName: string;
  description: string;
  aggregationType: TMeter['aggregation_type'];
  unitName: string;
  billingModel: TMeter['billing_model'];
  uniqueProperty: string | null;
  alertThresholds: string[];
  rollupDimensions: string[];
  stripeMeterEventName: string | null;
  stripeMeterId: string | null;
  createdAt: Date;
  updatedAt: Date;
  archivedAt: Date | null;
  planLimits: Array<{ planName: string; limitValue: string | null; overagePrice: string | null; softLimitThreshold: string | null; hardCap: boolean; effectiveFrom: Date }>;
};

export const toApiMeter = (meter: MeterDomain): TMeter => ({
  id: meter.id,
  event_name: meter.eventName,
  display_name: meter.displayName,
  description: meter.description,
  aggregation_type: meter.aggregationType,
  unit_name: meter.unitName,
  billing_model: meter.billingModel,
  unique_property: meter.uniqueProperty,
  alert_thresholds: meter.alertThresholds,
  rollup_dimensions: meter.rollupDimensions,
  status: meter.archivedAt ? 'archived' : 'active',
  stripe_meter_event_name: meter.stripeMeterEventName,
  stripe_meter_id: meter.stripeMeterId,
  created_at: meter.createdAt.toISOString(),
  updated_at: meter.updatedAt.toISOString(),
  archived_at: meter.archivedAt?.toISOString() ?? null,
  plan_limits: meter.planLimits.map((l) => ({
    plan_name: l.planName,
    limit_value: l.limitValue,
    overage_price: l.overagePrice,
    soft_limit_threshold: l.softLimitThreshold,
    hard_cap: l.hardCap,
    effective_from: l.effectiveFrom.toISOString(),
  })),
});

/** A created or changed meter, with `warnings` on its plan limits when there are some (server/schemas/plan-notes.ts). */
export const ZMeterWithWarnings = ZMeter.extend({ warnings: ZWarnings.optional() });
export const withApiWarnings = (meter: MeterDomain & { warnings?: Array<{ field: string; message: string }> }): z.infer<typeof ZMeterWithWarnings> => ({
  ...toApiMeter(meter),
  ...(meter.warnings ? { warnings: meter.warnings } : {}),
});

// ---------------------------------------------------------------------------------------
// The Meters pages: limit history and the preview.

export const ZPlanLimitHistoryEntry = ZPlanLimit.extend({
  /** When this limit stopped applying (null: it is the current one). */
  effective_to: z.iso.datetime().nullable(),
});
export type TPlanLimitHistoryEntry = z.infer<typeof ZPlanLimitHistoryEntry>;

/**
 * The limits each plan has had on a meter, newest first within a plan: every plan's current
 * one and its 100 newest older ones; `older_omitted` counts, per plan, the older ones beyond.
 */
export const ZPlanLimitHistory = z.object({
  history: z.array(ZPlanLimitHistoryEntry),
  older_omitted: z.array(z.object({ plan_name: z.string(), count: z.number().int().positive() })),
});
export type TPlanLimitHistory = z.infer<typeof ZPlanLimitHistory>;

/**
 * A definition to preview: the fields of a create, plus the meter it edits (its events are
 * read by meter id; without one, by event name).
 */
export const ZMeterPreviewInput = z
  .object({
    event_name: ZEventName,
    aggregation_type: z.enum(AGGREGATION_TYPES),
    ...meterFields,
    plan_limits: planLimitsArray.default([]),
    alert_thresholds: ZAlertThresholds.default([]),
    rollup_dimensions: ZRollupDimensions.default([]),
    meter_id: z.uuid('must be a UUID').optional(),
  })
  .strict()
  .superRefine(checkMeterConsistency);
export type TMeterPreviewInput = z.infer<typeof ZMeterPreviewInput>;

export const ZMeterPreviewPlan = z.object({
  /** null: customers without a plan (never limited). */
  plan_name: z.string().nullable(),
  /** Whether the definition has a limit row for this plan (false: unlimited, as for a plan with no row). */
  in_definition: z.boolean(),
  limit_value: z.string().nullable(),
  hard_cap: z.boolean(),
  overage_price: z.string().nullable(),
  /** Customers on this plan with at least one event in the window. */
  customers: z.number().int(),
  events: z.number().int(),
  /** Sum over customers × billing periods of the meter's figure, in the meter's unit. */
  quantity: z.string(),
  soft_limit_threshold: z.string().nullable(),
  /** Customers whose figure reached soft_limit_threshold × limit in at least one of their periods (a soft-limit alert each). */
  customers_over_soft_limit: z.number().int(),
  /** Customers whose figure passed the limit in at least one of their periods. */
  customers_over_limit: z.number().int(),
  /** Hard-capped plans: the customers above that would have been refused events (else 0). */
  customers_capped: z.number().int(),
  /** Quantity beyond the limit: billed as overage, or refused under a hard cap. */
  quantity_over_limit: z.string(),
  /** quantity_over_limit × overage_price without a hard cap (a hard cap bills no overage). */
  overage_amount: z.string(),
});
export type TMeterPreviewPlan = z.infer<typeof ZMeterPreviewPlan>;

export const ZMeterPreview = z.object({
  event_name: z.string(),
  aggregation_type: z.enum(AGGREGATION_TYPES),
  unit_name: z.string(),
  /** The window read: the last 30 UTC calendar days, today included, up to now. */
  from: z.iso.datetime(),
  to: z.iso.datetime(),
  /** Raw events read (0: nothing recorded for this event name in the window). */
  events: z.number().int(),
  customers: z.number().int(),
  quantity: z.string(),
  overage_amount: z.string(),
  plans: z.array(ZMeterPreviewPlan),
  /**
   * One row per UTC day of the window: the meter's figure for that day alone (count, sum
   * and duration add up; max is the day's largest value; unique counts distinct
   * customer × value pairs of the day).
   */
  daily: z.array(z.object({ date: z.string(), events: z.number().int(), quantity: z.string() })),
});
export type TMeterPreview = z.infer<typeof ZMeterPreview>;
