import type { AggregationType } from '../../db/schema.js';
import { findCounterNames, listDistinctSources, measurePeriodCounter, replaceUniqueValues, setPeriodCounter } from '../../db/queries/counter-repair.js';
import { findEarliestPeriodStart, findPeriodEventDisagreements } from '../../db/queries/rollups.js';
import { lockCreatorConfig, setTenant } from '../../db/tenant.js';
import { distinctKeyOf } from './aggregation/unique.js';
import type { Runtime } from '../runtime.js';
import { ROLLUP_RULES } from './rollups.js';

/** How far back a repair looks by default: as `aggregates check` does, the open period and the two before it. */
const REPAIR_LOOKBACK_MS = 62 * 86_400_000;

type Figures = { value: string; eventCount: number };

export type CounterRepair = {
  meterId: string;
  eventName: string;
  customerId: string;
  userId: string;
  aggregationType: AggregationType;
  periodStart: string;
  /** The counter's period end; for events without a counter, their latest occurred_at. */
  periodEnd: string;
  /** The counter as it was; null: its events have no counter at all. */
  before: Figures | null;
  /** What its raw events give: the counter now (unless `repaired` is false). */
  after: Figures;
  repaired: boolean;
  /** Why a counter was left as it was. */
  reason?: string;
};

export type CounterRepairResult = { creatorId: string; since: string; dryRun: boolean; repaired: number; left: number; counters: CounterRepair[] };

/**
 * Sets every period counter of a creator (periods ending after `since`) that disagrees with
 * its raw events to what those events give — count, Σ, max, Σ seconds, or for a unique meter
 * its distinct values, whose stored keys are rebuilt too (keyed as ingest keys them, so a
 * value seen again is still not counted twice). Raw events are the record; a counter is what
 * limits are enforced on and what Stripe is sent, so a wrong one (found by `aggregates check`)
 * is mended here rather than by hand.
 *
 * The counters the check would report are found first, in a read-only snapshot that holds
 * nothing; then each is measured again from its own events and set in one transaction under the
 * creator's configuration lock taken exclusively: that creator's group commits wait (they hold
 * it shared until they commit) for those few reads only, so no event lands between the reading
 * and the writing, and a server process's memory of a counter's value is refused
 * where it is written (ADR 0009) and read again. Alerts are not raised for a crossing a
 * repair makes, and what was reported to Stripe is corrected by the next report or, when
 * more was reported, shown as drift on the billing status (ADR 0013).
 *
 * Events whose period has no counter at all are listed and left (`repaired: false`): a
 * counter's period end comes from the customer's billing anchor at its first event, which
 * is not known here.
 */
export async function repairPeriodCounters(
  rt: Runtime,
  creatorId: string,
  /** onProgress(done, total): step 1 is the scan of raw events, then one step per counter found; total is 1 until the scan has ended. */
  options: { since?: Date; dryRun?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<CounterRepairResult> {
  const since = options.since ?? new Date(rt.now().getTime() - REPAIR_LOOKBACK_MS);
  const dryRun = options.dryRun ?? false;
  const progress = options.onProgress ?? (() => undefined);
  progress(0, 1);
  // Which counters disagree: read as the check reads them, in one snapshot, holding nothing (it
  // reads every event of the periods: seconds per million, too long to hold ingestion back).
  const found = await rt.ownerDb.transaction(
    async (tx) => {
      await setTenant(tx, creatorId); // forced RLS holds for a non-superuser owner too
      const eventsFrom = (await findEarliestPeriodStart(tx, creatorId, since)) ?? since;
      return findPeriodEventDisagreements(tx, creatorId, since, eventsFrom < since ? eventsFrom : since, ROLLUP_RULES);
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
  progress(1, 1 + found.length);
  if (found.length === 0) return { creatorId, since: since.toISOString(), dryRun, repaired: 0, left: 0, counters: [] };
  // Each of those measured again and set, under the lock: what it reads is what it writes.
  const counters = await rt.ownerDb.transaction(async (tx) => {
    await setTenant(tx, creatorId); // forced RLS holds for a non-superuser owner too
    await lockCreatorConfig(tx, creatorId, 'exclusive');
    const names = await findCounterNames(tx, creatorId, [...new Set(found.map((r) => r.meterId))], [...new Set(found.map((r) => r.customerId!))]);
    const at = rt.now();
    const out: CounterRepair[] = [];
    let done = 1;
    for (const row of found) {
      progress(done++, 1 + found.length);
      const meter = names.meters.get(row.meterId)!;
      const key = { meterId: row.meterId, customerId: row.customerId!, periodStart: row.windowStart };
      const { stored, events } = await measurePeriodCounter(tx, creatorId, key);
      let keys: string[] | null = null;
      let value: string;
      switch (row.aggregationType) {
        case 'count':
          value = String(events.n);
          break;
        case 'max':
          value = events.max;
          break;
        case 'unique': {
          // Keyed as ingest keys them: the count is what the next event will be judged against.
          const sources = await listDistinctSources(tx, creatorId, key, meter.uniqueProperty);
          const distinct = new Set<string>();
          for (const s of sources) {
            const k = distinctKeyOf({ value: s.value, properties: meter.uniqueProperty ? { [meter.uniqueProperty]: s.property } : {} }, meter.uniqueProperty);
            if (k !== null) distinct.add(k);
          }
          keys = [...distinct].sort();
          value = String(keys.length);
          break;
        }
        default:
          value = events.sum;
      }
      const after: Figures = { value, eventCount: events.n };
      // Mended meanwhile (another repair): nothing left to do for it.
      if (stored && stored.value === after.value && stored.eventCount === after.eventCount && !keys) continue;
      const base = {
        meterId: row.meterId,
        eventName: meter.eventName,
        customerId: row.customerId!,
        userId: names.users.get(row.customerId!) ?? '(deleted customer)',
        aggregationType: row.aggregationType,
        periodStart: row.windowStart.toISOString(),
        periodEnd: row.windowEnd.toISOString(),
        before: stored,
        after,
      };
      if (stored === null) {
        out.push({ ...base, repaired: false, reason: 'these events have no period counter: its period end (from the customer’s billing anchor at its first event) is not known here' });
      } else if (dryRun) {
        out.push({ ...base, repaired: false, reason: 'dry run' });
      } else {
        if (keys) await replaceUniqueValues(tx, creatorId, key, keys);
        await setPeriodCounter(tx, creatorId, key, after.value, after.eventCount, at);
        out.push({ ...base, repaired: true });
      }
    }
    progress(done, 1 + found.length);
    return out;
  });
  const repaired = counters.filter((c) => c.repaired).length;
  rt.log.warn({ creatorId, repaired, left: counters.length - repaired, dryRun }, 'period counters repaired from raw events');
  return { creatorId, since: since.toISOString(), dryRun, repaired, left: counters.length - repaired, counters };
}
