import { findCustomerByUserId } from '../../db/queries/customers.js';
import { boundEventSearch, listCustomerEvents, listCustomerWindows, listTopCustomers, measureCustomerEvents, type RawEvent, type TopSortKey, type WindowTotal } from '../../db/queries/customer-insights.js';
import { findMeter, listMeters, type Meter, type PlanLimit } from '../../db/queries/meters.js';
import type { Tx } from '../../db/client.js';
import { withCreator } from '../../db/tenant.js';
import { notFound, validationError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import type { TCustomerDetail, TCustomerEvent, TCustomerEvents, TTopCustomers, ZCustomerEventsInput, ZTopCustomersInput } from '../schemas/customers.js';
import { ZId, ZUserId } from '../schemas/common.js';
import { aggregationOf } from './aggregation/index.js';
import { pgError } from './db-errors.js';
import type { Customer } from './customers.js';
import { D, toWireRounded } from './decimal.js';
import { getCustomerUsage } from './usage.js';
import { periodAt } from './periods.js';
import { ROLLUP_RULES } from './rollups.js';
import { overage, usageFigures } from './usage-snapshot.js';
import type { z } from 'zod';

type TopInput = z.output<typeof ZTopCustomersInput>;
type EventsInput = z.output<typeof ZCustomerEventsInput>;

/** How long a property search over a customer's events may run. */
const PROPERTY_SEARCH_TIMEOUT_MS = 3000;

/** Earlier periods shown per meter on the customer page. */
const HISTORY_PERIODS = 6;

const badCursor = () => validationError([{ field: 'cursor', message: 'is not a cursor this list gave (start again from the first page)' }]);
const unknownMeterField = () => validationError([{ field: 'meter_id', message: 'is not one of your meters' }]);

/** Cursors are base64url JSON arrays the server wrote; a hand-made one is refused by name. */
function encodeCursor(parts: string[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decodeCursor(cursor: string, length: number): string[] {
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(parts) || parts.length !== length || !parts.every((p) => typeof p === 'string')) throw badCursor();
  return parts as string[];
}

/** used / limit as a percentage with two decimals (null: no limit, or a limit of 0). */
export function percentOfLimit(used: string, limit: string | null): string | null {
  if (limit === null || new D(limit).isZero()) return null;
  return new D(used).dividedBy(limit).times(100).toDecimalPlaces(2, D.ROUND_HALF_EVEN).toFixed();
}

/**
 * LIKE pattern text of a search term, its wildcards taken literally. Not lower-cased here: the
 * query lower-cases it as it does the columns (JavaScript and Postgres fold some letters apart:
 * "İ" is "i̇" in one, "i" in the other, and the customer typed exactly was not found).
 */
const likePrefix = (term: string) => term.replace(/[\\%_]/g, '\\$&');

/** The limit row the query joined (a plan without a row on this meter: unlimited, as limitFor answers). */
const limitOf = (row: { planName: string | null; limitValue: string | null; overagePrice: string | null; softLimitThreshold: string | null; hardCap: boolean }): PlanLimit | null =>
  row.planName
    ? { planName: row.planName, limitValue: row.limitValue, overagePrice: row.overagePrice, softLimitThreshold: row.softLimitThreshold, hardCap: row.hardCap, effectiveFrom: new Date(0) }
    : null;

/**
 * Customers ranked on one meter for their current or previous billing period, from the
 * period counters (each customer's own period: anchors differ). Figures and overage are
 * computed as getCustomerUsage computes them, from the same limit rows.
 */
export async function listTopCustomersOf(rt: Runtime, creatorId: string, input: TopInput): Promise<TTopCustomers> {
  const now = rt.now();
  // A cursor carries the list it pages (sort, meter, period): reused on another, it would page the wrong order.
  const after = input.cursor ? decodeCursor(input.cursor, 5) : null;
  if (after && (after[0] !== input.sort || after[3] !== input.meter_id || after[4] !== input.period)) throw badCursor();
  // As written by this server: Postgres's numeric text (no exponent: 1e999999 overflowed into a 500), a user id Postgres text can hold.
  if (after && input.sort !== 'user_id' && !/^-?\d{1,1000}(\.\d{1,1000})?$/.test(after[1]!)) throw badCursor();
  if (after && !ZUserId.safeParse(after[2]).success) throw badCursor();
  return withCreator(rt.db, creatorId, async (tx) => {
    // The report's subject, as the trends' meter: another creator's meter is not found (404), not a bad field.
    const meter = await findMeter(tx, input.meter_id);
    if (!meter) throw notFound('Meter');
    const aggregation = aggregationOf(meter.aggregationType);
    const { rows, total } = await listTopCustomers(tx, {
      creatorId,
      meterId: meter.id,
      unitFactor: aggregation.toBase(new D(1), meter.unitName).toFixed(),
      period: input.period,
      now,
      searchPrefix: input.search ? likePrefix(input.search) : null,
      sort: input.sort as TopSortKey,
      // One more than asked: whether there is a next page.
      limit: input.limit + 1,
      after: after ? { key: after[1]!, userId: after[2]! } : null,
    });
    const page = rows.slice(0, input.limit);
    const last = page.at(-1);
    return {
      meter: { id: meter.id, event_name: meter.eventName, display_name: meter.displayName, unit_name: meter.unitName, aggregation_type: meter.aggregationType },
      period: input.period,
      sort: input.sort,
      total,
      next_cursor: rows.length > input.limit && last ? encodeCursor([input.sort, last.sortKey, last.userId, input.meter_id, input.period]) : null,
      customers: page.map((row) => {
        const limit = limitOf(row);
        const base = new D(row.value);
        const figures = usageFigures(meter, base, limit, { start: row.periodStart, end: row.periodEnd });
        const over = overage(meter, base, limit);
        return {
          user_id: row.userId,
          email: row.email,
          name: row.name,
          plan_name: row.planName,
          period_start: figures.period_start,
          period_end: figures.period_end,
          used: figures.used,
          limit: figures.limit,
          percent_of_limit: percentOfLimit(figures.used, figures.limit),
          overage_quantity: over.quantity,
          overage_amount: over.amount,
          event_count: row.eventCount,
        };
      }),
    };
  });
}

const startOfUtcDay = (at: Date) => new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));

