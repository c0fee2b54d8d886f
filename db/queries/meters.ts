import { and, asc, eq, gt, inArray, isNull, lte, or } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { meterPlanLimits, usageAggregates, usageMeters, type AggregationType, type BillingModel } from '../schema.js';

export type PlanLimit = {
  planName: string;
  limitValue: string | null;
  overagePrice: string | null;
  softLimitThreshold: string | null;
  hardCap: boolean;
  effectiveFrom: Date;
};

export type Meter = {
  id: string;
  creatorId: string;
  eventName: string;
  displayName: string;
  description: string;
  aggregationType: AggregationType;
  unitName: string;
  billingModel: BillingModel;
  uniqueProperty: string | null;
  /** Extra alert thresholds, fractions of the limit, ascending. */
  alertThresholds: string[];
  rollupDimensions: string[];
  /** The Stripe Billing Meter event_name this meter reports to (null: not billed through Stripe). */
  stripeMeterEventName: string | null;
  stripeMeterId: string | null;
  createdAt: Date;
  updatedAt: Date;
  archivedAt: Date | null;
  planLimits: PlanLimit[];
};

type MeterRow = typeof usageMeters.$inferSelect;
type LimitRow = typeof meterPlanLimits.$inferSelect;

const fromDbLimit = (row: LimitRow): PlanLimit => ({
  planName: row.planName,
  limitValue: row.limitValue,
  overagePrice: row.overagePrice,
  softLimitThreshold: row.softLimitThreshold,
  hardCap: row.hardCap,
  effectiveFrom: row.effectiveFrom,
});

const fromDbMeter = (row: MeterRow, limits: LimitRow[]): Meter => ({
  id: row.meterId,
  creatorId: row.creatorId,
  eventName: row.eventName,
  displayName: row.displayName,
  description: row.description,
  aggregationType: row.aggregationType,
  unitName: row.unitName,
  billingModel: row.billingModel,
  uniqueProperty: row.uniqueProperty,
  alertThresholds: row.alertThresholds,
  rollupDimensions: row.rollupDimensions,
  stripeMeterEventName: row.stripeMeterEventName,
  stripeMeterId: row.stripeMeterId,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
  archivedAt: row.archivedAt,
  planLimits: limits.filter((l) => l.meterId === row.meterId).map(fromDbLimit),
});

export type NewMeter = Omit<Meter, 'createdAt' | 'updatedAt' | 'archivedAt' | 'planLimits' | 'stripeMeterEventName' | 'stripeMeterId'>;
export type NewPlanLimit = Omit<PlanLimit, 'effectiveFrom'>;

export async function insertMeter(tx: Queryable, meter: NewMeter, at: Date): Promise<void> {
  await tx.insert(usageMeters).values({
    creatorId: meter.creatorId,
    meterId: meter.id,
    eventName: meter.eventName,
    displayName: meter.displayName,
    description: meter.description,
    aggregationType: meter.aggregationType,
    unitName: meter.unitName,
    billingModel: meter.billingModel,
    uniqueProperty: meter.uniqueProperty,
    alertThresholds: meter.alertThresholds,
    rollupDimensions: meter.rollupDimensions,
    createdAt: at,
    updatedAt: at,
  });
}

/** Ends the current limit of each named plan at `at` (history keeps them). */
export async function closePlanLimits(tx: Queryable, meterId: string, planNames: string[], at: Date): Promise<number> {
  if (planNames.length === 0) return 0;
  const closed = await tx
    .update(meterPlanLimits)
    .set({ effectiveTo: at })
    .where(and(eq(meterPlanLimits.meterId, meterId), inArray(meterPlanLimits.planName, planNames), isNull(meterPlanLimits.effectiveTo)))
    .returning({ id: meterPlanLimits.limitId });
  return closed.length;
}

export async function insertPlanLimits(tx: Queryable, creatorId: string, meterId: string, limits: NewPlanLimit[], at: Date): Promise<void> {
  if (limits.length === 0) return;
  await tx.insert(meterPlanLimits).values(
    limits.map((l) => ({
      creatorId,
      limitId: crypto.randomUUID(),
      meterId,
      planName: l.planName,
      limitValue: l.limitValue,
      overagePrice: l.overagePrice,
      softLimitThreshold: l.softLimitThreshold,
      hardCap: l.hardCap,
      effectiveFrom: at,
    })),
  );
}

