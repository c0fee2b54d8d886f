import { isDeepStrictEqual } from 'node:util';
import { findCustomerByUserId, insertCustomer, insertPlanChange, updateCustomerRow, type Customer, type CustomerFields } from '../../db/queries/customers.js';
import { listMeters } from '../../db/queries/meters.js';
import { ensureSettings } from '../../db/queries/settings.js';
import { listCustomerPeriodsEndingAfter, listLiveCounters } from '../../db/queries/usage.js';
import type { Tx } from '../../db/client.js';
import { lockCreatorConfig, withCreator } from '../../db/tenant.js';
import { conflict } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { TUpsertCustomerInput } from '../schemas/usage.js';
import { unlimitedPlanNote, withWarnings, type Warning } from '../schemas/plan-notes.js';
import { raiseLimitChangeAlerts } from './alerts.js';
import { periodAt, periodConflictsWithAnchor, type Period } from './periods.js';

export type { Customer };

/** Whether `fields` would change anything of `customer` (anchors by instant, subscription items by content). */
function changes(customer: Customer, fields: CustomerFields): boolean {
  const same = {
    planName: () => fields.planName === customer.planName,
    email: () => fields.email === customer.email,
    name: () => fields.name === customer.name,
    billingAnchor: () => (fields.billingAnchor?.getTime() ?? null) === (customer.billingAnchor?.getTime() ?? null),
    stripeCustomerId: () => fields.stripeCustomerId === customer.stripeCustomerId,
    stripeSubscriptionItems: () => isDeepStrictEqual(fields.stripeSubscriptionItems, customer.stripeSubscriptionItems),
    tenantId: () => fields.tenantId === customer.tenantId,
  } satisfies Record<keyof CustomerFields, () => boolean>;
  return (Object.keys(fields) as Array<keyof CustomerFields>).some((key) => fields[key] !== undefined && !same[key]());
}

function fieldsOf(input: TUpsertCustomerInput): CustomerFields {
  const fields: CustomerFields = {};
  if (input.plan_name !== undefined) fields.planName = input.plan_name;
  if (input.email !== undefined) fields.email = input.email;
  if (input.name !== undefined) fields.name = input.name;
  if (input.billing_anchor !== undefined) fields.billingAnchor = input.billing_anchor === null ? null : new Date(input.billing_anchor);
  if (input.stripe_customer_id !== undefined) fields.stripeCustomerId = input.stripe_customer_id;
  if (input.stripe_subscription_items !== undefined) fields.stripeSubscriptionItems = input.stripe_subscription_items ?? {};
  if (input.tenant_id !== undefined) fields.tenantId = input.tenant_id;
  return fields;
}

/**
 * A period with usage that `anchor` would give other bounds while it still matters (null:
 * none): one still open to events, or a closed one that a period still open to events under
 * `anchor` would overlap — events of the overlap would then count in two periods' usage (two
 * limits' worth of quota for the same days, billed in both).
 */
export async function periodAnchorWouldMove(tx: Tx, creatorId: string, customerId: string, anchor: Date | null, at: Date): Promise<Period | null> {
  const settings = await ensureSettings(tx, creatorId);
  const openFrom = new Date(at.getTime() - settings.lateEventGraceHours * 3_600_000);
  // Only periods ending after the earliest one still taking events under `anchor` can conflict.
  const recorded = await listCustomerPeriodsEndingAfter(tx, customerId, periodAt(openFrom, anchor).start);
  return recorded.find((period) => periodConflictsWithAnchor(period, anchor, openFrom)) ?? null;
}

/**
 * A new billing anchor may not cut across a period that still takes events (the current
 * one, or one within the late-event grace) and has usage recorded: its counter is keyed
 * by the period's start, so the usage would fall out of every figure under the new
 * periods — a hard cap passed twice over, overage and Stripe reports lost. Nor may it start
 * a period still taking events inside a closed period with usage (that usage billed, and the
 * same days metered again under the new period's limit). Such a change is refused (409)
 * until a re-partition of recorded usage exists; an anchor that gives those periods
 * unchanged, or a customer without such usage, changes freely.
 */
async function assertAnchorKeepsPeriods(tx: Tx, creatorId: string, customer: Customer, anchor: Date | null, at: Date): Promise<void> {
  const moved = await periodAnchorWouldMove(tx, creatorId, customer.id, anchor, at);
  if (moved) {
    throw conflict(
      'billing_anchor_in_use',
      `This customer has usage recorded in the billing period ${moved.start.toISOString()} – ${moved.end.toISOString()}; the new billing anchor would give that period other bounds while it, or a new period overlapping it, still takes events — usage would move between periods or the same days be metered twice, which is not supported. Set the anchor before the customer's first event, or choose one whose periods still taking events start after that period ends.`,
      'billing_anchor',
    );
  }
}

