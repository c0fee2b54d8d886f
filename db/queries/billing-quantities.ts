import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { customers, usageBillingQuantities, type BillingSyncStatus } from '../schema.js';

/** One quantity set on a Stripe subscription item for a licensed meter (ADR 0013, licensed meters). */
export type BillingQuantity = typeof usageBillingQuantities.$inferSelect;
export type NewBillingQuantity = typeof usageBillingQuantities.$inferInsert;

const pairOf = (meterId: string, customerId: string) => and(eq(usageBillingQuantities.meterId, meterId), eq(usageBillingQuantities.customerId, customerId));

/** The oldest quantity set of a customer × meter still to be sent (at most one is written at a time). */
export async function findOpenQuantity(tx: Queryable, meterId: string, customerId: string): Promise<BillingQuantity | null> {
  const [row] = await tx
    .select()
    .from(usageBillingQuantities)
    .where(and(pairOf(meterId, customerId), inArray(usageBillingQuantities.status, ['pending', 'in_flight'])))
    .orderBy(asc(usageBillingQuantities.sequence))
    .limit(1);
  return row ?? null;
}

/** The last sequence number of a customer × meter (0: none yet). */
export async function lastQuantitySequence(tx: Queryable, meterId: string, customerId: string): Promise<number> {
  const [row] = await tx.select({ sequence: usageBillingQuantities.sequence }).from(usageBillingQuantities).where(pairOf(meterId, customerId)).orderBy(desc(usageBillingQuantities.sequence)).limit(1);
  return row?.sequence ?? 0;
}

/** The last quantity Stripe accepted for this subscription item (through this account), or null. */
export async function findLastSetQuantity(tx: Queryable, meterId: string, customerId: string, subscriptionItemId: string, stripeAccountId: string | null): Promise<BillingQuantity | null> {
  const [row] = await tx
    .select()
    .from(usageBillingQuantities)
    .where(
      and(
        pairOf(meterId, customerId),
        eq(usageBillingQuantities.status, 'succeeded'),
        eq(usageBillingQuantities.stripeSubscriptionItemId, subscriptionItemId),
        sql`${usageBillingQuantities.stripeAccountId} is not distinct from ${stripeAccountId}`,
      ),
    )
    .orderBy(desc(usageBillingQuantities.sequence))
    .limit(1);
  return row ?? null;
}

export async function insertQuantity(tx: Queryable, row: NewBillingQuantity): Promise<BillingQuantity> {
  const [inserted] = await tx.insert(usageBillingQuantities).values(row).returning();
  return inserted!;
}

export async function lockQuantity(tx: Queryable, quantityId: string): Promise<BillingQuantity | null> {
  const [row] = await tx.select().from(usageBillingQuantities).where(eq(usageBillingQuantities.quantityId, quantityId)).for('update');
  return row ?? null;
}

export async function updateQuantity(
  tx: Queryable,
  quantityId: string,
  patch: Partial<Pick<BillingQuantity, 'attempts' | 'lastError' | 'stripeRequestId' | 'stripeQuantity' | 'reportedAt' | 'sendingUntil'>> & { status?: BillingSyncStatus },
): Promise<void> {
  await tx.update(usageBillingQuantities).set(patch).where(eq(usageBillingQuantities.quantityId, quantityId));
}

/** Per customer × meter with quantity sets: its latest row, and the latest one Stripe accepted. */
export async function listQuantityStatus(tx: Queryable): Promise<Array<{ latest: BillingQuantity; lastSet: BillingQuantity | null }>> {
  const rows = await tx.select().from(usageBillingQuantities).orderBy(asc(usageBillingQuantities.meterId), asc(usageBillingQuantities.customerId), desc(usageBillingQuantities.sequence));
  const byPair = new Map<string, { latest: BillingQuantity; lastSet: BillingQuantity | null }>();
  for (const row of rows) {
    const key = `${row.meterId}|${row.customerId}`;
    const entry = byPair.get(key);
    if (!entry) byPair.set(key, { latest: row, lastSet: row.status === 'succeeded' ? row : null });
    else if (!entry.lastSet && row.status === 'succeeded') entry.lastSet = row;
  }
  return [...byPair.values()];
}

/**
 * Customers a licensed meter concerns: those carrying a subscription item for one of these
 * event names, and those with usage of one of these meters in a period not yet ended (they
 * use it, and cannot be billed for it without an item).
 */
export async function listLicensedCustomers(tx: Queryable, creatorId: string, eventNames: string[], meterIds: string[], now: Date) {
  if (eventNames.length === 0) return [];
  return tx
    .select({
      id: customers.customerId,
      userId: customers.userId,
      billingAnchor: customers.billingAnchor,
      stripeSubscriptionItems: customers.stripeSubscriptionItems,
    })
    .from(customers)
    .where(
      sql`(${customers.stripeSubscriptionItems} ?| ${`{${eventNames.map((n) => `"${n}"`).join(',')}}`}::text[]
        or exists (select 1 from usage_aggregates a where a.creator_id = ${creatorId} and a.customer_id = ${customers.customerId} and a."window" = 'period'
          and a.window_end > ${now.toISOString()}::timestamptz and a.meter_id = any(${`{${meterIds.join(',')}}`}::uuid[])))`,
    );
}
