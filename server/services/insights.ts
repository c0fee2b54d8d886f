import {
  countLimitAlertsThisPeriod,
  countOpenAlerts,
  findEventsPerMinute,
  findLiveTotals,
  findMeterTrend,
  findTopLimitAlerts,
  hasAnyUsage,
  sumOverageThisPeriod,
  type AttentionRow,
  type LimitAlertCounts,
} from '../../db/queries/insights.js';
import { findMeter, listMeters, type Meter } from '../../db/queries/meters.js';
import { withCreator } from '../../db/tenant.js';
import { notFound, validationError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { TREND_MAX_POINTS, type TOverview, type TTrends, type TTrendsInput } from '../schemas/insights.js';
import { aggregationOf } from './aggregation/index.js';
import { D, toWire, toWireRounded } from './decimal.js';
import { decodeDimensionValue, rollupsPendingSince } from './rollups.js';

/**
 * The dashboard's creator-wide figures: the live overview and per-meter trends. Both
 * read pre-computed rows only (meter rollups, live period counters, limit alerts), so
 * a page costs the same at a million events as at ten million.
 */

const MINUTE_MS = 60_000;
const ATTENTION_SHOWN = 10;
/** Series drawn separately in a breakdown; the rest are summed into "Other". */
const SERIES_SHOWN = 8;
export const NO_PLAN = '(no plan)';
export const OTHER_SERIES = 'Other';
/** Series keys of the trends' made-up series, apart from every real plan name and property value. */
const NO_PLAN_KEY = '\u0000no-plan';
const REST_KEY = '\u0000rest';
/** Events without a value for the dimension (missing, null, an object or an array). */
const NO_VALUE_KEY = '\u0000no-value';
/** Legend name of the events without a value for a dimension: "(no endpoint)", as "(no plan)". */
export const noValueName = (dimension: string) => `(no ${dimension})`;
const MADE_UP_KEYS = new Set([NO_PLAN_KEY, REST_KEY, NO_VALUE_KEY]);

/**
 * Legend names of a trend's series keys: real values as they are, "(no plan)", "(no
 * endpoint)" and "Other" for the made-up ones — unless a real value already has that name,
 * then "Other (3 more)", "(no plan) (2)"…: no two legend entries alike.
 */
function seriesNames(keys: string[], gathered: number, dimension: string): Map<string, string> {
  const taken = new Set(keys.filter((k) => !MADE_UP_KEYS.has(k)));
  const names = new Map<string, string>();
  for (const key of keys) {
    if (!MADE_UP_KEYS.has(key)) {
      names.set(key, key);
      continue;
    }
    const base = key === NO_PLAN_KEY ? NO_PLAN : key === NO_VALUE_KEY ? noValueName(dimension) : OTHER_SERIES;
    let name = base;
    if (taken.has(name) && key === REST_KEY) name = `${OTHER_SERIES} (${gathered} more)`;
    for (let n = 2; taken.has(name); n++) name = `${base} (${n})`;
    taken.add(name);
    names.set(key, name);
  }
  return names;
}
export const TOTAL_SERIES = 'Total';

const inUnit = (meter: Meter, base: D) => aggregationOf(meter.aggregationType).toUnit(base, meter.unitName);

/** This period's figures that read every customer's live counter and limit alerts. */
type PeriodFigures = {
  live: Awaited<ReturnType<typeof findLiveTotals>>;
  alertCounts: LimitAlertCounts[];
  attention: AttentionRow[];
  overage: { amount: string; customers: number };
  openAlerts: number;
  meters: Meter[];
  asOf: Date;
};

/**
 * How long a creator's period figures are served before they are recomputed: 3 s, or 5×
 * what the last computation took for a large account, so refreshing never keeps the
 * database more than a fifth busy. Polling pages get them from memory; when they are
 * older, the page gets them at once and a recomputation starts in the background (one at
 * a time per creator and process), so a polling page never waits for a scan of 10k
 * customers' counters. Past `staleMs` (30 s, or the fresh time if longer) they are not
 * served any more: the first page after a quiet spell waits for new figures, as the very
 * first one does, rather than showing figures of any age (a meter created since missing).
 * An object, so that tests can shorten the times.
 */
export const periodFiguresTiming = { freshMs: 3000, staleMs: 30_000 };
const PERIOD_FIGURES_BUSY_SHARE = 5;
const PERIOD_FIGURES_KEPT = 10_000;
type CacheEntry = { figures: PeriodFigures | null; computedAt: number; tookMs: number; pending: Promise<PeriodFigures> | null };
const periodFiguresCache = new WeakMap<Runtime, Map<string, CacheEntry>>();

async function computePeriodFigures(rt: Runtime, creatorId: string): Promise<PeriodFigures> {
  const now = rt.now();
  return withCreator(rt.db, creatorId, async (tx) => {
    const [live, alertCounts, attention, overage, openAlerts, meters] = await Promise.all([
      findLiveTotals(tx, creatorId, now),
      countLimitAlertsThisPeriod(tx, creatorId, now),
      findTopLimitAlerts(tx, creatorId, now, ATTENTION_SHOWN),
      sumOverageThisPeriod(tx, creatorId, now),
      countOpenAlerts(tx, creatorId),
      listMeters(tx, { includeArchived: false }),
    ]);
    return { live, alertCounts, attention, overage, openAlerts, meters, asOf: now };
  });
}

function cacheEntry(rt: Runtime, creatorId: string): CacheEntry {
  let byCreator = periodFiguresCache.get(rt);
  if (!byCreator) periodFiguresCache.set(rt, (byCreator = new Map()));
  let entry = byCreator.get(creatorId);
  if (!entry) {
    if (byCreator.size >= PERIOD_FIGURES_KEPT) byCreator.clear();
    byCreator.set(creatorId, (entry = { figures: null, computedAt: 0, tookMs: 0, pending: null }));
  }
  return entry;
}

async function periodFigures(rt: Runtime, creatorId: string): Promise<PeriodFigures> {
  const current = cacheEntry(rt, creatorId);
  const freshFor = Math.max(periodFiguresTiming.freshMs, current.tookMs * PERIOD_FIGURES_BUSY_SHARE);
  const age = Date.now() - current.computedAt;
  if (!current.pending && age > freshFor) {
    const startedAt = Date.now();
    current.pending = computePeriodFigures(rt, creatorId)
      .then((figures) => {
        Object.assign(current, { figures, computedAt: startedAt, tookMs: Date.now() - startedAt });
        return figures;
      })
      .finally(() => {
        current.pending = null;
      });
    // Served stale meanwhile: a failure is logged here and retried by the next request.
    if (current.figures) current.pending.catch((error: unknown) => rt.log.warn({ err: error, creatorId }, 'overview figures refresh failed'));
  }
  if (current.figures && age <= Math.max(periodFiguresTiming.staleMs, freshFor)) return current.figures;
  return current.pending ?? current.figures!;
}

/** Figures computed now, bypassing the cache (which keeps them if no newer ones were stored meanwhile). */
async function recomputePeriodFigures(rt: Runtime, creatorId: string): Promise<PeriodFigures> {
  const entry = cacheEntry(rt, creatorId);
  const startedAt = Date.now();
  const figures = await computePeriodFigures(rt, creatorId);
  if (startedAt >= entry.computedAt) Object.assign(entry, { figures, computedAt: startedAt, tookMs: Date.now() - startedAt });
  return figures;
}

const sameMeters = (a: Meter[], b: Meter[]) => a.length === b.length && a.every((m, i) => m.id === b[i]?.id);

export async function getOverview(rt: Runtime, creatorId: string): Promise<TOverview> {
  const now = rt.now();
  const currentMinute = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS;
  const from = new Date(currentMinute - 59 * MINUTE_MS);
  const [cached, [minutes, hasUsage, pendingSince, meterList]] = await Promise.all([
    periodFigures(rt, creatorId),
    withCreator(rt.db, creatorId, (tx) =>
      // Independent reads: they go out together on the transaction's connection.
      Promise.all([
        findEventsPerMinute(tx, creatorId, from, new Date(currentMinute + MINUTE_MS)),
        hasAnyUsage(tx, creatorId),
        rollupsPendingSince(tx, creatorId),
        listMeters(tx, { includeArchived: false }),
      ]),
    ),
  ]);
  // Figures from before a meter was created (or archived) are not served: for up to
  // staleMs they would leave it out, and the Meters page would say "No usage yet" beside
  // its first events. The meters themselves are a small read; recounting is rare.
  // Nor, once the creator has usage, figures with no customer this period: computed before the
  // first events (or their customers' period), beside the fresh has_usage they would read "0
  // customers, 0 calls" on the page that replaced the setup steps. Without live counters the
  // computation reads next to nothing.
  const behind = !sameMeters(cached.meters, meterList) || (hasUsage && cached.live.activeCustomers === 0);
  const figures = behind ? await recomputePeriodFigures(rt, creatorId) : cached;
  const { live, meters } = figures;

  const perMinute = new Map(minutes.map((m) => [m.minute.getTime(), m.events]));
  const eventsPerMinute = Array.from({ length: 60 }, (_, i) => {
    const t = from.getTime() + i * MINUTE_MS;
    return { minute: new Date(t).toISOString(), events: perMinute.get(t) ?? 0 };
  });

  const metersById = new Map(meters.map((m) => [m.id, m]));
  const liveByMeter = new Map(live.meters.map((m) => [m.meterId, m]));
  const alertCounts = new Map(figures.alertCounts.map((c) => [c.meterId, c]));
  const attention = figures.attention.flatMap((alert) => {
    const meter = metersById.get(alert.meterId);
    return meter ? [attentionRow(meter, alert)] : []; // archived since
  });

  return {
    generated_at: now.toISOString(),
    period_figures_at: figures.asOf.toISOString(),
    rollups_pending_since: pendingSince?.toISOString() ?? null,
    has_usage: hasUsage,
    events_per_minute: eventsPerMinute,
    events_last_hour: eventsPerMinute.reduce((sum, m) => sum + m.events, 0),
    active_customers: live.activeCustomers,
    open_alerts: figures.openAlerts,
    meters: meters.map((meter) => {
      const totals = liveByMeter.get(meter.id);
      const base = new D(meter.aggregationType === 'max' ? (totals?.maxValue ?? 0) : (totals?.value ?? 0));
      return {
        meter_id: meter.id,
        event_name: meter.eventName,
        display_name: meter.displayName,
        aggregation_type: meter.aggregationType,
        unit_name: meter.unitName,
        used: toWireRounded(inUnit(meter, base)),
        customers: totals?.customers ?? 0,
        near_limit: alertCounts.get(meter.id)?.near ?? 0,
        over_limit: alertCounts.get(meter.id)?.over ?? 0,
      };
    }),
    attention,
    overage: { amount: toWire(new D(figures.overage.amount)), customers: figures.overage.customers },
  };
}

function attentionRow(meter: Meter, alert: AttentionRow): TOverview['attention'][number] {
  const used = alert.counterValue === null ? new D(alert.used) : inUnit(meter, new D(alert.counterValue));
  const limit = new D(alert.limitValue);
  const percent = limit.isZero() ? 100 : used.dividedBy(limit).times(100).toDecimalPlaces(1).toNumber();
  return {
    alert_id: alert.alertId,
    meter_id: meter.id,
    event_name: meter.eventName,
    user_id: alert.userId,
    customer_name: alert.customerName,
    plan_name: alert.planName,
    kind: alert.kind,
    status: alert.status,
    used: toWireRounded(used),
    limit: toWire(limit),
    percent,
  };
}

// ---------------------------------------------------------------------------------------
// Trends

type Grain = TTrends['grain'];

function floorTo(grain: Grain, d: Date): Date {
  if (grain === 'hour') return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()));
  if (grain === 'day') return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

