import { z } from 'zod';
import { ZInstantInput, ZMailbox, ZText, ZUserId } from './common.js';
import { ZDecimal } from './decimal.js';
import { ZEventName, ZPlanName } from './meters.js';

export const MAX_BATCH = 1000;
export const MAX_PROPERTIES_BYTES = 8 * 1024;
/** Objects and arrays inside one another, the properties object included. */
export const MAX_PROPERTIES_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The first forbidden key anywhere in a JSON value, as a path. */
function findForbiddenKey(value: unknown, path: string): string | null {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findForbiddenKey(value[i], `${path}[${i}]`);
      if (found) return found;
    }
  } else if (value && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) return `${path}.${key}`;
      const found = findForbiddenKey((value as Record<string, unknown>)[key], `${path}.${key}`);
      if (found) return found;
    }
  }
  return null;
}

/** Whether a JSON value nests containers deeper than `max`; iterative, so any depth is safe to ask about. */
function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

/** A string or number in a JSON value that could not be kept as sent, as what is wrong with it. */
function findBadString(value: unknown): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? 'NUL characters' : value.isWellFormed() ? null : 'invalid Unicode';
  // Past 2^53 an integer is rounded when it is read (…789 and …788 are the same number): it
  // would be stored altered, two distinct values would count once on a unique meter, and
  // two different payloads would look alike to idempotency. Such ids travel as strings.
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value) ? 'integers beyond ±9007199254740991 (they cannot be kept exactly: send them as strings)' : null;
  if (Array.isArray(value)) return value.map(findBadString).find((x) => x !== null) ?? null;
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const bad = findBadString(k) ?? findBadString(v);
      if (bad) return bad;
    }
  }
  return null;
}

