import { and, asc, desc, eq, inArray, lte } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { customerPlanChanges, customers } from '../schema.js';

export type Customer = {
  id: string;
  creatorId: string;
  userId: string;
  planName: string | null;
  email: string | null;
  name: string | null;
  billingAnchor: Date | null;
  stripeCustomerId: string | null;
  stripeSubscriptionItems: Record<string, string>;
  tenantId: string | null;
  createdAt: Date;
  updatedAt: Date;
};

const fromDb = (row: typeof customers.$inferSelect): Customer => ({
  id: row.customerId,
  creatorId: row.creatorId,
  userId: row.userId,
  planName: row.planName,
  email: row.email,
  name: row.name,
  billingAnchor: row.billingAnchor,
  stripeCustomerId: row.stripeCustomerId,
  stripeSubscriptionItems: row.stripeSubscriptionItems,
  tenantId: row.tenantId,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

export async function findCustomerByUserId(tx: Queryable, userId: string, options: { forUpdate?: boolean } = {}): Promise<Customer | null> {
  const query = tx.select().from(customers).where(eq(customers.userId, userId));
  const [row] = options.forUpdate ? await query.for('update') : await query;
  return row ? fromDb(row) : null;
}

export async function findCustomerById(tx: Queryable, customerId: string): Promise<Customer | null> {
  const [row] = await tx.select().from(customers).where(eq(customers.customerId, customerId));
  return row ? fromDb(row) : null;
}

export async function findCustomersByUserIds(tx: Queryable, userIds: string[]): Promise<Customer[]> {
  if (userIds.length === 0) return [];
  return (await tx.select().from(customers).where(inArray(customers.userId, userIds))).map(fromDb);
}

export type CustomerFields = Partial<Omit<Customer, 'id' | 'creatorId' | 'userId' | 'createdAt' | 'updatedAt'>>;

export async function insertCustomer(tx: Queryable, creatorId: string, userId: string, fields: CustomerFields, at: Date): Promise<Customer | null> {
  const [row] = await tx
    .insert(customers)
    .values({ creatorId, customerId: crypto.randomUUID(), userId, ...fields, createdAt: at, updatedAt: at })
    .onConflictDoNothing()
    .returning();
  if (!row) return null;
  await tx.insert(customerPlanChanges).values({ creatorId, customerId: row.customerId, planName: row.planName, effectiveFrom: at }).onConflictDoNothing();
  return fromDb(row);
}

/**
 * Customers first seen through events, on the default plan; existing ones untouched.
 * Sorted inserts keep concurrent groups from deadlocking on each other.
 */
export async function insertMissingCustomers(tx: Queryable, creatorId: string, userIds: string[], planName: string | null, at: Date): Promise<string[]> {
  if (userIds.length === 0) return [];
  const sorted = [...new Set(userIds)].sort();
  const inserted = await tx
    .insert(customers)
    .values(sorted.map((userId) => ({ creatorId, customerId: crypto.randomUUID(), userId, planName, createdAt: at, updatedAt: at })))
    .onConflictDoNothing()
    .returning({ customerId: customers.customerId });
  if (inserted.length > 0) {
    await tx
      .insert(customerPlanChanges)
      .values(inserted.map((c) => ({ creatorId, customerId: c.customerId, planName, effectiveFrom: at })))
      .onConflictDoNothing();
  }
  return inserted.map((c) => c.customerId);
}

/** Removes customers this transaction created for events that were all refused. */
export async function deleteNewCustomers(tx: Queryable, customerIds: string[]): Promise<void> {
  if (customerIds.length === 0) return;
  await tx.delete(customerPlanChanges).where(inArray(customerPlanChanges.customerId, customerIds));
  await tx.delete(customers).where(inArray(customers.customerId, customerIds));
}

export async function updateCustomerRow(tx: Queryable, customerId: string, fields: CustomerFields, at: Date): Promise<Customer> {
  const [row] = await tx.update(customers).set({ ...fields, updatedAt: at }).where(eq(customers.customerId, customerId)).returning();
  return fromDb(row!);
}

export async function insertPlanChange(tx: Queryable, creatorId: string, customerId: string, planName: string | null, at: Date): Promise<void> {
  await tx
    .insert(customerPlanChanges)
    .values({ creatorId, customerId, planName, effectiveFrom: at })
    .onConflictDoUpdate({
      target: [customerPlanChanges.creatorId, customerPlanChanges.customerId, customerPlanChanges.effectiveFrom],
      set: { planName },
    });
}

/**
 * The plan a customer was on at a moment (null: none). Before the customer existed, the
 * plan it was created on: a customer first seen through a late event back-dated into a
 * closed period (or created to back-fill one) had that period's usage judged on it.
 */
export async function findPlanAt(tx: Queryable, customerId: string, at: Date): Promise<string | null> {
  const plans = () => tx.select({ planName: customerPlanChanges.planName }).from(customerPlanChanges);
  const [row] = await plans()
    .where(and(eq(customerPlanChanges.customerId, customerId), lte(customerPlanChanges.effectiveFrom, at)))
    .orderBy(desc(customerPlanChanges.effectiveFrom))
    .limit(1);
  if (row) return row.planName;
  const [first] = await plans().where(eq(customerPlanChanges.customerId, customerId)).orderBy(asc(customerPlanChanges.effectiveFrom)).limit(1);
  return first?.planName ?? null;
}
