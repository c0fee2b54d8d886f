import { randomUUID } from 'node:crypto';
import {
  archiveMeterRow,
  closePlanLimits,
  findMeter,
  insertMeter,
  insertPlanLimits,
  listMeters as listMeterRows,
  meterHasUsage,
  updateMeterRow,
  type Meter,
  type NewPlanLimit,
} from '../../db/queries/meters.js';
import { findStripeSettings, hasReportsEndingAfter } from '../../db/queries/billing.js';
import { ensureSettings } from '../../db/queries/settings.js';
import { listLiveCounters } from '../../db/queries/usage.js';
import { lockCreatorConfig, withCreator } from '../../db/tenant.js';
import { conflict, notFound, validationError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { planLimitNotes, withWarnings, type Warning } from '../schemas/plan-notes.js';
import { DURATION_UNITS, planCaseMessage, type TCreateMeterInput, type TPlanLimitInput, type TUpdateMeterInput } from '../schemas/meters.js';
import { raiseLimitChangeAlerts } from './alerts.js';
import { finalReportWindowMs, licensedMeterLinkRefused, requireCompatibleStripeMeter } from './billing.js';
import { isUniqueViolation } from './db-errors.js';

export type { Meter };

const toNewLimit = (l: TPlanLimitInput): NewPlanLimit => ({
  planName: l.plan_name,
  limitValue: l.limit_value,
  overagePrice: l.overage_price,
  softLimitThreshold: l.soft_limit_threshold,
  hardCap: l.hard_cap,
});

export async function createMeter(rt: Runtime, creatorId: string, input: TCreateMeterInput): Promise<Meter & { warnings?: Warning[] }> {
  const id = randomUUID();
  const at = rt.now();
  try {
    return await withCreator(rt.db, creatorId, async (tx) => {
      await insertMeter(
        tx,
        {
          id,
          creatorId,
          eventName: input.event_name,
          displayName: input.display_name,
          description: input.description,
          aggregationType: input.aggregation_type,
          unitName: input.unit_name,
          billingModel: input.billing_model,
          uniqueProperty: input.unique_property,
          alertThresholds: input.alert_thresholds,
          rollupDimensions: input.rollup_dimensions,
        },
        at,
      );
      await insertPlanLimits(tx, creatorId, id, input.plan_limits.map(toNewLimit), at);
      return withWarnings((await findMeter(tx, id))!, planLimitNotes(input.plan_limits));
    });
  } catch (error) {
    if (isUniqueViolation(error, 'usage_meters_event_name_key')) {
      throw conflict('meter_exists', `A meter for event_name "${input.event_name}" already exists.`, 'event_name');
    }
    throw error;
  }
}

export const listMeters = (rt: Runtime, creatorId: string, options: { includeArchived: boolean }) =>
  withCreator(rt.db, creatorId, (tx) => listMeterRows(tx, options));

export async function getMeter(rt: Runtime, creatorId: string, meterId: string): Promise<Meter> {
  const meter = await withCreator(rt.db, creatorId, (tx) => findMeter(tx, meterId));
  if (!meter) throw notFound('Meter');
  return meter;
}

/**
 * Changes take effect for the next event: ingestion reads limits inside its own
 * transaction. A changed limit closes the old row and opens a new one (history), and
 * customers it leaves beyond their limit get their overage alert at once.
 */
/**
 * `expectedUpdatedAt`: the meter's `updated_at` as the caller saw it (the dashboard's edit form
 * sends every field and plan it showed): if the meter changed since, nothing is saved (409
 * meter-changed) — a page opened before a teammate's or the API's change would otherwise put
 * the old limits back and end the plans added since.
 */
export async function updateMeter(
  rt: Runtime,
  creatorId: string,
  meterId: string,
  input: TUpdateMeterInput,
  options: { expectedUpdatedAt?: string } = {},
): Promise<Meter & { warnings?: Warning[] }> {
  // A licensed meter is billed by subscription item quantities, never meter events: linking one
  // to a Stripe Billing Meter is refused (422), before Stripe is asked about the name.
  if (typeof input.stripe_meter_event_name === 'string' && input.billing_model === 'licensed') throw licensedMeterLinkRefused('stripe_meter_event_name');
  if (typeof input.stripe_meter_event_name === 'string' && input.billing_model === undefined) {
    const current = await withCreator(rt.db, creatorId, (tx) => findMeter(tx, meterId));
    if (current?.billingModel === 'licensed') throw licensedMeterLinkRefused('stripe_meter_event_name');
  }
  // A Stripe meter of that name that would bill our reports wrongly (not a sum of them) is
  // refused, as linking through POST …/stripe-meter refuses it; asked before the transaction
  // (no Stripe call holds one). Only when the link changes: an unchanged one is left as it is.
  if (typeof input.stripe_meter_event_name === 'string') {
    const current = await withCreator(rt.db, creatorId, (tx) => findMeter(tx, meterId));
    if (current && !current.archivedAt && current.stripeMeterEventName !== input.stripe_meter_event_name) {
      await requireCompatibleStripeMeter(rt, creatorId, input.stripe_meter_event_name);
    }
  }
  return withCreator(rt.db, creatorId, async (tx) => {
    // Limits, units and the meter itself decide how events are judged: not while a group judges them (db/tenant.ts).
    await lockCreatorConfig(tx, creatorId, 'exclusive');
    // Effective from when the change could take effect: events committed while it waited for
    // the lock were judged by the limits it replaces, and history must say so.
    const at = rt.now();
    const meter = await findMeter(tx, meterId, { forUpdate: true });
    if (!meter) throw notFound('Meter');
    if (meter.archivedAt) throw conflict('meter_archived', 'This meter is archived; create a new one.');
    if (options.expectedUpdatedAt !== undefined && meter.updatedAt.toISOString() !== new Date(options.expectedUpdatedAt).toISOString()) {
      throw conflict(
        'meter_changed',
        `This meter was changed at ${meter.updatedAt.toISOString()}, after this page was opened (elsewhere in the dashboard or through the API). Nothing was saved: reload to see its limits as they are now, then make your change again.`,
      );
    }
    // Checked again under the lock (a concurrent change of either field), when this request sets
    // one of them: a licensed meter linked before linking was refused stays editable otherwise.
    const billingModelAfter = input.billing_model ?? meter.billingModel;
    const linkAfter = input.stripe_meter_event_name !== undefined ? input.stripe_meter_event_name : meter.stripeMeterEventName;
    const setsEither = input.billing_model !== undefined || input.stripe_meter_event_name !== undefined;
    if (setsEither && billingModelAfter === 'licensed' && linkAfter !== null) {
      throw licensedMeterLinkRefused(input.stripe_meter_event_name ? 'stripe_meter_event_name' : 'billing_model');
    }
    if (input.unit_name !== undefined && meter.aggregationType === 'duration' && !(DURATION_UNITS as readonly string[]).includes(input.unit_name)) {
      throw validationError([{ field: 'unit_name', message: `must be one of ${DURATION_UNITS.join(', ')} for a duration meter` }]);
    }
    // A duration meter's unit converts every recorded second, its limits (in that unit) and
    // the totals reported to Stripe: changed once usage exists, the period's total would
    // turn into another unit under the same limits and next to what Stripe already holds.
    if (input.unit_name !== undefined && input.unit_name !== meter.unitName && meter.aggregationType === 'duration' && (await meterHasUsage(tx, meterId))) {
      throw conflict(
        'meter_unit_fixed',
        `This duration meter has recorded usage in ${meter.unitName}; its limits, overage and what was reported to Stripe are in that unit. Create a new meter to measure in ${input.unit_name}.`,
        'unit_name',
      );
    }
    // A period still taking events whose usage went to one Stripe meter must not continue on
    // another: reports send the difference from what the ledger sent, so the new meter would
    // hold only the rest of the period (a price on it bills 3 of 8), and reconciliation,
    // adding both, would call it in sync.
    if (input.stripe_meter_event_name !== undefined && meter.stripeMeterEventName !== null && input.stripe_meter_event_name !== meter.stripeMeterEventName) {
      // Until its final report: the late events of the grace are reported up to an interval later.
      const graceHours = (await ensureSettings(tx, creatorId)).lateEventGraceHours;
      const intervalMinutes = (await findStripeSettings(tx))?.reportIntervalMinutes ?? 5;
      if (await hasReportsEndingAfter(tx, meterId, new Date(at.getTime() - finalReportWindowMs(graceHours, intervalMinutes)))) {
        throw conflict(
          'meter_stripe_link_fixed',
          `Usage of a billing period still taking events or awaiting its final report was reported to the Stripe meter "${meter.stripeMeterEventName}"; its next reports must go there too. Change the link once those periods have closed and been reported (the late-event grace and one report interval after it), or create a new meter for the new Stripe meter.`,
          'stripe_meter_event_name',
        );
      }
    }
    const overlap = (input.remove_plans ?? []).filter((p) => input.plan_limits?.some((l) => l.plan_name === p));
    if (overlap.length > 0) throw validationError([{ field: 'remove_plans', message: `cannot both set and remove ${overlap.join(', ')}` }]);
    // A plan added beside one the meter keeps whose name differs only in case (the request's own are checked by its schema).
    const kept = meter.planLimits.map((l) => l.planName).filter((name) => !(input.remove_plans ?? []).includes(name));
    const caseClashes = (input.plan_limits ?? []).flatMap((l, index) => {
      const other = kept.find((name) => name !== l.plan_name && name.toLowerCase() === l.plan_name.toLowerCase());
      return other === undefined ? [] : [{ field: `plan_limits[${index}].plan_name`, message: planCaseMessage(other) }];
    });
    if (caseClashes.length > 0) throw validationError(caseClashes);
    await updateMeterRow(
      tx,
      meterId,
      {
        ...(input.display_name !== undefined ? { displayName: input.display_name } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.unit_name !== undefined ? { unitName: input.unit_name } : {}),
        ...(input.billing_model !== undefined ? { billingModel: input.billing_model } : {}),
        ...(input.alert_thresholds !== undefined ? { alertThresholds: input.alert_thresholds } : {}),
        ...(input.rollup_dimensions !== undefined ? { rollupDimensions: input.rollup_dimensions } : {}),
        // The Stripe meter found for the name is kept while the name stays: sent again unchanged, it
        // is no reason to call the meter "not looked up in Stripe".
        ...(input.stripe_meter_event_name !== undefined && input.stripe_meter_event_name !== meter.stripeMeterEventName
          ? { stripeMeterEventName: input.stripe_meter_event_name, stripeMeterId: null }
          : {}),
      },
      at,
    );
    // Only plans whose limit actually changes get a new history row.
    const changed = (input.plan_limits ?? []).map(toNewLimit).filter((next) => {
      const current = meter.planLimits.find((l) => l.planName === next.planName);
      return (
        !current ||
        current.limitValue !== next.limitValue ||
        current.overagePrice !== next.overagePrice ||
        current.softLimitThreshold !== next.softLimitThreshold ||
        current.hardCap !== next.hardCap
      );
    });
    if (changed.length > 0) {
      await closePlanLimits(tx, meterId, changed.map((l) => l.planName), at);
      await insertPlanLimits(tx, creatorId, meterId, changed, at);
    }
    if (input.remove_plans?.length) {
      const unknown = input.remove_plans.filter((p) => !meter.planLimits.some((l) => l.planName === p));
      if (unknown.length > 0) throw validationError([{ field: 'remove_plans', message: `no current limit for ${unknown.join(', ')}` }]);
      await closePlanLimits(tx, meterId, input.remove_plans, at);
    }
    const updated = (await findMeter(tx, meterId))!;
    // New alert thresholds apply to every plan: one that usage is already past will not be crossed by any event now.
    const thresholdsChanged = updated.alertThresholds.map(Number).join() !== meter.alertThresholds.map(Number).join();
    if (changed.length > 0 || thresholdsChanged) {
      // A limit lowered below what customers already used puts them in overage now.
      const plans = new Set(changed.map((l) => l.planName));
      const counters = (await listLiveCounters(tx, { meterIds: [meterId], now: at })).filter((c) => c.planName !== null && (thresholdsChanged || plans.has(c.planName)));
      await raiseLimitChangeAlerts(rt, tx, creatorId, [updated], counters);
    }
    return withWarnings(updated, planLimitNotes(input.plan_limits ?? [], meter.planLimits));
  });
}

/** Archiving stops metering (events for it answer unknown-meter) and keeps all history. */
export async function archiveMeter(rt: Runtime, creatorId: string, meterId: string): Promise<Meter> {
  return withCreator(rt.db, creatorId, async (tx) => {
    await lockCreatorConfig(tx, creatorId, 'exclusive');
    const meter = await findMeter(tx, meterId);
    if (!meter) throw notFound('Meter');
    if (!meter.archivedAt) await archiveMeterRow(tx, meterId, rt.now());
    return (await findMeter(tx, meterId))!;
  });
}