async function currentLimitsOf(tx: Queryable, meterIds: string[]): Promise<LimitRow[]> {
  if (meterIds.length === 0) return [];
  return tx
    .select()
    .from(meterPlanLimits)
    .where(and(inArray(meterPlanLimits.meterId, meterIds), isNull(meterPlanLimits.effectiveTo)))
    .orderBy(asc(meterPlanLimits.planName));
}

export async function listMeters(tx: Queryable, options: { includeArchived: boolean }): Promise<Meter[]> {
  const rows = await tx
    .select()
    .from(usageMeters)
    .where(options.includeArchived ? undefined : isNull(usageMeters.archivedAt))
    .orderBy(asc(usageMeters.createdAt), asc(usageMeters.eventName));
  const limits = await currentLimitsOf(tx, rows.map((r) => r.meterId));
  return rows.map((r) => fromDbMeter(r, limits));
}

export async function findMeter(tx: Queryable, meterId: string, options: { forUpdate?: boolean } = {}): Promise<Meter | null> {
  const query = tx.select().from(usageMeters).where(eq(usageMeters.meterId, meterId));
  const [row] = options.forUpdate ? await query.for('update') : await query;
  if (!row) return null;
  return fromDbMeter(row, await currentLimitsOf(tx, [row.meterId]));
}

/** Live meters for these event names, with their current plan limits (ingestion). */
export async function findActiveMetersByEventNames(tx: Queryable, eventNames: string[]): Promise<Meter[]> {
  if (eventNames.length === 0) return [];
  const rows = await tx
    .select()
    .from(usageMeters)
    .where(and(inArray(usageMeters.eventName, eventNames), isNull(usageMeters.archivedAt)));
  const limits = await currentLimitsOf(tx, rows.map((r) => r.meterId));
  return rows.map((r) => fromDbMeter(r, limits));
}

export async function updateMeterRow(
  tx: Queryable,
  meterId: string,
  patch: Partial<Pick<Meter, 'displayName' | 'description' | 'unitName' | 'billingModel' | 'alertThresholds' | 'rollupDimensions' | 'stripeMeterEventName' | 'stripeMeterId'>>,
  at: Date,
): Promise<void> {
  await tx.update(usageMeters).set({ ...patch, updatedAt: at }).where(eq(usageMeters.meterId, meterId));
}

export async function archiveMeterRow(tx: Queryable, meterId: string, at: Date): Promise<boolean> {
  const rows = await tx
    .update(usageMeters)
    .set({ archivedAt: at, updatedAt: at })
    .where(and(eq(usageMeters.meterId, meterId), isNull(usageMeters.archivedAt)))
    .returning({ id: usageMeters.meterId });
  return rows.length > 0;
}

/** The limit a plan had on a meter at a moment (history), for past periods' overage. */
export async function findPlanLimitAt(tx: Queryable, meterId: string, planName: string, at: Date): Promise<PlanLimit | null> {
  const [row] = await tx
    .select()
    .from(meterPlanLimits)
    .where(
      and(
        eq(meterPlanLimits.meterId, meterId),
        eq(meterPlanLimits.planName, planName),
        lte(meterPlanLimits.effectiveFrom, at),
        or(isNull(meterPlanLimits.effectiveTo), gt(meterPlanLimits.effectiveTo, at)),
      ),
    )
    .limit(1);
  return row ? fromDbLimit(row) : null;
}

/** Whether a meter has recorded any event (any customer, any period). */
export async function meterHasUsage(tx: Queryable, meterId: string): Promise<boolean> {
  const [row] = await tx
    .select({ meterId: usageAggregates.meterId })
    .from(usageAggregates)
    .where(and(eq(usageAggregates.meterId, meterId), gt(usageAggregates.eventCount, 0)))
    .limit(1);
  return row !== undefined;
}
