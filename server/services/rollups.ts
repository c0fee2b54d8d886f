import client from 'prom-client';
import type { Tx } from '../../db/client.js';
import type { AggregationType } from '../../db/schema.js';
import {
  addEventsToRollups,
  claimRollupBatches,
  deleteAppliedRollupBatches,
  deleteRollupWindows,
  findDayHourDisagreements,
  findHourEventDisagreements,
  findMeterRollupDisagreements,
  findEarliestPeriodStart,
  findOldestPendingRollup,
  findHourPeriodDisagreements,
  findPeriodEventDisagreements,
  findRollupExtent,
  listCreatorIds,
  listLateEventGraces,
  lockRollups,
  pruneMinuteRollups,
  countMeterRollups,
  type ConsistencyKind,
  type PendingJobs,
  type RollupRule,
  type RollupRules,
} from '../../db/queries/rollups.js';
import { withCreator } from '../../db/tenant.js';
import { BOSS_SCHEMA } from '../../jobs/boss.js';
import type { QueuePayload } from '../../jobs/queues.js';
import { AppError } from '../errors.js';
import type { Runtime } from '../runtime.js';

/**
 * Hourly and daily rollups: what each committed group of events adds to the hour and day
 * windows of its meters × customers (rollups.apply, once per job), a rebuild from raw
 * events, and a consistency check of period counters, rollups and raw events. Windows
 * are UTC hours and days; values are base quantities, as the period counter keeps them.
 */

/**
 * Per aggregation: what an event adds to a window, and how. Summed over the hours of a
 * period, each gives the period counter (max: the largest hour is the period's max;
 * unique: an event counts when it brought a value new to its period, so hours add up to
 * the period's distinct count, though one hour alone is not "distinct values this hour").
 */
const AGGREGATION_ROLLUPS = {
  count: { measure: 'events', combine: 'add' },
  sum: { measure: 'value', combine: 'add' },
  max: { measure: 'value', combine: 'max' },
  unique: { measure: 'new_distinct', combine: 'add' },
  duration: { measure: 'value', combine: 'add' },
} as const satisfies Record<AggregationType, RollupRule>;

/**
 * Dimension value stored for an event without a scalar value for the property (missing, null,
 * an object or an array). A string property of that same text is stored with a U+0001 after
 * it (db/queries/rollups.ts), so the two stay apart; rows written before that escape was
 * added keep a real "(none)" string under this value, with the missing ones, until
 * `aggregates rebuild` rewrites their days.
 */
export const DIMENSION_NONE = '(none)';
/** What the stored value of a real "(none)" text has after it (one more than the text had). */
const NONE_ESCAPE = '\u0001';

/** A stored dimension value read back: the property's text, or null when the event had none. */
export function decodeDimensionValue(stored: string): string | null {
  if (stored === DIMENSION_NONE) return null;
  const tail = stored.slice(DIMENSION_NONE.length);
  const escaped = stored.startsWith(DIMENSION_NONE) && tail.length > 0 && [...tail].every((c) => c === NONE_ESCAPE);
  return escaped ? stored.slice(0, -1) : stored;
}

export const ROLLUP_RULES: RollupRules = { aggregations: AGGREGATION_ROLLUPS, dimensionNone: DIMENSION_NONE, dimensionMaxLength: 256 };

const PENDING_JOBS: PendingJobs = { schema: BOSS_SCHEMA, queue: 'rollups.apply' };

/**
 * When the creator's oldest committed group not yet in the rollups (and so in no chart) was
 * committed; null when the rollups have every committed event.
 */
export const rollupsPendingSince = (tx: Tx, creatorId: string): Promise<Date | null> => findOldestPendingRollup(tx, creatorId, PENDING_JOBS);

export type ApplyResult = { applied: boolean; hourRows: number; dayRows: number; dimensionRows: number; meterRows: number };

/** How long minute rollups (the overview's last hour) are kept. */
const MINUTE_ROLLUPS_KEPT_MS = 2 * 86_400_000;

/**
 * Adds committed groups' events to the rollups, once each, in one transaction per
 * creator: each batch (a rollups.apply job; its id is the batch id) is claimed by its id
 * in that transaction, and only the batches not applied before contribute,
 * their events read and added together (one statement per rollup table, whatever the
 * number of groups: adding and taking the larger do not depend on the order). A worker
 * that takes the waiting jobs together pays a rollup transaction per creator, not per
 * committed group, and so keeps up with ingestion (BENCHMARKS.md round 5).
 */
