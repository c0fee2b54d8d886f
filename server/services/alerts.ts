import {
  acknowledgeAlertRow,
  deleteMute,
  findAlert,
  findAlertDeliveries,
  findAlertNames,
  insertAlertsOnce,
  insertMute,
  listAlerts as listAlertRows,
  resolveClosedAlerts,
  type Alert,
  type AlertDelivery,
  type NewAlert,
} from '../../db/queries/alerts.js';
import { findCustomerByUserId } from '../../db/queries/customers.js';
import { findMeter, type Meter } from '../../db/queries/meters.js';
import { updateSettingsRow, ensureSettings, type Settings } from '../../db/queries/settings.js';
import type { Tx } from '../../db/client.js';
import type { PlannedCounter } from '../../db/queries/usage.js';
import { withCreator } from '../../db/tenant.js';
import { enqueueManyInTx } from '../../jobs/queues.js';
import { notFound } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { TListAlertsInput, TUpdateAlertSettingsInput } from '../schemas/alerts.js';
import { aggregationOf } from './aggregation/index.js';
import { alertsCrossed } from './alert-crossings.js';
import { D, toWireRounded } from './decimal.js';
import { limitFor } from './usage-snapshot.js';

export type { AlertDelivery };

/** An alert with the names a person reads it by, and the unit its figures are in. */
export type AlertView = Alert & { userId: string; eventName: string; unitName: string };

async function withNames(tx: Tx, alerts: Alert[]): Promise<AlertView[]> {
  const { userIds, meters } = await findAlertNames(tx, alerts);
  return alerts.map((a) => ({ ...a, userId: userIds.get(a.customerId) ?? '', eventName: meters.get(a.meterId)?.eventName ?? '', unitName: meters.get(a.meterId)?.unitName ?? '' }));
}

/**
 * Raises the alerts a limit change leaves customers owed, for live counters whose usage
 * is already at or past a threshold of the limit that now applies to them: what a customer
 * reaching this usage under these limits would have been alerted of — the soft limit, the
 * meter's alert thresholds, `overage_started` past a limit without a hard cap,
 * `hard_limit_reached` at a hard cap (their next event is refused). After a limit is
 * lowered or a customer moves to a smaller plan, no event crosses these any more, so
 * ingest would never raise them. Runs in the change's transaction, with ingest's insertion
 * (once per meter × customer × period × kind, and threshold for the meter's thresholds:
 * a customer already alerted this period is not alerted again) and notification job.
 */
export async function raiseLimitChangeAlerts(rt: Runtime, tx: Tx, creatorId: string, meters: Meter[], counters: PlannedCounter[]): Promise<void> {
  const byId = new Map(meters.map((m) => [m.id, m]));
  const alerts: NewAlert[] = [];
  for (const counter of counters) {
    const meter = byId.get(counter.meterId);
    const limit = meter ? limitFor(meter, counter.planName) : null;
    if (!meter || !limit || limit.limitValue === null) continue;
    const used = new D(counter.value);
    for (const alert of alertsCrossed(meter, limit, new D(0), used)) {
      alerts.push({
        creatorId,
        meterId: meter.id,
        customerId: counter.customerId,
        periodStart: counter.periodStart,
        periodEnd: counter.periodEnd,
        used: toWireRounded(aggregationOf(meter.aggregationType).toUnit(used, meter.unitName)),
        limitValue: limit.limitValue,
        ...alert,
      });
    }
  }
  const created = await insertAlertsOnce(tx, alerts, rt.now());
  await enqueueManyInTx(rt.boss, tx, 'alerts.notify', created.map((alert) => ({ creatorId, alertId: alert.id })));
}

export async function listAlerts(rt: Runtime, creatorId: string, input: TListAlertsInput): Promise<AlertView[]> {
  return withCreator(rt.db, creatorId, async (tx) => {
    let customerId: string | undefined;
    if (input.user_id) {
      const customer = await findCustomerByUserId(tx, input.user_id);
      if (!customer) return [];
      customerId = customer.id;
    }
    const alerts = await listAlertRows(tx, {
      customerId,
      meterId: input.meter_id,
      kind: input.kind,
      status: input.status,
      limit: input.limit,
      before: input.before ? new Date(input.before) : undefined,
      beforeId: input.before_id,
    });
    return withNames(tx, alerts);
  });
}

export async function getAlert(rt: Runtime, creatorId: string, alertId: string): Promise<AlertView & { deliveries: AlertDelivery[] }> {
  return withCreator(rt.db, creatorId, async (tx) => {
    const alert = await findAlert(tx, alertId);
    if (!alert) throw notFound('Alert');
    const [view] = await withNames(tx, [alert]);
    return { ...view!, deliveries: await findAlertDeliveries(tx, alertId) };
  });
}

/** Acknowledging is idempotent: an alert already acknowledged or resolved is returned as it is. */
export async function acknowledgeAlert(rt: Runtime, creatorId: string, alertId: string, by: string): Promise<AlertView> {
  return withCreator(rt.db, creatorId, async (tx) => {
    const alert = (await acknowledgeAlertRow(tx, alertId, by, rt.now())) ?? (await findAlert(tx, alertId));
    if (!alert) throw notFound('Alert');
    return (await withNames(tx, [alert]))[0]!;
  });
}

/** Mutes (or unmutes) notifications for one customer × meter; alerts are still recorded. */
export async function setMute(rt: Runtime, creatorId: string, input: { userId: string; meterId: string; muted: boolean }): Promise<void> {
  await withCreator(rt.db, creatorId, async (tx) => {
    const customer = await findCustomerByUserId(tx, input.userId);
    if (!customer) throw notFound('Customer');
    if (!(await findMeter(tx, input.meterId))) throw notFound('Meter');
    if (input.muted) await insertMute(tx, creatorId, input.meterId, customer.id, rt.now());
    else await deleteMute(tx, input.meterId, customer.id);
  });
}

/** Alerts of periods that have ended become resolved (system job, every creator). */
export async function resolveAlertsOfClosedPeriods(rt: Runtime): Promise<number> {
  const resolved = await resolveClosedAlerts(rt.ownerDb, rt.now());
  if (resolved > 0) rt.log.info({ resolved }, 'alerts of closed periods resolved');
  return resolved;
}

export const getAlertSettings = (rt: Runtime, creatorId: string): Promise<Settings> => withCreator(rt.db, creatorId, (tx) => ensureSettings(tx, creatorId));

export async function updateAlertSettings(rt: Runtime, creatorId: string, input: TUpdateAlertSettingsInput): Promise<Settings> {
  return withCreator(rt.db, creatorId, (tx) =>
    updateSettingsRow(
      tx,
      creatorId,
      {
        ...(input.creator_email !== undefined ? { alertEmail: input.creator_email } : {}),
        ...(input.email_customers !== undefined ? { emailCustomers: input.email_customers } : {}),
        ...(input.email_kinds !== undefined ? { alertEmailKinds: input.email_kinds } : {}),
        ...(input.upgrade_url !== undefined ? { upgradeUrl: input.upgrade_url } : {}),
      },
      rt.now(),
    ),
  );
}
