import { findCustomerByUserId, findPlanAt } from '../../db/queries/customers.js';
import { findPlanLimitAt, listMeters, type PlanLimit } from '../../db/queries/meters.js';
import { counterKey, findSeenDistinct, listCustomerPeriodsEndingAfter, readCheckState, readCounters } from '../../db/queries/usage.js';
import type { Tx } from '../../db/client.js';
import { withCreator } from '../../db/tenant.js';
import { notFound, withDeadline } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { TCheckInput, TCheckResult, TCustomerUsage } from '../schemas/usage.js';
import { aggregationOf } from './aggregation/index.js';
import { distinctKeysOf } from './aggregation/unique.js';
import { D } from './decimal.js';
import { missingUniqueProperty, unknownMeter, type EventOutcome, type PreparedEvent } from './ingest.js';
import { isPreviousPeriod, periodAt, previousPeriod, SHORTEST_PERIOD_MS, type Period } from './periods.js';
import { closedPeriodLimitAt, limitFor, overage, usageFigures } from './usage-snapshot.js';

/** Records events through the group committer; resolves once they are committed. */
export const trackEvents = (rt: Runtime, creatorId: string, events: PreparedEvent[]): Promise<EventOutcome[]> => rt.ingest.submit(creatorId, events);

/**
 * Whether an event of `value` would be accepted now, from the live counter; records
 * nothing. An unknown user is judged as a new customer on the default plan. For unique
 * meters the value is assumed new (the worst case) unless the meter counts values and this
 * one was seen this period. One statement (readCheckState, which
 * sets the tenant inside it): meters and limits are read, not cached, so a changed limit
 * is seen by the next check in every process.
 */
export async function checkUsage(rt: Runtime, creatorId: string, input: TCheckInput): Promise<TCheckResult> {
  const now = rt.now();
  const state = await withDeadline(readCheckState(rt.pipelinedDb, creatorId, input.event_name, input.user_id, now), rt.env.INGEST_TIMEOUT_MS, 'The database did not answer the check in time. Retry shortly.');
  const meter = state.meter;
  if (!meter) throw unknownMeter(input.event_name);
  const customer = state.customer;
  const planName = customer ? customer.planName : state.defaultPlan;
  const period = periodAt(now, customer?.billingAnchor ?? null);
  const counter = state.counters.find((c) => c.periodStart.getTime() === period.start.getTime());
  const current = new D(counter?.value ?? 0);
  const limit = limitFor(meter, planName);
  const aggregation = aggregationOf(meter.aggregationType);
  const hardCap = Boolean(limit?.hardCap && limit.limitValue !== null);
  const refuses = (isNewDistinct: boolean) => {
    const next = aggregation.next(current, { value: new D(input.value ?? '1'), isNewDistinct });
    return hardCap && next.greaterThan(aggregation.toBase(new D(limit!.limitValue!), meter.unitName)) && next.greaterThan(current);
  };
  // A unique meter knows the event's distinct key when it counts values (no unique_property),
  // or counts a property and the check carries the event's properties (judged as track judges
  // them: without the property, no such event is taken). Without properties, a meter counting a
  // property assumes a new value: the worst case.
  const distinct =
    meter.aggregationType !== 'unique' || (meter.uniqueProperty && !input.properties)
      ? null
      : distinctKeysOf({ value: input.value ?? '1', properties: input.properties ?? {} }, meter.uniqueProperty);
  if (distinct && distinct.key === null) throw missingUniqueProperty(meter, input.properties ?? {});
  let allowed = !refuses(true);
  // A value already seen this period adds nothing, and track accepts it at the cap. Asked only
  // when the answer would be a refusal (one more statement, for this case alone).
  if (!allowed && distinct?.key && customer && counter) {
    const wanted = [distinct.key, ...(distinct.legacy ? [distinct.legacy] : [])];
    const seen = await withCreator(rt.db, creatorId, (tx) => findSeenDistinct(tx, { meterId: meter.id, customerId: customer.id, periodStart: period.start }, wanted));
    if (wanted.some((key) => seen.has(key))) allowed = !refuses(false);
  }
  const figures = usageFigures(meter, current, limit, period);
  return { allowed, used: figures.used, limit: figures.limit, remaining: figures.remaining, hard_cap: hardCap, period_start: figures.period_start, period_end: figures.period_end };
}

/**
 * A customer's previous period: the one recorded usage was last metered in before the current
 * one (isPreviousPeriod: after an anchor move, the old anchor's last period), else the period
 * before the current one under the anchor now.
 */
async function previousPeriodOf(tx: Tx, customer: { id: string; billingAnchor: Date | null }, now: Date): Promise<Period> {
  const current = periodAt(now, customer.billingAnchor);
  const recorded = (await listCustomerPeriodsEndingAfter(tx, customer.id, new Date(current.start.getTime() - SHORTEST_PERIOD_MS)))
    .filter((p) => isPreviousPeriod(p, now, customer.billingAnchor))
    .sort((a, b) => b.end.getTime() - a.end.getTime());
  return recorded[0] ?? previousPeriod(now, customer.billingAnchor);
}

/**
 * A customer's usage per meter for the current or previous period, with overage priced
 * by the limit that applied: the current one now, and for a closed period the plan and
 * limit in force at its end.
 */
export async function getCustomerUsage(rt: Runtime, creatorId: string, userId: string, which: 'current' | 'previous'): Promise<TCustomerUsage> {
  const now = rt.now();
  return withCreator(rt.db, creatorId, async (tx) => {
    const customer = await findCustomerByUserId(tx, userId);
    if (!customer) throw notFound('Customer');
    const period = which === 'current' ? periodAt(now, customer.billingAnchor) : await previousPeriodOf(tx, customer, now);
    const meters = await listMeters(tx, { includeArchived: true });
    const counters = await readCounters(tx, meters.map((m) => ({ meterId: m.id, customerId: customer.id, periodStart: period.start })));
    const planName = which === 'current' ? customer.planName : await findPlanAt(tx, customer.id, new Date(period.end.getTime() - 1));
    const rows = [];
    for (const meter of meters) {
      const counter = counters.get(counterKey({ meterId: meter.id, customerId: customer.id, periodStart: period.start }));
      // Archived meters appear only where they have usage in the period.
      if (meter.archivedAt && !counter) continue;
      const limit: PlanLimit | null =
        which === 'current' ? limitFor(meter, planName) : planName ? await findPlanLimitAt(tx, meter.id, planName, closedPeriodLimitAt(meter, period)) : null;
      const base = new D(counter?.value ?? 0);
      const figures = usageFigures(meter, base, limit, period);
      const over = overage(meter, base, limit);
      rows.push({
        meter_id: meter.id,
        event_name: meter.eventName,
        used: figures.used,
        limit: figures.limit,
        remaining: figures.remaining,
        overage_quantity: over.quantity,
        overage_amount: over.amount,
      });
    }
    return { user_id: customer.userId, plan_name: planName, period_start: period.start.toISOString(), period_end: period.end.toISOString(), meters: rows };
  });
}