/**
 * Creates or updates a customer. Fields left out stay as they are; null clears. A plan
 * change applies from now on to the current period's total (the next event is judged
 * against the new plan's limit; usage already beyond it raises its overage alert now) and
 * is kept in history.
 */
export async function upsertCustomer(
  rt: Runtime,
  creatorId: string,
  userId: string,
  input: TUpsertCustomerInput,
): Promise<{ customer: Customer; created: boolean; warnings?: Warning[] }> {
  const fields = fieldsOf(input);
  return withCreator(rt.db, creatorId, async (tx) => {
    const result = await upsertCustomerIn(tx, rt, creatorId, userId, fields);
    const warnings: Warning[] = [];
    // A plan given that no meter has limits for is kept (that is how a plan is unlimited), and said.
    const note = fields.planName ? unlimitedPlanNote(fields.planName, await livePlanNames(tx), 'customer') : null;
    if (note) warnings.push({ field: 'plan_name', message: note });
    // Subscription items are matched to meters by event name: one no live meter has sets no quantity.
    const items = Object.keys(fields.stripeSubscriptionItems ?? {});
    if (items.length > 0) {
      const meters = await listMeters(tx, { includeArchived: false });
      for (const name of items.filter((n) => !meters.some((m) => m.eventName === n))) {
        warnings.push({
          field: `stripe_subscription_items.${name}`,
          message: `names no live meter: the item is tied to no usage (items are matched to meters by event_name; live meters: ${meters.length === 0 ? 'none' : meters.slice(0, 20).map((m) => m.eventName).join(', ') + (meters.length > 20 ? ', …' : '')}).`,
        });
      }
    }
    return withWarnings(result, warnings);
  });
}

/** The plan names the live meters give limits for. */
export async function livePlanNames(tx: Tx): Promise<string[]> {
  return [...new Set((await listMeters(tx, { includeArchived: false })).flatMap((m) => m.planLimits.map((l) => l.planName)))].sort();
}

async function upsertCustomerIn(tx: Tx, rt: Runtime, creatorId: string, userId: string, fields: CustomerFields): Promise<{ customer: Customer; created: boolean }> {
  // A plan or anchor changes how events are judged: not while a group judges them (db/tenant.ts).
  // Otherwise shared, as a group holds it: a new customer takes the default plan in force.
  await lockCreatorConfig(tx, creatorId, fields.planName !== undefined || fields.billingAnchor !== undefined ? 'exclusive' : 'shared');
  // Read once the lock is held: events committed while the change waited were judged by the
  // plan it replaces, so its history starts after them.
  const at = rt.now();
  const existing = await findCustomerByUserId(tx, userId, { forUpdate: true });
  if (!existing) {
    // A customer created without a plan is on the creator's default plan, as one first seen
    // through an event is (and as the check API judged it until now); null says no plan.
    const planName = fields.planName !== undefined ? fields.planName : (await ensureSettings(tx, creatorId)).defaultPlan;
    const created = await insertCustomer(tx, creatorId, userId, { ...fields, planName }, at);
    if (created) return { customer: created, created: true };
  }
  // Created concurrently by an event between our look-up and insert: update it.
  const current = existing ?? (await findCustomerByUserId(tx, userId, { forUpdate: true }))!;
  if (fields.billingAnchor !== undefined && fields.billingAnchor?.getTime() !== current.billingAnchor?.getTime()) {
    await assertAnchorKeepsPeriods(tx, creatorId, current, fields.billingAnchor, at);
  }
  // A PUT naming only what the customer already has changes nothing, updated_at included.
  if (!changes(current, fields)) return { customer: current, created: false };
  const customer = await updateCustomerRow(tx, current.id, fields, at);
  if (fields.planName !== undefined && fields.planName !== current.planName) {
    await insertPlanChange(tx, creatorId, current.id, fields.planName, at);
    // A smaller plan may leave this period's usage beyond its limits already.
    const meters = await listMeters(tx, { includeArchived: false });
    const counters = await listLiveCounters(tx, { meterIds: meters.map((m) => m.id), customerId: current.id, now: at });
    await raiseLimitChangeAlerts(rt, tx, creatorId, meters, counters);
  }
  return { customer, created: false };
}