export const ZProperties = z
  .custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), { error: 'must be a JSON object' })
  .superRefine((props, ctx) => {
    // Checked first: the walks below recurse, and a few thousand levels (well under 8 KB)
    // would overflow the stack and fail the request, or a whole batch, with a 500.
    if (nestsDeeperThan(props, MAX_PROPERTIES_DEPTH)) {
      ctx.addIssue({ code: 'custom', message: `must not nest objects or arrays more than ${MAX_PROPERTIES_DEPTH} deep` });
      return;
    }
    const forbidden = findForbiddenKey(props, 'properties');
    if (forbidden) ctx.addIssue({ code: 'custom', message: `must not contain the key "${forbidden.split('.').pop()}"` });
    const bad = findBadString(props);
    if (bad) ctx.addIssue({ code: 'custom', message: `must not contain ${bad}` });
    if (Buffer.byteLength(JSON.stringify(props)) > MAX_PROPERTIES_BYTES) ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_PROPERTIES_BYTES} bytes of JSON` });
  });

export const ZTimestamp = ZInstantInput('must be an RFC 3339 timestamp with Z or an offset, e.g. 2026-11-25T13:00:00Z');

export const ZTrackEvent = z
  .object({
    event_name: ZEventName,
    user_id: ZUserId,
    value: ZDecimal.optional(),
    properties: ZProperties.optional(),
    timestamp: ZTimestamp.optional(),
    idempotency_key: ZText(255).min(1, 'must not be empty').optional(),
  })
  .strict();
export type TTrackEvent = z.infer<typeof ZTrackEvent>;

export const ZUsageSnapshot = z.object({
  used: z.string(),
  limit: z.string().nullable(),
  remaining: z.string().nullable(),
  period_start: z.iso.datetime(),
  period_end: z.iso.datetime(),
});

export const ZTrackedEvent = z.object({
  id: z.uuid(),
  event_name: z.string(),
  user_id: z.string(),
  value: z.string(),
  timestamp: z.iso.datetime(),
  usage: ZUsageSnapshot,
});
export type TTrackedEvent = z.infer<typeof ZTrackedEvent>;

export const ZProblemBody = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number(),
  detail: z.string(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
}).catchall(z.unknown());

export const ZBatchResult = z.object({
  index: z.number().int(),
  status: z.number().int(),
  id: z.uuid().optional(),
  replayed: z.boolean().optional(),
  event: ZTrackedEvent.optional(),
  error: ZProblemBody.optional(),
});
export const ZBatchResponse = z.object({ results: z.array(ZBatchResult) });
export type TBatchResponse = z.infer<typeof ZBatchResponse>;

export const ZTrackBatchInput = z.array(z.unknown()).min(1, 'must hold at least one event').max(MAX_BATCH, `must hold at most ${MAX_BATCH} events`);

export const ZCheckInput = z
  .object({
    // As track judges it: a check must not allow what track refuses ("." and "..").
    user_id: ZUserId,
    event_name: ZEventName,
    value: ZDecimal.optional(),
    /**
     * The properties the event would carry: a unique meter counting a property's distinct
     * values then knows whether the value is new (without them it assumes so: the worst case).
     * Over REST, the JSON object's text, URL-encoded.
     */
    properties: ZProperties.optional(),
  })
  .strict();
export type TCheckInput = z.infer<typeof ZCheckInput>;

export const ZCheckResult = z.object({
  allowed: z.boolean(),
  used: z.string(),
  limit: z.string().nullable(),
  remaining: z.string().nullable(),
  hard_cap: z.boolean(),
  period_start: z.iso.datetime(),
  period_end: z.iso.datetime(),
});
export type TCheckResult = z.infer<typeof ZCheckResult>;

export const ZUpsertCustomerInput = z
  .object({
    plan_name: ZPlanName.nullable().optional(),
    email: ZMailbox.nullable().optional(),
    name: ZText(200).nullable().optional(),
    billing_anchor: ZTimestamp.nullable().optional(),
    stripe_customer_id: ZText(255).regex(/^cus_[A-Za-z0-9]+$/, 'must look like cus_…').nullable().optional(),
    stripe_subscription_items: z
      // zod drops a "__proto__" key from records without a word; refuse it instead of
      // answering success for a mapping that was never stored.
      .custom<unknown>((v) => !(typeof v === 'object' && v !== null && Object.hasOwn(v, '__proto__')), { error: 'must not contain the key "__proto__"' })
      .pipe(
        z
          .record(ZEventName, ZText(255).regex(/^si_[A-Za-z0-9]+$/, 'must look like si_…'))
          .refine((r) => Object.keys(r).length <= 100, 'at most 100 items'),
      )
      // null clears the mapping, as null clears every other field.
      .nullable()
      .optional(),
    tenant_id: ZText(256).min(1).nullable().optional(),
  })
  .strict();
export type TUpsertCustomerInput = z.infer<typeof ZUpsertCustomerInput>;

export { ZWarnings } from './common.js';

export const ZCustomer = z.object({
  user_id: z.string(),
  plan_name: z.string().nullable(),
  email: z.string().nullable(),
  name: z.string().nullable(),
  billing_anchor: z.iso.datetime().nullable(),
  stripe_customer_id: z.string().nullable(),
  stripe_subscription_items: z.record(z.string(), z.string()),
  tenant_id: z.string().nullable(),
  created_at: z.iso.datetime(),
  updated_at: z.iso.datetime(),
});
export type TCustomer = z.infer<typeof ZCustomer>;

export const ZCustomerUsageInput = z
  .object({
    user_id: ZText(256).min(1),
    period: z.enum(['current', 'previous']).default('current'),
  })
  .strict();

export const ZCustomerUsage = z.object({
  user_id: z.string(),
  plan_name: z.string().nullable(),
  period_start: z.iso.datetime(),
  period_end: z.iso.datetime(),
  meters: z.array(
    z.object({
      meter_id: z.uuid(),
      event_name: z.string(),
      used: z.string(),
      limit: z.string().nullable(),
      remaining: z.string().nullable(),
      overage_quantity: z.string(),
      overage_amount: z.string(),
    }),
  ),
});
export type TCustomerUsage = z.infer<typeof ZCustomerUsage>;

export const ZSettings = z.object({ default_plan: z.string().nullable(), late_event_grace_hours: z.number().int() });
export type TSettings = z.infer<typeof ZSettings>;
export const ZUpdateSettingsInput = z
  .object({
    default_plan: ZPlanName.nullable().optional(),
    late_event_grace_hours: z.number({ error: 'must be a whole number of hours' }).int('must be a whole number of hours').min(0, 'must be ≥ 0').max(24 * 35, 'must be at most 840 (35 days)').optional(),
  })
  .strict();
export type TUpdateSettingsInput = z.infer<typeof ZUpdateSettingsInput>;

export const ZCreateTokenInput = z
  .object({
    user_id: ZUserId,
    ttl_seconds: z.number({ error: 'must be a number of seconds' }).int('must be whole seconds').min(1, 'must be ≥ 1').max(86_400, 'must be at most 86400 (a day)').default(3600),
  })
  .strict();
export const ZToken = z.object({ token: z.string(), expires_at: z.iso.datetime() });