export async function applyRollupBatches(rt: Runtime, batches: Array<{ payload: QueuePayload<'rollups.apply'>; batchId: string }>): Promise<ApplyResult> {
  const byCreator = new Map<string, typeof batches>();
  for (const batch of batches) byCreator.set(batch.payload.creatorId, [...(byCreator.get(batch.payload.creatorId) ?? []), batch]);
  const total: ApplyResult = { applied: false, hourRows: 0, dayRows: 0, dimensionRows: 0, meterRows: 0 };
  for (const [creatorId, mine] of [...byCreator].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const counts = await withCreator(rt.db, creatorId, async (tx) => {
      await lockRollups(tx, creatorId, 'shared');
      const claimed = await claimRollupBatches(tx, creatorId, mine.map((b) => b.batchId), rt.now());
      const fresh = mine.filter((b) => claimed.has(b.batchId));
      if (fresh.length < mine.length) rt.log.debug({ creatorId, batchIds: mine.filter((b) => !claimed.has(b.batchId)).map((b) => b.batchId) }, 'rollup batches already applied');
      if (fresh.length === 0) return null;
      const source = {
        kind: 'batch' as const,
        eventIds: fresh.flatMap((b) => b.payload.eventIds),
        from: new Date(Math.min(...fresh.map((b) => Date.parse(b.payload.from)))),
        to: new Date(Math.max(...fresh.map((b) => Date.parse(b.payload.to)))),
      };
      const written = await addEventsToRollups(tx, creatorId, source, ROLLUP_RULES, rt.now());
      await pruneMinuteRollups(tx, creatorId, new Date(rt.now().getTime() - MINUTE_ROLLUPS_KEPT_MS));
      return written;
    });
    if (!counts) continue;
    total.applied = true;
    total.hourRows += counts.hourRows;
    total.dayRows += counts.dayRows;
    total.dimensionRows += counts.dimensionRows;
    total.meterRows += counts.meterRows;
  }
  return total;
}

/**
 * How long an applied batch's row is kept. A rollups.apply job is delivered again only
 * while pg-boss still holds it waiting, retrying or running (its retries end within hours;
 * those rows are never purged whatever their age): a week is far past that.
 */
export const ROLLUP_BATCHES_KEPT_MS = 7 * 86_400_000;
const PURGE_CHUNK = 10_000;

/**
 * Deletes the rows of applied rollup batches older than ROLLUP_BATCHES_KEPT_MS, oldest first,
 * in chunks (each its own statement, so no long transaction): one row per committed group
 * would otherwise grow the table for ever (at 100 commits a second, 8.6 million a day).
 */
export async function purgeAppliedRollupBatches(rt: Runtime): Promise<number> {
  const before = new Date(rt.now().getTime() - ROLLUP_BATCHES_KEPT_MS);
  let removed = 0;
  for (;;) {
    const n = await deleteAppliedRollupBatches(rt.ownerDb, before, PENDING_JOBS, PURGE_CHUNK);
    removed += n;
    if (n < PURGE_CHUNK) break;
  }
  if (removed > 0) rt.log.info({ removed, before: before.toISOString() }, 'applied rollup batches purged');
  return removed;
}

export type RebuildOptions = { from?: Date; to?: Date; onProgress?: (done: number, total: number) => void };
export type RebuildResult = {
  creatorId: string;
  from: string | null;
  to: string | null;
  days: number;
  hourRows: number;
  dayRows: number;
  dimensionRows: number;
  meterRows: number;
};

const DAY_MS = 86_400_000;
const floorDay = (d: Date) => new Date(Math.floor(d.getTime() / DAY_MS) * DAY_MS);
const ceilDay = (d: Date) => new Date(Math.ceil(d.getTime() / DAY_MS) * DAY_MS);

/**
 * Recomputes a creator's hour and day rollups (dimension and meter rows too) from raw events:
 * every UTC day overlapping [from, to) — by default every day with events or rollups —
 * one transaction per day, deleted and rewritten under the creator's exclusive rollup
 * lock. Events of rollup jobs still pending are left to those jobs, so a rebuild racing
 * live ingestion ends exactly where incremental application would. Dimensions follow
 * the meter's current rollup_dimensions (rebuild after changing them to backfill).
 */
