import { and, desc, eq, inArray, lt, lte, ne, or, sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../client.js';
import { alertMutes, customers, usageAlerts, usageMeters, type AlertKind, type AlertStatus } from '../schema.js';

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
  // 11 parameters a row: a statement takes at most 65,535 (a limit lowered under 6,000 customers' usage raises that many).
  if (alerts.length > 2000) {
    const created: Alert[] = [];
    for (let i = 0; i < alerts.length; i += 2000) created.push(...(await insertAlertsOnce(tx, alerts.slice(i, i + 2000), at)));
    return created;
  }
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

export type AlertFilters = {
  meterId?: string;
  customerId?: string;
  kind?: AlertKind;
  status?: AlertStatus;
  limit: number;
  /** Alerts created before this instant; with `beforeId`, those after that alert in the list's order. */
  before?: Date;
  beforeId?: string;
};

/**
 * Newest first, by keyset on (created_at desc, alert_id desc): one event or one limit change
 * raises many alerts with the same created_at, and a cursor on created_at alone would skip
 * the rest of that instant. created_at is written from a JS Date, so a cursor in
 * milliseconds is exact.
 */
export async function listAlerts(tx: Queryable, filters: AlertFilters): Promise<Alert[]> {
  const conditions: SQL[] = [];
  if (filters.meterId) conditions.push(eq(usageAlerts.meterId, filters.meterId));
  if (filters.customerId) conditions.push(eq(usageAlerts.customerId, filters.customerId));
  if (filters.kind) conditions.push(eq(usageAlerts.kind, filters.kind));
  if (filters.status) conditions.push(eq(usageAlerts.status, filters.status));
  if (filters.before && filters.beforeId) {
    conditions.push(lte(usageAlerts.createdAt, filters.before));
    conditions.push(or(lt(usageAlerts.createdAt, filters.before), lt(usageAlerts.alertId, filters.beforeId))!);
  } else if (filters.before) {
    conditions.push(lt(usageAlerts.createdAt, filters.before));
  }
  const rows = await tx
    .select()
    .from(usageAlerts)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(usageAlerts.createdAt), desc(usageAlerts.alertId))
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

export type AlertDelivery =
  | { channel: 'email'; id: string; recipient: string; to: string; status: string; error: string | null; at: Date }
  | { channel: 'webhook'; id: string; endpointId: string; status: string; attempts: number; lastStatusCode: number | null; lastError: string | null; at: Date };

/** Emails and webhook messages an alert caused, with their latest outcome. */
export async function findAlertDeliveries(tx: Queryable, alertId: string): Promise<AlertDelivery[]> {
  const emails = await tx.execute<{ email_id: string; recipient: string; to_address: string; status: string; error: string | null; created_at: string | Date }>(
    sql`select email_id, recipient, to_address, status, error, created_at from email_messages where alert_id = ${alertId} order by created_at`,
  );
  const hooks = await tx.execute<{ message_id: string; endpoint_id: string; status: string; attempts: number; status_code: number | null; error: string | null; created_at: string | Date }>(sql`
    select m.message_id, m.endpoint_id, m.status, m.attempts, a.status_code, a.error, m.created_at
    from webhook_messages m
    left join lateral (select status_code, error from webhook_attempts w
                       where w.message_id = m.message_id order by attempted_at desc limit 1) a on true
    where m.alert_id = ${alertId} order by m.created_at`);
  return [
    ...emails.map((e) => ({ channel: 'email' as const, id: e.email_id, recipient: e.recipient, to: e.to_address, status: e.status, error: e.error, at: new Date(e.created_at) })),
    ...hooks.map((h) => ({
      channel: 'webhook' as const,
      id: h.message_id,
      endpointId: h.endpoint_id,
      status: h.status,
      attempts: h.attempts,
      lastStatusCode: h.status_code,
      lastError: h.error,
      at: new Date(h.created_at),
    })),
  ];
}

/** user_id of each alert's customer, and event_name and unit_name of its meter. */
export async function findAlertNames(
  tx: Queryable,
  alerts: Alert[],
): Promise<{ userIds: Map<string, string>; meters: Map<string, { eventName: string; unitName: string }> }> {
  if (alerts.length === 0) return { userIds: new Map(), meters: new Map() };
  const customerRows = await tx
    .select({ id: customers.customerId, userId: customers.userId })
    .from(customers)
    .where(inArray(customers.customerId, [...new Set(alerts.map((a) => a.customerId))]));
  const meterRows = await tx
    .select({ id: usageMeters.meterId, eventName: usageMeters.eventName, unitName: usageMeters.unitName })
    .from(usageMeters)
    .where(inArray(usageMeters.meterId, [...new Set(alerts.map((a) => a.meterId))]));
  return {
    userIds: new Map(customerRows.map((c) => [c.id, c.userId])),
    meters: new Map(meterRows.map((m) => [m.id, { eventName: m.eventName, unitName: m.unitName }])),
  };
}
