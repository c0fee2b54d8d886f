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
  /** Counters (creatorId|counterKey) in a group's transaction that has not settled: their values are about to change. */
  private readonly inFlight = new Map<string, number>();

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
    if (!entry || entry.version !== version) {
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
   * These counters as this process last committed them, ready to judge from (their event
   * counts start at 0: what a judgement adds); null if one is not kept, or is in a group's
   * transaction that has not settled.
   */
  countersOf(creatorId: string, keys: CounterKey[]): Map<string, LockedCounter> | null {
    const entry = this.entries.get(creatorId);
    if (!entry) return null;
    const counters = new Map<string, LockedCounter>();
    for (const key of keys) {
      const ck = counterKey(key);
      if (counters.has(ck)) continue;
      const value = entry.counters.get(ck);
      if (value === undefined || this.inFlight.has(`${creatorId}|${ck}`)) return null;
      counters.set(ck, { ...key, value, eventCount: 0, rowId: '' });
    }
    return counters;
  }

  /** Counters whose values a group is changing: not judged from memory until it settles (release). */
  hold(creatorId: string, keys: string[]): void {
    for (const key of keys) this.inFlight.set(`${creatorId}|${key}`, (this.inFlight.get(`${creatorId}|${key}`) ?? 0) + 1);
  }

  /**
   * A group settled: its counters' values as it committed them are kept (if the configuration is
   * still at the version it was judged at), or forgotten (`committed` false: rolled back, or not
   * known whether it committed — read again next time).
   */
  release(creatorId: string, version: number, counters: Array<{ key: string; value: string }>, committed: boolean): void {
    const entry = this.entries.get(creatorId);
    for (const { key, value } of counters) {
      const held = `${creatorId}|${key}`;
      const n = (this.inFlight.get(held) ?? 1) - 1;
      if (n > 0) this.inFlight.set(held, n);
      else this.inFlight.delete(held);
      if (!entry) continue;
      if (committed && entry.version === version) entry.counters.set(key, value);
      else entry.counters.delete(key);
    }
    if (entry && entry.counters.size > this.limits.countersPerCreator) entry.counters.clear();
  }
}
