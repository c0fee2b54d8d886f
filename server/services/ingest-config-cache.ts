import type { Customer } from '../../db/queries/customers.js';
import type { Meter } from '../../db/queries/meters.js';
import { counterKey, type CounterKey, type LockedCounter } from '../../db/queries/usage.js';

export type IngestSettings = { defaultPlan: string | null; lateEventGraceHours: number };

/** What ingestion judged a creator's events by, as read at one configuration version. */
export type IngestConfig = {
  version: number;
  /** The settings row (absent: not read yet at this version, or no row then). */
  settings?: IngestSettings;
  /** Live meters by event_name: those read at this version (an event_name not here is read, never taken as unknown). */
  meters: Map<string, Meter>;
  /** Customers by user_id, committed before they were read (one created by the reading transaction is not kept). */
  customers: Map<string, Customer>;
  /** Period counters' values as this process last committed them, by counterKey. */
  counters: Map<string, string>;
};

/**
 * A creator's metering configuration kept in memory between group commits, so that a group
 * reads only its configuration version (with the counters it locks, one statement) instead of
 * the settings, meters and customers again. What is kept is trusted only at the version it was
 * read at: every change to what ingestion judges by raises the version in its own transaction
 * (triggers, migration 0041), and a group reads the version under the creator's configuration
 * lock (db/tenant.ts), which no change can commit past until the group has. A group that finds
 * another version, or an event_name or user_id not kept, reads from Postgres as before and
 * keeps what it read. Bounded: the least recently used creators go first, and a creator's
 * customers are forgotten all at once past `customersPerCreator` (they are read again).
 */
export class IngestConfigCache {
  private readonly entries = new Map<string, IngestConfig>();
  /**
   * Counters (creatorId|counterKey) in groups' transactions that have not settled: how many, and
   * the value the latest of them leaves (the next group judged from memory starts from it; if a
   * group before it does not commit, its own write finds the counter changed and it goes the usual way).
   */
  private readonly inFlight = new Map<string, { groups: number; value: string | undefined }>();

  constructor(private readonly limits: { creators: number; customersPerCreator: number; countersPerCreator: number } = {
      creators: 1_000,
      customersPerCreator: 100_000,
      countersPerCreator: 200_000,
    }) {}

  /** What is kept for a creator, at whatever version (to know which counters a group will lock). */
  peek(creatorId: string): IngestConfig | undefined {
    const entry = this.entries.get(creatorId);
    if (entry) {
      // Most recently used last: eviction takes the first.
      this.entries.delete(creatorId);
      this.entries.set(creatorId, entry);
    }
    return entry;
  }

  /**
   * Keeps what a group read at `version`: added to what is kept if that is the same version,
   * in place of it otherwise (what was kept at another version is not trusted any more).
   */
  remember(creatorId: string, version: number, read: { settings?: IngestSettings; meters: Meter[]; customers: Customer[] }): IngestConfig {
    let entry = this.entries.get(creatorId);
    if (entry && entry.version > version) {
      // Read at an older version than memory is at now (a group that read later kept its own):
      // answered, not kept.
      entry = { version, meters: new Map(), customers: new Map(), counters: new Map() };
    } else if (!entry || entry.version !== version) {
      entry = { version, meters: new Map(), customers: new Map(), counters: new Map() };
      this.entries.delete(creatorId);
      this.entries.set(creatorId, entry);
      if (this.entries.size > this.limits.creators) this.entries.delete(this.entries.keys().next().value!);
    }
    if (read.settings) entry.settings = read.settings;
    for (const meter of read.meters) entry.meters.set(meter.eventName, meter);
    if (entry.customers.size + read.customers.length > this.limits.customersPerCreator) entry.customers.clear();
    for (const customer of read.customers) entry.customers.set(customer.userId, customer);
    return entry;
  }

  /**
   * These counters as this process last committed them — or as the latest group in flight
   * leaves them —, ready to judge from (their event counts start at 0: what a judgement adds);
   * null if one is not kept.
   */
  countersOf(creatorId: string, keys: CounterKey[]): Map<string, LockedCounter> | null {
    const entry = this.entries.get(creatorId);
    if (!entry) return null;
    const counters = new Map<string, LockedCounter>();
    for (const key of keys) {
      const ck = counterKey(key);
      if (counters.has(ck)) continue;
      const held = this.inFlight.get(`${creatorId}|${ck}`);
      const value = held ? held.value : entry.counters.get(ck);
      if (value === undefined) return null;
      counters.set(ck, { ...key, value, eventCount: 0, rowId: '' });
    }
    return counters;
  }

  /**
   * Counters a group may change, until it settles (release), and the values it leaves them at:
   * known for a group judged from memory (the next one starts from them), unknown for a group
   * that reads them under lock (no group is judged from memory on them meanwhile).
   */
  hold(creatorId: string, counters: Array<{ key: string; value?: string }>): void {
    for (const { key, value } of counters) {
      const held = `${creatorId}|${key}`;
      this.inFlight.set(held, { groups: (this.inFlight.get(held)?.groups ?? 0) + 1, value });
    }
  }

  /**
   * A group settled: the counters it held are free again, and the values it left (`counters`)
   * are kept if it committed at the version memory is at; if it did not commit (or it is not
   * known whether it did), what memory had for them is forgotten (read again next time).
   */
  release(creatorId: string, version: number, held: string[], counters: Array<{ key: string; value: string }>, committed: boolean): void {
    for (const key of held) {
      const inFlight = this.inFlight.get(`${creatorId}|${key}`);
      if (inFlight && inFlight.groups > 1) inFlight.groups--;
      else this.inFlight.delete(`${creatorId}|${key}`);
    }
    const entry = this.entries.get(creatorId);
    if (!entry) return;
    if (committed && entry.version === version) for (const { key, value } of counters) entry.counters.set(key, value);
    else if (!committed) for (const key of [...held, ...counters.map((c) => c.key)]) entry.counters.delete(key);
    else for (const { key } of counters) entry.counters.delete(key);
    if (entry.counters.size > this.limits.countersPerCreator) entry.counters.clear();
  }
}