export async function rebuildAggregates(rt: Runtime, creatorId: string, options: RebuildOptions = {}): Promise<RebuildResult> {
  let { from, to } = options;
  if (!from || !to) {
    const extent = await withCreator(rt.db, creatorId, (tx) => findRollupExtent(tx, creatorId));
    from ??= extent.first ?? undefined;
    to ??= extent.last ? new Date(extent.last.getTime() + 1) : undefined;
  }
  const result: RebuildResult = { creatorId, from: null, to: null, days: 0, hourRows: 0, dayRows: 0, dimensionRows: 0, meterRows: 0 };
  if (!from || !to) {
    options.onProgress?.(0, 0);
    return result;
  }
  const start = floorDay(from);
  const end = ceilDay(to);
  if (end <= start) {
    throw new AppError('validation', { code: 'validation_failed', detail: '`to` must be after `from`.', errors: [{ field: 'to', message: 'must be after from' }] });
  }
  const total = Math.round((end.getTime() - start.getTime()) / DAY_MS);
  Object.assign(result, { from: start.toISOString(), to: end.toISOString(), days: total });
  options.onProgress?.(0, total);
  for (let i = 0; i < total; i++) {
    const dayStart = new Date(start.getTime() + i * DAY_MS);
    const dayEnd = new Date(dayStart.getTime() + DAY_MS);
    const counts = await withCreator(rt.db, creatorId, async (tx) => {
      await lockRollups(tx, creatorId, 'exclusive');
      await deleteRollupWindows(tx, creatorId, dayStart, dayEnd);
      const written = await addEventsToRollups(tx, creatorId, { kind: 'range', from: dayStart, to: dayEnd, pending: PENDING_JOBS }, ROLLUP_RULES, rt.now());
      await pruneMinuteRollups(tx, creatorId, new Date(rt.now().getTime() - MINUTE_ROLLUPS_KEPT_MS));
      return written;
    });
    result.hourRows += counts.hourRows;
    result.dayRows += counts.dayRows;
    result.dimensionRows += counts.dimensionRows;
    options.onProgress?.(i + 1, total);
  }
  // Counted once the range is rebuilt: minute rows of days older than they are kept went again
  // in the same run (the rows written per day overstated what is left).
  result.meterRows = await withCreator(rt.db, creatorId, (tx) => countMeterRollups(tx, creatorId, start, end));
  rt.log.info({ ...result }, 'rollups rebuilt');
  return result;
}

export type Disagreement = {
  kind: ConsistencyKind;
  creatorId: string;
  meterId: string;
  /** Null for a meter's rollup of all its customers (meter_rollups_vs_events). */
  customerId: string | null;
  aggregationType: AggregationType;
  windowStart: string;
  windowEnd: string;
  /** The stored figure under test (null: its row is missing): the period counter, the hours, the day. */
  actual: { value: string; eventCount: number } | null;
  /** What its source gives: raw events, the period counter, the hours. */
  expected: { value: string; eventCount: number };
};

/** `skipped`: a scheduled check found another still running and checked nothing. `since`: the earliest period end covered. */
export type ConsistencyReport = { checkedAt: string; since: string; creators: number; disagreements: Disagreement[]; skipped?: true };

/** How far back an explicit check (the CLI's default) looks: the open period and the two before it. */
const CHECK_LOOKBACK_MS = 62 * DAY_MS;
/**
 * The scheduled check covers, per creator, the periods still taking events — open, or ended
 * less than the late-event grace ago — and those that closed within a day before that (a
 * closed period changes no more: its counter is final, and its rollups only take the jobs
 * still pending when it closed). Months past are left to `aggregates check`: every half
 * hour they made the check read two more months of raw events per creator.
 */
const SCHEDULED_MARGIN_MS = DAY_MS;
/** Session advisory lock that one scheduled check holds while it runs (any server). */
const SCHEDULED_CHECK_LOCK = 'staryer|rollups.check-consistency';

/**
 * Compares, per creator, for periods ending after `since`: period counters against raw
 * events (count, Σ, max, distinct values); the hours of each period against its counter
 * (Σ, or max for max meters); each day against its hours. Disagreements are logged at
 * warn and returned.
 *
 * Rollups lag ingestion by design (a job per committed group), so the comparison must not
 * mistake lag for error. Rather than a time heuristic ("events received over a minute
 * ago"), which still misfires when workers are down or retrying and hides nothing it
 * should, each creator is read in one REPEATABLE READ snapshot that also sees the
 * rollups.apply jobs not applied yet (pending in pg-boss and absent from rollup_batches).
 * Ingestion writes events, counters and their job in one transaction, and a job writes
 * its rollups and its rollup_batches row in one transaction, so in any snapshot an event
 * is either in the rollups or in a pending job — never both, never neither, unless
 * something is wrong. Pending events are added to the hour side from raw events, making
 * the comparison exact at any instant. A job that failed for good is not pending, so its
 * missing events are reported, as they should be.
 */
export async function checkConsistency(
  rt: Runtime,
  options: { since?: Date; creatorIds?: string[]; onProgress?: (done: number, total: number) => void } = {},
): Promise<ConsistencyReport> {
  const since = options.since ?? new Date(rt.now().getTime() - CHECK_LOOKBACK_MS);
  const creatorIds = options.creatorIds ?? (await listCreatorIds(rt.ownerDb));
  return checkCreators(rt, creatorIds.map((creatorId) => ({ creatorId, since })), since, options.onProgress);
}