/**
 * One customer's page: who they are, usage against each limit this period (the figures of
 * getCustomerUsage), earlier periods and this period's days from the counters.
 */
export async function getCustomerDetail(rt: Runtime, creatorId: string, userId: string): Promise<Omit<TCustomerDetail, 'customer'> & { customer: Customer }> {
  // The figures (getCustomerUsage, its own transaction) and the counters behind the charts
  // are read side by side; both place the period by the customer's anchor at the same clock.
  const [usage, counters] = await Promise.all([getCustomerUsage(rt, creatorId, userId, 'current'), readCustomerCounters(rt, creatorId, userId)]);
  const { customer, meters } = counters;
  let { periods, days } = counters;
  if (usage.period_start !== counters.periodStart.toISOString()) {
    // The period turned between the two reads: read the counters again for the figures' period.
    ({ periods, days } = await readCustomerCounters(rt, creatorId, userId, new Date(usage.period_start)));
  }
  const periodStart = new Date(usage.period_start);
  const byId = new Map(meters.map((m) => [m.id, m]));
  const toUnit = (meter: Meter, value: string) => toWireRounded(aggregationOf(meter.aggregationType).toUnit(new D(value), meter.unitName));
  const current = new Map(periods.filter((p) => p.windowStart.getTime() === periodStart.getTime()).map((p) => [p.meterId, p]));
  const history: TCustomerDetail['history'] = [];
  for (const meter of meters) {
    const earlier = periods.filter((p) => p.meterId === meter.id && p.windowStart < periodStart).slice(0, HISTORY_PERIODS);
    for (const p of earlier) {
      history.push({ meter_id: meter.id, period_start: p.windowStart.toISOString(), period_end: p.windowEnd.toISOString(), used: toUnit(meter, p.value), event_count: p.eventCount });
    }
  }
  return {
    customer,
    period_start: usage.period_start,
    period_end: usage.period_end,
    meters: usage.meters.map((m) => {
      const meter = byId.get(m.meter_id)!;
      const limit = meter.planLimits.find((l) => l.planName === usage.plan_name) ?? null;
      return {
        ...m,
        display_name: meter.displayName,
        aggregation_type: meter.aggregationType,
        unit_name: meter.unitName,
        archived: meter.archivedAt !== null,
        percent_of_limit: percentOfLimit(m.used, m.limit),
        soft_limit_threshold: limit?.softLimitThreshold ?? null,
        hard_cap: Boolean(limit?.hardCap && limit.limitValue !== null),
        overage_price: limit?.overagePrice ?? null,
        event_count: current.get(m.meter_id)?.eventCount ?? 0,
      };
    }),
    history,
    daily: days
      .filter((d) => byId.has(d.meterId) && d.windowStart >= startOfUtcDay(periodStart))
      .map((d) => ({ meter_id: d.meterId, day: d.windowStart.toISOString(), used: toUnit(byId.get(d.meterId)!, d.value), event_count: d.eventCount }))
      .sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0)),
  };
}

