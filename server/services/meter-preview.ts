import { boundPreviewStatements, findCustomerPlans, findMeterIdsByEventName, groupPreviewEvents, listPlanLimitHistory, listPreviewEventValues, type PreviewGroupRow } from '../../db/queries/meter-preview.js';
import { findMeter } from '../../db/queries/meters.js';
import { withCreator } from '../../db/tenant.js';
import { AppError, notFound } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { TMeterPreview, TMeterPreviewInput, TMeterPreviewPlan, TPlanLimitHistory } from '../schemas/meters.js';
import type { AggregationType } from '../../db/schema.js';
import { aggregationOf } from './aggregation/index.js';
import { pgError } from './db-errors.js';
import { D, roundQuantity, toWire, toWireRounded } from './decimal.js';
import { MAX_FUTURE_MS } from './ingest.js';

const DAY_MS = 24 * 3600 * 1000;

/** Days of raw events a preview reads, today (UTC) included. */
export const PREVIEW_DAYS = 30;

/** The preview reads raw events on demand; past this it answers "try again" rather than hold a connection. */
export const PREVIEW_STATEMENT_TIMEOUT_MS = 15_000;

/** Every limit a meter's plans have had, newest first within each plan. */
export async function getPlanLimitHistory(rt: Runtime, creatorId: string, meterId: string): Promise<TPlanLimitHistory> {
  return withCreator(rt.db, creatorId, async (tx) => {
    if (!(await findMeter(tx, meterId))) throw notFound('Meter');
    const { rows, omitted } = await listPlanLimitHistory(tx, creatorId, meterId);
    return {
      older_omitted: [...omitted].map(([plan_name, count]) => ({ plan_name, count })),
      history: rows.map((r) => ({
        plan_name: r.planName,
        limit_value: r.limitValue,
        overage_price: r.overagePrice,
        soft_limit_threshold: r.softLimitThreshold,
        hard_cap: r.hardCap,
        effective_from: r.effectiveFrom.toISOString(),
        effective_to: r.effectiveTo?.toISOString() ?? null,
      })),
    };
  });
}

/** Aggregations whose total under a hard cap depends on the order of the events (replayed). */
const ORDER_MATTERS_UNDER_A_CAP = new Set<AggregationType>(['sum', 'duration', 'max']);

/**
 * One customer × period under a hard cap of `limitBase`, judged as ingestion judges (an event
 * is refused when it would raise usage above the limit): `accepted` is the usage the customer
 * would have had, `over` what was refused (events or distinct values beyond the limit; for
 * sums the refused quantity; for a max how far the highest refused value went past the limit).
 * Count and unique meters add 1 per accepted event or new value, so no order is needed.
 */
function underCap(type: AggregationType, raw: D, limitBase: D, values: string[]): { accepted: D; over: D; refused: boolean } {
  if (!ORDER_MATTERS_UNDER_A_CAP.has(type)) {
    const accepted = D.min(raw, limitBase.floor());
    return { accepted, over: raw.minus(accepted), refused: raw.greaterThan(accepted) };
  }
  const aggregation = aggregationOf(type);
  let current = new D(0);
  let over = new D(0);
  let refused = false;
  for (const text of values) {
    const value = new D(text);
    const next = aggregation.next(current, { value, isNewDistinct: false });
    if (next.greaterThan(limitBase) && next.greaterThan(current)) {
      refused = true;
      over = type === 'max' ? D.max(over, value.minus(limitBase)) : over.plus(value);
    } else current = next;
  }
  return { accepted: current, over, refused };
}

/** A group's figure in base quantity for an aggregation type. */
function baseFigure(type: AggregationType, row: PreviewGroupRow): D {
  switch (type) {
    case 'count':
      return new D(row.events);
    case 'sum':
    case 'duration':
      return new D(row.sum);
    case 'max':
      return new D(row.max);
    case 'unique':
      return new D(row.distinct);
  }
}

type PlanTally = TMeterPreviewPlan & { customerIds: Set<string>; softCustomers: Set<string>; overCustomers: Set<string>; quantityD: D; overD: D; amountD: D };