function step(grain: Grain, d: Date, n = 1): Date {
  if (grain === 'hour') return new Date(d.getTime() + n * 3_600_000);
  if (grain === 'day') return new Date(d.getTime() + n * 86_400_000);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));
}

/** Bucket starts covering [from, to). */
function bucketsOf(grain: Grain, from: Date, to: Date): Date[] {
  const out: Date[] = [];
  for (let b = floorTo(grain, from); b < to; b = step(grain, b)) out.push(b);
  return out;
}

/** How many buckets cover [from, to), counted without making them (a range of centuries is one subtraction). */
function bucketCount(grain: Grain, from: Date, to: Date): number {
  const start = floorTo(grain, from);
  if (grain === 'month') {
    const months = (to.getUTCFullYear() - start.getUTCFullYear()) * 12 + (to.getUTCMonth() - start.getUTCMonth());
    return months + (floorTo('month', to).getTime() < to.getTime() ? 1 : 0);
  }
  return Math.ceil((to.getTime() - start.getTime()) / (grain === 'hour' ? 3_600_000 : 86_400_000));
}

export async function getTrends(rt: Runtime, creatorId: string, input: TTrendsInput): Promise<TTrends> {
  const grain = input.grain ?? 'day';
  const breakdown = input.breakdown ?? 'none';
  const from = new Date(input.from);
  const to = new Date(input.to);
  // Counted before the buckets are made: made first, 1970–2500 by the hour held the server ≈ 2 s.
  const count = bucketCount(grain, from, to);
  if (count > TREND_MAX_POINTS[grain]) {
    throw validationError([{ field: 'from', message: `the range has ${count} ${grain}s; at most ${TREND_MAX_POINTS[grain]} fit one chart — pick a shorter range or a larger grain` }]);
  }
  const buckets = bucketsOf(grain, from, to);
  return withCreator(rt.db, creatorId, async (tx) => {
    const meter = await findMeter(tx, input.meter_id);
    if (!meter) throw notFound('Meter');
    if (breakdown === 'dimension' && !meter.rollupDimensions.includes(input.dimension ?? '')) {
      throw validationError([
        {
          field: 'dimension',
          message: meter.rollupDimensions.length
            ? `must be one of the meter's rollup dimensions: ${meter.rollupDimensions.join(', ')}`
            : 'this meter has no rollup dimensions; add one in its settings to break usage down by a property',
        },
      ]);
    }
    // Rollups hold whole hours and days: the range read is the buckets' (from down to the start
    // of its bucket, to up to the end of its own), and the answer says so — a total for
    // 10:30–12:30 that counted 12:45 (the 12:00 hour is read whole) must not claim to end at 12:30.
    const start = buckets[0] ?? floorTo(grain, from);
    const end = buckets.length > 0 ? step(grain, buckets[buckets.length - 1]!) : start;
    const rollupGrain = grain === 'hour' ? 'hour' : 'day';
    const combineMax = meter.aggregationType === 'max';
    const query = { meterId: meter.id, grain: rollupGrain, bucket: grain, combineMax } as const;
    const dimension = breakdown === 'dimension' ? (input.dimension ?? '') : '';
    const rows = await findMeterTrend(tx, creatorId, { ...query, from: start, to: end, dimension, split: breakdown !== 'none' });

    // Series: the largest first; past SERIES_SHOWN they are gathered into "Other". Kept apart
    // by key from real values (a plan or a property value may be "Other" or "(no plan)"
    // itself: NUL never is one), and named so that no legend entry stands for two things.
    const combine = (a: D, b: D) => (combineMax ? D.max(a, b) : a.plus(b));
    // A dimension's stored value read back (db/queries/rollups.ts escapes a real "(none)"): the
    // events without a value are their own series, apart from a property whose text is "(none)".
    const label = (series: string) =>
      breakdown === 'none' ? TOTAL_SERIES : breakdown === 'plan' ? (series === '' ? NO_PLAN_KEY : series) : (decodeDimensionValue(series) ?? NO_VALUE_KEY);
    const totals = new Map<string, D>();
    for (const r of rows) totals.set(label(r.series), combine(totals.get(label(r.series)) ?? new D(0), new D(r.value)));
    const ranked = [...totals.entries()].sort((a, b) => b[1].comparedTo(a[1]) || a[0].localeCompare(b[0])).map(([name]) => name);
    const shown = new Set(ranked.length > SERIES_SHOWN ? ranked.slice(0, SERIES_SHOWN - 1) : ranked);
    const seriesOf = (key: string) => (shown.has(key) ? key : REST_KEY);
    const keys = [...shown, ...(ranked.length > shown.size ? [REST_KEY] : [])];
    if (keys.length === 0) keys.push(breakdown === 'none' ? TOTAL_SERIES : REST_KEY);
    const nameOf = seriesNames(keys, ranked.length - shown.size, dimension);
    const series = keys.map((key) => nameOf.get(key)!);

    const cells = new Map<number, { values: Map<string, D>; events: number }>();
    let total = new D(0);
    let events = 0;
    for (const r of rows) {
      const cell = cells.get(r.bucket.getTime()) ?? { values: new Map<string, D>(), events: 0 };
      const name = seriesOf(label(r.series));
      const value = new D(r.value);
      cell.values.set(name, cell.values.has(name) ? combine(cell.values.get(name)!, value) : value);
      cell.events += r.events;
      cells.set(r.bucket.getTime(), cell);
      total = combine(total, value);
      events += r.events;
    }
    const points = buckets.map((bucket) => {
      const cell = cells.get(bucket.getTime());
      const values: Record<string, number> = {};
      for (const key of keys) values[nameOf.get(key)!] = inUnit(meter, cell?.values.get(key) ?? new D(0)).toNumber();
      return { bucket: bucket.toISOString(), values, events: cell?.events ?? 0 };
    });

    let previous: TTrends['previous'] = null;
    if (input.compare) {
      const prevStart = step(grain, start, -buckets.length);
      const prevRows = await findMeterTrend(tx, creatorId, { ...query, from: prevStart, to: start, dimension: '', split: false });
      const byBucket = new Map(prevRows.map((r) => [r.bucket.getTime(), new D(r.value)]));
      let prevTotal = new D(0);
      for (const r of prevRows) prevTotal = combine(prevTotal, new D(r.value));
      previous = {
        from: prevStart.toISOString(),
        to: start.toISOString(),
        points: buckets.map((_, i) => {
          const bucket = step(grain, prevStart, i);
          return { bucket: bucket.toISOString(), value: inUnit(meter, byBucket.get(bucket.getTime()) ?? new D(0)).toNumber() };
        }),
        total: toWireRounded(inUnit(meter, prevTotal)),
      };
    }

    return {
      meter_id: meter.id,
      event_name: meter.eventName,
      unit_name: meter.unitName,
      aggregation_type: meter.aggregationType,
      grain,
      from: start.toISOString(),
      to: end.toISOString(),
      series,
      points,
      total: toWireRounded(inUnit(meter, total)),
      events,
      previous,
      dimensions: meter.rollupDimensions,
    };
  });
}