/** The customer, the meters, and their period counters (this one and six before) and this period's day rollups. */
async function readCustomerCounters(rt: Runtime, creatorId: string, userId: string, periodStartOverride?: Date) {
  const now = rt.now();
  return withCreator(rt.db, creatorId, async (tx) => {
    const customer = await findCustomerByUserId(tx, userId);
    if (!customer) throw notFound('Customer');
    const period = periodAt(now, customer.billingAnchor);
    const periodStart = periodStartOverride ?? period.start;
    const periodEnd = periodStartOverride ? periodAt(periodStartOverride, customer.billingAnchor).end : period.end;
    const meters = await listMeters(tx, { includeArchived: true });
    const meterIds = meters.map((m) => m.id);
    // Six earlier monthly periods start within seven months before this one.
    const historySince = new Date(periodStart.getTime() - (HISTORY_PERIODS + 1) * 31 * 86_400_000);
    const [periods, days, firstDay] = await Promise.all([
      listCustomerWindows(tx, { creatorId, customerId: customer.id, meterIds, window: 'period', since: historySince, until: periodEnd }),
      listCustomerWindows(tx, { creatorId, customerId: customer.id, meterIds, window: 'day', since: startOfUtcDay(periodStart), until: periodEnd }),
      periodsFirstDay(tx, { creatorId, customerId: customer.id, meters, periodStart, periodEnd }),
    ]);
    // The UTC day the period starts in also holds the previous period's end: its bar is
    // this period's part of the day only.
    const ownDays = firstDay ? [...days.filter((d) => d.windowStart.getTime() !== firstDay.day.getTime()), ...firstDay.totals] : days;
    const overlapped = await daysOfSupersededOverlap(tx, { creatorId, customerId: customer.id, meters, periods, periodStart, periodEnd });
    if (!overlapped) return { customer, meters, periods, days: ownDays, periodStart };
    const kept = ownDays.filter((d) => d.windowStart < overlapped.from || d.windowStart >= overlapped.to);
    return { customer, meters, periods, days: [...kept, ...overlapped.totals], periodStart };
  });
}

const DAY_MS = 86_400_000;

/**
 * After Stripe moved a customer's billing anchor, an earlier period of a meter may still run
 * into this one (the old calendar month past the new period's start): the day rollups of those
 * days hold both periods' events, and the old period's are its own (its history bar). Those days
 * are measured from the raw events this period metered instead, by the rollups' rules — a few
 * days of one customer, and only on such a customer's page. Null when no period overlaps this one.
 */
