import { and, desc, eq, lt, ne, sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { alertMutes, usageAlerts, type AlertKind, type AlertStatus } from '../schema.js';

export type Alert = {
  id: string;
  creatorId: string;
  meterId: string;
  customerId: string;
  kind: AlertKind;
  threshold: string;
  periodStart: Date;
  periodEnd: Date;
  used: string;
  limitValue: string;
  status: AlertStatus;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  resolvedAt: Date | null;
  createdAt: Date;
};

const fromDb = (row: typeof usageAlerts.$inferSelect): Alert => ({
  id: row.alertId,
  creatorId: row.creatorId,
  meterId: row.meterId,
  customerId: row.customerId,
  kind: row.kind,
  threshold: row.threshold,
  periodStart: row.periodStart,
  periodEnd: row.periodEnd,
  used: row.used,
  limitValue: row.limitValue,
  status: row.status,
  acknowledgedAt: row.acknowledgedAt,
  acknowledgedBy: row.acknowledgedBy,
  resolvedAt: row.resolvedAt,
  createdAt: row.createdAt,
});

export type NewAlert = Omit<Alert, 'id' | 'status' | 'acknowledgedAt' | 'acknowledgedBy' | 'resolvedAt' | 'createdAt'>;

/** Inserts the alerts that do not exist yet (the unique key makes each fire once); returns the new ones. */
export async function insertAlertsOnce(tx: Queryable, alerts: NewAlert[], at: Date): Promise<Alert[]> {
  if (alerts.length === 0) return [];
  const rows = await tx
    .insert(usageAlerts)
    .values(
      alerts.map((a) => ({
        creatorId: a.creatorId,
        alertId: crypto.randomUUID(),
        meterId: a.meterId,
        customerId: a.customerId,
        kind: a.kind,
        threshold: a.threshold,
        periodStart: a.periodStart,
        periodEnd: a.periodEnd,
        used: a.used,
        limitValue: a.limitValue,
        createdAt: at,
      })),
    )
    .onConflictDoNothing()
    .returning();
  return rows.map(fromDb);
}

export async function findAlert(tx: Queryable, alertId: string): Promise<Alert | null> {
  const [row] = await tx.select().from(usageAlerts).where(eq(usageAlerts.alertId, alertId));
  return row ? fromDb(row) : null;
}

export type AlertFilters = { meterId?: string; customerId?: string; kind?: AlertKind; status?: AlertStatus; limit: number; before?: Date };

export async function listAlerts(tx: Queryable, filters: AlertFilters): Promise<Alert[]> {
  const conditions: SQL[] = [];
  if (filters.meterId) conditions.push(eq(usageAlerts.meterId, filters.meterId));
  if (filters.customerId) conditions.push(eq(usageAlerts.customerId, filters.customerId));
  if (filters.kind) conditions.push(eq(usageAlerts.kind, filters.kind));
  if (filters.status) conditions.push(eq(usageAlerts.status, filters.status));
  if (filters.before) conditions.push(lt(usageAlerts.createdAt, filters.before));
  const rows = await tx
    .select()
    .from(usageAlerts)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(usageAlerts.createdAt))
    .limit(filters.limit);
  return rows.map(fromDb);
}

export async function acknowledgeAlertRow(tx: Queryable, alertId: string, by: string, at: Date): Promise<Alert | null> {
  const [row] = await tx
    .update(usageAlerts)
    .set({ status: 'acknowledged', acknowledgedAt: at, acknowledgedBy: by })
    .where(and(eq(usageAlerts.alertId, alertId), eq(usageAlerts.status, 'open')))
    .returning();
  return row ? fromDb(row) : null;
}

/** Owner connection: alerts of periods that have ended are resolved, for every creator. */
export async function resolveClosedAlerts(tx: Queryable, now: Date): Promise<number> {
  const rows = await tx
    .update(usageAlerts)
    .set({ status: 'resolved', resolvedAt: now })
    .where(and(lt(usageAlerts.periodEnd, now), ne(usageAlerts.status, 'resolved')))
    .returning({ id: usageAlerts.alertId });
  return rows.length;
}

export async function isMuted(tx: Queryable, meterId: string, customerId: string): Promise<boolean> {
  const [row] = await tx
    .select({ one: sql<number>`1` })
    .from(alertMutes)
    .where(and(eq(alertMutes.meterId, meterId), eq(alertMutes.customerId, customerId)));
  return Boolean(row);
}

export async function insertMute(tx: Queryable, creatorId: string, meterId: string, customerId: string, at: Date): Promise<void> {
  await tx.insert(alertMutes).values({ creatorId, meterId, customerId, createdAt: at }).onConflictDoNothing();
}

export async function deleteMute(tx: Queryable, meterId: string, customerId: string): Promise<boolean> {
  const rows = await tx
    .delete(alertMutes)
    .where(and(eq(alertMutes.meterId, meterId), eq(alertMutes.customerId, customerId)))
    .returning({ id: alertMutes.meterId });
  return rows.length > 0;
}
