import { findCustomerByUserId, insertCustomer, insertPlanChange, updateCustomerRow, type Customer, type CustomerFields } from '../../db/queries/customers.js';
import { listMeters } from '../../db/queries/meters.js';
import { listLiveCounters } from '../../db/queries/usage.js';
import { withCreator } from '../../db/tenant.js';
import type { Runtime } from '../runtime.js';
import type { TUpsertCustomerInput } from '../schemas/usage.js';
import { raiseOverageAlerts } from './alerts.js';

export type { Customer };

function fieldsOf(input: TUpsertCustomerInput): CustomerFields {
  const fields: CustomerFields = {};
  if (input.plan_name !== undefined) fields.planName = input.plan_name;
  if (input.email !== undefined) fields.email = input.email;
  if (input.name !== undefined) fields.name = input.name;
  if (input.billing_anchor !== undefined) fields.billingAnchor = input.billing_anchor === null ? null : new Date(input.billing_anchor);
  if (input.stripe_customer_id !== undefined) fields.stripeCustomerId = input.stripe_customer_id;
  if (input.stripe_subscription_items !== undefined) fields.stripeSubscriptionItems = input.stripe_subscription_items;
  if (input.tenant_id !== undefined) fields.tenantId = input.tenant_id;
  return fields;
}

/**
 * Creates or updates a customer. Fields left out stay as they are; null clears. A plan
 * change applies from now on to the current period's total (the next event is judged
 * against the new plan's limit; usage already beyond it raises its overage alert now) and
 * is kept in history.
 */
export async function upsertCustomer(rt: Runtime, creatorId: string, userId: string, input: TUpsertCustomerInput): Promise<{ customer: Customer; created: boolean }> {
  const at = rt.now();
  const fields = fieldsOf(input);
  return withCreator(rt.db, creatorId, async (tx) => {
    const existing = await findCustomerByUserId(tx, userId, { forUpdate: true });
    if (!existing) {
      const created = await insertCustomer(tx, creatorId, userId, fields, at);
      if (created) return { customer: created, created: true };
    }
    // Created concurrently by an event between our look-up and insert: update it.
    const current = existing ?? (await findCustomerByUserId(tx, userId, { forUpdate: true }))!;
    const customer = await updateCustomerRow(tx, current.id, fields, at);
    if (fields.planName !== undefined && fields.planName !== current.planName) {
      await insertPlanChange(tx, creatorId, current.id, fields.planName, at);
      // A smaller plan may leave this period's usage beyond its limits already.
      const meters = await listMeters(tx, { includeArchived: false });
      const counters = await listLiveCounters(tx, { meterIds: meters.map((m) => m.id), customerId: current.id, now: at });
      await raiseOverageAlerts(rt, tx, creatorId, meters, counters);
    }
    return { customer, created: false };
  });
}