/**
 * What a meter definition would have measured on the last 30 days of raw events.
 *
 * - Window: the last 30 UTC calendar days, today included, up to now.
 * - Limits are compared per customer × billing period, the period being the one stamped
 *   on each event at ingestion (the customer's period rules). Only the part of a period
 *   inside the window counts, so a period that started before the window may look lower.
 * - Each customer is judged on their current plan; a plan without a row in the definition
 *   is unlimited.
 * - Raw events are the accepted ones: events a hard cap refused in the past were never
 *   stored and are not part of the figures.
 * - The chart uses UTC calendar days.
 */
export async function previewMeter(rt: Runtime, creatorId: string, input: TMeterPreviewInput): Promise<TMeterPreview> {
  const now = rt.now();
  // Up to now and the few minutes ahead an event's timestamp may be (ingest.ts MAX_FUTURE_MS):
  // such an event is in the customer's usage already.
  const to = new Date(now.getTime() + MAX_FUTURE_MS + 1);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const from = new Date(today - (PREVIEW_DAYS - 1) * DAY_MS);
  const aggregation = aggregationOf(input.aggregation_type);
  const toUnit = (base: D) => aggregation.toUnit(base, input.unit_name);

  const { rows, plans, replayed } = await withCreator(rt.db, creatorId, async (tx) => {
    if (input.meter_id && !(await findMeter(tx, input.meter_id))) throw notFound('Meter');
    // A new definition reads the events of every meter that had its name (none: nothing to read).
    const meterIds = input.meter_id ? [input.meter_id] : await findMeterIdsByEventName(tx, creatorId, input.event_name);
    await boundPreviewStatements(tx, PREVIEW_STATEMENT_TIMEOUT_MS);
    try {
      const rows = await groupPreviewEvents(tx, creatorId, {
        from,
        to,
        meterIds,
        distinct: input.aggregation_type === 'unique',
        uniqueProperty: input.aggregation_type === 'unique' ? input.unique_property : null,
      });
      const customerIds = [...new Set(rows.flatMap((r) => (r.customerId ? [r.customerId] : [])))];
      const plans = await findCustomerPlans(tx, creatorId, customerIds);
      // Under a hard cap, sums and maxima depend on the order events came in (each is refused
      // or not on the total before it): those customers' events are replayed one by one.
      const capped = customerIds.filter((id) => {
        const limit = input.plan_limits.find((l) => l.plan_name === plans.get(id));
        return limit?.hard_cap && limit.limit_value !== null;
      });
      const replayed = ORDER_MATTERS_UNDER_A_CAP.has(input.aggregation_type) ? await listPreviewEventValues(tx, creatorId, { from, to, meterIds, customerIds: capped }) : [];
      return { rows, plans, replayed };
    } catch (error) {
      if (pgError(error)?.code === '57014') {
        throw new AppError('unavailable', {
          code: 'preview_timeout',
          detail: `The preview took longer than ${PREVIEW_STATEMENT_TIMEOUT_MS / 1000} seconds and was stopped. Try again later.`,
          retryAfter: 30,
        });
      }
      throw error;
    }
  });

  const tallies = new Map<string | null, PlanTally>();
  const tallyOf = (planName: string | null): PlanTally => {
    let tally = tallies.get(planName);
    if (!tally) {
      const limit = planName === null ? undefined : input.plan_limits.find((l) => l.plan_name === planName);
      tally = {
        plan_name: planName,
        in_definition: Boolean(limit),
        limit_value: limit?.limit_value ?? null,
        hard_cap: limit?.hard_cap ?? false,
        overage_price: limit?.overage_price ?? null,
        soft_limit_threshold: limit?.soft_limit_threshold ?? null,
        customers_over_soft_limit: 0,
        customers: 0,
        events: 0,
        quantity: '0',
        customers_over_limit: 0,
        customers_capped: 0,
        quantity_over_limit: '0',
        overage_amount: '0',
        customerIds: new Set(),
        softCustomers: new Set(),
        overCustomers: new Set(),
        quantityD: new D(0),
        overD: new D(0),
        amountD: new D(0),
      };
      tallies.set(planName, tally);
    }
    return tally;
  };
  // Every plan of the definition is listed, with or without customers.
  for (const limit of input.plan_limits) tallyOf(limit.plan_name);

  const valuesOf = new Map<string, string[]>();
  for (const v of replayed) {
    const key = `${v.customerId}|${v.periodStart.toISOString()}`;
    const values = valuesOf.get(key);
    if (values) values.push(v.value);
    else valuesOf.set(key, [v.value]);
  }

  const daily = new Map<string, { events: number; quantity: D }>();
  for (const row of rows) {
    if (row.day !== null) {
      daily.set(row.day, { events: row.events, quantity: toUnit(baseFigure(input.aggregation_type, row)) });
      continue;
    }
    if (row.customerId === null) continue;
    const tally = tallyOf(plans.get(row.customerId) ?? null);
    const raw = baseFigure(input.aggregation_type, row);
    tally.customerIds.add(row.customerId);
    // Under a hard cap: what the cap would have let in, and what it would have refused.
    const capped =
      tally.hard_cap && tally.limit_value !== null
        ? underCap(input.aggregation_type, raw, aggregation.toBase(new D(tally.limit_value), input.unit_name), valuesOf.get(`${row.customerId}|${row.periodStart!.toISOString()}`) ?? [])
        : null;
    const used = toUnit(capped ? capped.accepted : raw);
    tally.events += row.events;
    tally.quantityD = tally.quantityD.plus(used);
    // As ingestion alerts (alert-crossings.ts): a zero limit has no fraction to reach, only the limit itself.
    const softLine = tally.limit_value !== null && tally.soft_limit_threshold !== null && !new D(tally.limit_value).isZero() ? new D(tally.limit_value).times(tally.soft_limit_threshold) : null;
    if (softLine !== null && used.greaterThanOrEqualTo(softLine)) tally.softCustomers.add(row.customerId);
    const beyond = capped ? (capped.refused ? toUnit(capped.over) : null) : tally.limit_value !== null && used.greaterThan(tally.limit_value) ? used.minus(tally.limit_value) : null;
    if (beyond !== null) {
      tally.overCustomers.add(row.customerId);
      // Each customer × period's quantity and amount rounded as their usage answer bills them
      // (usage-snapshot.ts overage: the rounded quantity is priced), then added.
      const quantity = roundQuantity(beyond);
      tally.overD = tally.overD.plus(quantity);
      if (!tally.hard_cap && tally.overage_price !== null) tally.amountD = tally.amountD.plus(roundQuantity(quantity.times(tally.overage_price)));
    }
  }

  const planList: TMeterPreviewPlan[] = [...tallies.values()]
    .sort((a, b) => (a.plan_name === null ? 1 : b.plan_name === null ? -1 : Number(b.in_definition) - Number(a.in_definition) || a.plan_name.localeCompare(b.plan_name)))
    .map(({ customerIds, softCustomers, overCustomers, quantityD, overD, amountD, ...plan }) => ({
      ...plan,
      customers: customerIds.size,
      customers_over_soft_limit: softCustomers.size,
      quantity: toWireRounded(quantityD),
      customers_over_limit: overCustomers.size,
      customers_capped: plan.hard_cap ? overCustomers.size : 0,
      quantity_over_limit: toWireRounded(overD),
      overage_amount: toWire(amountD.toDecimalPlaces(9, D.ROUND_HALF_EVEN)),
    }));

  const days = Array.from({ length: PREVIEW_DAYS }, (_, i) => new Date(from.getTime() + i * DAY_MS).toISOString().slice(0, 10));
  const total = [...tallies.values()].reduce((acc, t) => acc.plus(t.quantityD), new D(0));
  const amount = [...tallies.values()].reduce((acc, t) => acc.plus(t.amountD), new D(0));
  return {
    event_name: input.event_name,
    aggregation_type: input.aggregation_type,
    unit_name: input.unit_name,
    from: from.toISOString(),
    to: now.toISOString(),
    events: planList.reduce((n, p) => n + p.events, 0),
    customers: planList.reduce((n, p) => n + p.customers, 0),
    quantity: toWireRounded(total),
    overage_amount: toWire(amount.toDecimalPlaces(9, D.ROUND_HALF_EVEN)),
    plans: planList,
    daily: days.map((date) => {
      const day = daily.get(date);
      return { date, events: day?.events ?? 0, quantity: day ? toWireRounded(day.quantity) : '0' };
    }),
  };
}
