import { z } from 'zod';
import { AGGREGATION_TYPES } from '../../db/schema.js';
import { ZInstantInput, ZLimit, ZText } from './common.js';
import { ZCustomer } from './usage.js';

/** Opaque keyset cursors: base64url JSON the server wrote; anything else is refused by name. */
const ZCursor = ZText(2000).regex(/^[A-Za-z0-9_-]+$/, 'is not a cursor this list gave');

export const TOP_SORTS = ['usage', 'percent', 'overage', 'user_id'] as const;
export type TopSort = (typeof TOP_SORTS)[number];
export const PERIODS = ['current', 'previous'] as const;

export const ZTopCustomersInput = z
  .object({
    meter_id: z.uuid('must be a UUID'),
    period: z.enum(PERIODS, { error: 'must be current or previous' }).default('current'),
    /** Case-insensitive prefix of the user id, email or name. */
    search: ZText(256).trim().optional(),
    sort: z.enum(TOP_SORTS, { error: `must be one of ${TOP_SORTS.join(', ')}` }).default('usage'),
    limit: ZLimit(100, 25),
    cursor: ZCursor.optional(),
  })
  .strict();
export type TTopCustomersInput = z.input<typeof ZTopCustomersInput>;

export const ZTopCustomer = z.object({
  user_id: z.string(),
  email: z.string().nullable(),
  name: z.string().nullable(),
  plan_name: z.string().nullable(),
  period_start: z.iso.datetime(),
  period_end: z.iso.datetime(),
  /** In the meter's unit. */
  used: z.string(),
  limit: z.string().nullable(),
  /** used / limit × 100, two decimals (null: no limit). */
  percent_of_limit: z.string().nullable(),
  overage_quantity: z.string(),
  overage_amount: z.string(),
  event_count: z.number().int(),
});
export type TTopCustomer = z.infer<typeof ZTopCustomer>;

export const ZTopCustomers = z.object({
  meter: z.object({ id: z.uuid(), event_name: z.string(), display_name: z.string(), unit_name: z.string(), aggregation_type: z.enum(AGGREGATION_TYPES) }),
  period: z.enum(PERIODS),
  sort: z.enum(TOP_SORTS),
  /** Customers with a counter on this meter in the period (matching the search). */
  total: z.number().int(),
  customers: z.array(ZTopCustomer),
  next_cursor: z.string().nullable(),
});
export type TTopCustomers = z.infer<typeof ZTopCustomers>;

export const ZCustomerGetInput = z.object({ user_id: ZText(256).min(1, 'must not be empty') }).strict();

export const ZCustomerMeterUsage = z.object({
  meter_id: z.uuid(),
  event_name: z.string(),
  display_name: z.string(),
  aggregation_type: z.enum(AGGREGATION_TYPES),
  unit_name: z.string(),
  archived: z.boolean(),
  used: z.string(),
  limit: z.string().nullable(),
  remaining: z.string().nullable(),
  percent_of_limit: z.string().nullable(),
  soft_limit_threshold: z.string().nullable(),
  hard_cap: z.boolean(),
  overage_price: z.string().nullable(),
  overage_quantity: z.string(),
  overage_amount: z.string(),
  /** Accepted events behind `used` in the current period. */
  event_count: z.number().int(),
});
export type TCustomerMeterUsage = z.infer<typeof ZCustomerMeterUsage>;

export const ZCustomerDetail = z.object({
  customer: ZCustomer,
  period_start: z.iso.datetime(),
  period_end: z.iso.datetime(),
  meters: z.array(ZCustomerMeterUsage),
  /** Earlier billing periods (newest first, up to 6) per meter, from the period counters. */
  history: z.array(z.object({ meter_id: z.uuid(), period_start: z.iso.datetime(), period_end: z.iso.datetime(), used: z.string(), event_count: z.number().int() })),
  /** Daily totals of the current period per meter, from the day rollups. */
  daily: z.array(z.object({ meter_id: z.uuid(), day: z.iso.datetime(), used: z.string(), event_count: z.number().int() })),
});
export type TCustomerDetail = z.infer<typeof ZCustomerDetail>;

export const ZCustomerEventsInput = z
  .object({
    user_id: ZText(256).min(1, 'must not be empty'),
    meter_id: z.uuid('must be a UUID').optional(),
    from: ZInstantInput('must be an RFC 3339 timestamp, e.g. 2026-11-25T13:00:00Z').optional(),
    to: ZInstantInput('must be an RFC 3339 timestamp, e.g. 2026-11-25T13:00:00Z').optional(),
    property_key: ZText(200).min(1, 'must not be empty').optional(),
    /** Matched as a string, and as a number or boolean when it reads as one ("42" finds 42 and "42"). */
    property_value: ZText(1000).optional(),
    limit: ZLimit(100, 50),
    cursor: ZCursor.optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.from && input.to && new Date(input.from) > new Date(input.to)) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
    if (input.property_value !== undefined && input.property_key === undefined) ctx.addIssue({ code: 'custom', path: ['property_key'], message: 'is required with a property value' });
    if (input.property_key !== undefined && input.property_value === undefined) ctx.addIssue({ code: 'custom', path: ['property_value'], message: 'is required with a property key' });
  });
export type TCustomerEventsInput = z.input<typeof ZCustomerEventsInput>;

export const ZCustomerEvent = z.object({
  id: z.uuid(),
  meter_id: z.uuid(),
  event_name: z.string(),
  value: z.string(),
  /** What the event added to its period's total, in the meter's unit (max: its value; unique: 1 when new, else 0). */
  counted: z.string(),
  new_distinct: z.boolean(),
  idempotency_key: z.string().nullable(),
  /** The event's properties object, as sent. */
  properties: z.unknown(),
  occurred_at: z.iso.datetime(),
  received_at: z.iso.datetime(),
});
export type TCustomerEvent = z.infer<typeof ZCustomerEvent>;

export const ZCustomerEvents = z.object({ events: z.array(ZCustomerEvent), next_cursor: z.string().nullable() });
export type TCustomerEvents = z.infer<typeof ZCustomerEvents>;