/**
 * The half-hourly check (rollups.check-consistency): each creator's periods still taking
 * events and the day before (SCHEDULED_MARGIN_MS). One at a time across servers: a run that
 * finds another still going (a large database, or pg-boss retrying one that outran its
 * expiry) checks nothing and says so, instead of doubling the load.
 */
export async function checkConsistencyScheduled(rt: Runtime): Promise<ConsistencyReport> {
  const connection = await rt.ownerDb.$client.reserve();
  try {
    const [lock] = await connection<Array<{ taken: boolean }>>`select pg_try_advisory_lock(hashtextextended(${SCHEDULED_CHECK_LOCK}, 0)) as taken`;
    if (!lock?.taken) {
      rt.log.info('rollup consistency check skipped: another is still running');
      return { checkedAt: rt.now().toISOString(), since: rt.now().toISOString(), creators: 0, disagreements: [], skipped: true };
    }
    try {
      const now = rt.now().getTime();
      const graces = await listLateEventGraces(rt.ownerDb);
      const targets = [...graces].sort(([a], [b]) => (a < b ? -1 : 1)).map(([creatorId, hours]) => ({ creatorId, since: new Date(now - hours * 3_600_000 - SCHEDULED_MARGIN_MS) }));
      const earliest = targets.reduce((min, t) => (t.since < min ? t.since : min), new Date(now - SCHEDULED_MARGIN_MS));
      return await checkCreators(rt, targets, earliest);
    } finally {
      await connection`select pg_advisory_unlock(hashtextextended(${SCHEDULED_CHECK_LOCK}, 0))`;
    }
  } finally {
    connection.release();
  }
}

/** The comparisons made for each creator (KINDS): progress counts them. */
const CHECK_STEPS = 5;

async function checkCreators(
  rt: Runtime,
  targets: Array<{ creatorId: string; since: Date }>,
  reportedSince: Date,
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<ConsistencyReport> {
  const disagreements: Disagreement[] = [];
  const total = targets.length * CHECK_STEPS;
  let done = 0;
  onProgress(done, total);
  /** A comparison's rows, counted once it answered (each reads a creator's events: seconds per million). */
  const step = async <T>(rows: Promise<T[]>): Promise<T[]> => {
    const answered = await rows;
    onProgress(++done, total);
    return answered;
  };
  for (const { creatorId, since } of targets) {
    const rows = await rt.ownerDb.transaction(
      async (tx) => {
        const eventsFrom = (await findEarliestPeriodStart(tx, creatorId, since)) ?? since;
        const from = eventsFrom < since ? eventsFrom : since;
        return [
          ...(await step(findPeriodEventDisagreements(tx, creatorId, since, from, ROLLUP_RULES))),
          ...(await step(findHourPeriodDisagreements(tx, creatorId, since, from, ROLLUP_RULES, PENDING_JOBS))),
          ...(await step(findHourEventDisagreements(tx, creatorId, since, ROLLUP_RULES, PENDING_JOBS))),
          ...(await step(findDayHourDisagreements(tx, creatorId, since, ROLLUP_RULES))),
          ...(await step(findMeterRollupDisagreements(tx, creatorId, since, ROLLUP_RULES, PENDING_JOBS))),
        ];
      },
      { isolationLevel: 'repeatable read', accessMode: 'read only' },
    );
    for (const row of rows) {
      const disagreement: Disagreement = { ...row, creatorId, windowStart: row.windowStart.toISOString(), windowEnd: row.windowEnd.toISOString() };
      rt.log.warn({ disagreement }, 'usage rollups disagree');
      disagreements.push(disagreement);
    }
  }
  recordDisagreements(rt, disagreements);
  rt.log.info({ creators: targets.length, disagreements: disagreements.length }, 'rollup consistency checked');
  return { checkedAt: rt.now().toISOString(), since: reportedSince.toISOString(), creators: targets.length, disagreements };
}

const GAUGE_NAME = 'staryer_rollup_disagreements';
const KINDS: ConsistencyKind[] = ['period_vs_events', 'hours_vs_period', 'hours_vs_events', 'day_vs_hours', 'meter_rollups_vs_events'];

/** Disagreements found by the last check, by kind (registered on first use). */
function recordDisagreements(rt: Runtime, disagreements: Disagreement[]): void {
  const registry = rt.metrics.registry;
  const gauge =
    (registry.getSingleMetric(GAUGE_NAME) as client.Gauge<'kind'> | undefined) ??
    new client.Gauge({ name: GAUGE_NAME, help: 'Disagreements between period counters, rollups and raw events at the last check', labelNames: ['kind'] as const, registers: [registry] });
  for (const kind of KINDS) gauge.set({ kind }, disagreements.filter((d) => d.kind === kind).length);
}