async function daysOfSupersededOverlap(
  tx: Tx,
  q: { creatorId: string; customerId: string; meters: Meter[]; periods: WindowTotal[]; periodStart: Date; periodEnd: Date },
): Promise<{ from: Date; to: Date; totals: WindowTotal[] } | null> {
  const overlapEnd = Math.max(0, ...q.periods.filter((p) => p.windowStart < q.periodStart && p.windowEnd > q.periodStart).map((p) => p.windowEnd.getTime()));
  if (overlapEnd === 0) return null;
  const from = startOfUtcDay(q.periodStart);
  const to = new Date(Math.min(Math.ceil(overlapEnd / DAY_MS) * DAY_MS, Math.ceil(q.periodEnd.getTime() / DAY_MS) * DAY_MS));
  const measured = await measureCustomerEvents(
    tx,
    { creatorId: q.creatorId, customerId: q.customerId, meterIds: q.meters.map((m) => m.id), from: q.periodStart, to: new Date(Math.min(to.getTime(), q.periodEnd.getTime())), periodStart: q.periodStart, byDay: true },
    ROLLUP_RULES,
  );
  const totals = measured.map((w) => ({ meterId: w.meterId, windowStart: w.day!, windowEnd: new Date(w.day!.getTime() + DAY_MS), value: w.value, eventCount: w.eventCount }));
  return { from, to, totals };
}

const HOUR_MS = 3_600_000;

/**
 * This period's part of the UTC day it starts in, when it starts after midnight (a
 * billing anchor's time of day): hour rollups from the first whole hour, and the raw
 * events before it (under an hour), combined per meter as the rollups combine them.
 * Null when the period starts at midnight (the day rollup is the period's own).
 */
async function periodsFirstDay(tx: Tx, q: { creatorId: string; customerId: string; meters: Meter[]; periodStart: Date; periodEnd: Date }): Promise<{ day: Date; totals: WindowTotal[] } | null> {
  const day = startOfUtcDay(q.periodStart);
  if (day.getTime() === q.periodStart.getTime()) return null;
  const firstWholeHour = new Date(Math.ceil(q.periodStart.getTime() / HOUR_MS) * HOUR_MS);
  const dayEnd = new Date(Math.min(day.getTime() + 86_400_000, q.periodEnd.getTime()));
  const meterIds = q.meters.map((m) => m.id);
  const [hours, head] = await Promise.all([
    listCustomerWindows(tx, { creatorId: q.creatorId, customerId: q.customerId, meterIds, window: 'hour', since: firstWholeHour, until: dayEnd }),
    measureCustomerEvents(tx, { creatorId: q.creatorId, customerId: q.customerId, meterIds, from: q.periodStart, to: firstWholeHour, periodStart: q.periodStart }, ROLLUP_RULES),
  ]);
  const totals: WindowTotal[] = [];
  for (const meter of q.meters) {
    // Combined as a day window combines its hours: added, or the larger for max meters.
    const parts = [...hours, ...head].filter((w) => w.meterId === meter.id);
    if (parts.length === 0) continue;
    const max = ROLLUP_RULES.aggregations[meter.aggregationType].combine === 'max';
    const value = parts.reduce((acc, p) => (max ? D.max(acc, p.value) : acc.plus(p.value)), new D(0));
    totals.push({ meterId: meter.id, windowStart: day, windowEnd: new Date(day.getTime() + 86_400_000), value: value.toFixed(), eventCount: parts.reduce((n, p) => n + p.eventCount, 0) });
  }
  return { day, totals };
}

/** An events cursor's instant as this server writes it: microseconds, UTC, years 1970–9999. */
function isExactInstant(text: string): boolean {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(text)) return false;
  const ms = Date.parse(text);
  return !Number.isNaN(ms) && new Date(ms).getUTCFullYear() >= 1970;
}

/** The JSON objects a `key = value` filter looks for: the string, and the number/boolean/null it reads as. */
function containmentsOf(key: string, value: string): string[] {
  const candidates: unknown[] = [value];
  try {
    const parsed: unknown = JSON.parse(value);
    // A number JSON cannot hold (1e400 parses to Infinity, which stringifies as null) matches only as the string.
    if (parsed === null || (typeof parsed === 'number' && Number.isFinite(parsed)) || typeof parsed === 'boolean') candidates.push(parsed);
  } catch {
    // Not JSON: the string alone.
  }
  return candidates.map((v) => JSON.stringify({ [key]: v }));
}

/** What one event added to its period's total, in the meter's unit. */
function countedFor(meter: Meter, event: RawEvent): string {
  const aggregation = aggregationOf(meter.aggregationType);
  return toWireRounded(aggregation.toUnit(aggregation.next(new D(0), { value: new D(event.value), isNewDistinct: event.newDistinct }), meter.unitName));
}

/** A customer's raw events, newest first, one keyset page at a time. */
export async function listEventsOfCustomer(rt: Runtime, creatorId: string, input: EventsInput): Promise<TCustomerEvents> {
  const after = input.cursor ? decodeCursor(input.cursor, 2) : null;
  // As written by this server (microseconds, UTC; a UUID): anything else Date.parse takes ("1",
  // year 275760) or a dash-only "UUID" reached Postgres and failed there with a 500.
  if (after && (!isExactInstant(after[0]!) || !ZId.safeParse(after[1]).success)) throw badCursor();
  return withCreator(rt.db, creatorId, async (tx) => {
    const customer = await findCustomerByUserId(tx, input.user_id);
    if (!customer) throw notFound('Customer');
    const meters = await listMeters(tx, { includeArchived: true });
    if (input.meter_id && !meters.some((m) => m.id === input.meter_id)) throw unknownMeterField();
    const byId = new Map(meters.map((m) => [m.id, m]));
    const containing = input.property_key !== undefined && input.property_value !== undefined ? containmentsOf(input.property_key, input.property_value) : [];
    // The property is checked on each of the customer's events in time order until a page
    // is found: a rare value over a long history is stopped, and the answer says how to narrow it.
    if (containing.length > 0) await boundEventSearch(tx, PROPERTY_SEARCH_TIMEOUT_MS);
    const rows = await listCustomerEvents(tx, {
      creatorId,
      customerId: customer.id,
      meterId: input.meter_id ?? null,
      from: input.from ? new Date(input.from) : null,
      to: input.to ? new Date(input.to) : null,
      containing,
      limit: input.limit + 1,
      after: after ? { occurredAt: after[0]!, eventId: after[1]! } : null,
    }).catch((error: unknown) => {
      if (pgError(error)?.code === '57014') {
        throw validationError([
          { field: 'from', message: `is needed to search this many events by property (the search took over ${PROPERTY_SEARCH_TIMEOUT_MS / 1000} s): choose a narrower time range or a meter` },
        ]);
      }
      throw error;
    });
    const page = rows.slice(0, input.limit);
    const last = page.at(-1);
    return {
      next_cursor: rows.length > input.limit && last ? encodeCursor([last.occurredAtExact, last.id]) : null,
      events: page.map(
        (e): TCustomerEvent => ({
          id: e.id,
          meter_id: e.meterId,
          event_name: e.eventName,
          value: e.value,
          counted: byId.has(e.meterId) ? countedFor(byId.get(e.meterId)!, e) : e.value,
          new_distinct: e.newDistinct,
          idempotency_key: e.idempotencyKey,
          properties: e.properties,
          occurred_at: e.occurredAt.toISOString(),
          received_at: e.receivedAt.toISOString(),
        }),
      ),
    };
  });
}
