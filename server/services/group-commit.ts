import { sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Db } from '../../db/client.js';
import { withCreator } from '../../db/tenant.js';
import { counterKey, startIngestTransaction } from '../../db/queries/usage.js';
import { AppError, isDatabaseUnavailable, unavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { pgError } from './db-errors.js';
import { IngestConfigCache } from './ingest-config-cache.js';
import { commitCreatorEvents, expectedCountersOf, IdempotencyKeyRace, judgeFromMemory, type CommittedCounter, type EventOutcome, type MemoryShare, type PreparedEvent } from './ingest.js';

/** Lanes for creators whose configuration is being changed (each holds a connection while it waits). */
const MAX_LANES = 2;
/** How long requests that found no lane wait before a group tries their creator again. */
const BOUNCE_MS = 25;
/**
 * Failures of a group judged from memory that say only that what it assumed did not hold: the
 * configuration changed or is being changed (SU001, app_ingest_guard), a counter changed
 * (SU002, app_write_counters_unchanged), an idempotency key was used before (23505), or its
 * counter locks crossed another group's (40P01).
 */
const MEMORY_MISSED = new Set(['SU001', 'SU002', '23505', '40P01']);
/**
 * A creator whose group judged from memory was refused is not judged from memory for its next
 * groups: 1 after a first refusal, doubling with each refusal in a row, at most this many. Other
 * server processes committing the same customers make a process's memory stale at every group
 * (each refusal a transaction that recorded nothing); alone again, it is judged from memory again
 * after at most this many groups.
 */
const MEMORY_PAUSE_MAX_GROUPS = 64;
/** Creators whose memory is paused, at most (the least recently refused are forgotten first). */
const MEMORY_PAUSES_KEPT = 1_000;

/** A creator's outcomes (its submissions' events in order) given back to each submission. */
function answerEach(out: Map<Submission, EventOutcome[]>, submissions: Submission[], outcomes: EventOutcome[]) {
  let offset = 0;
  for (const s of submissions) {
    out.set(s, outcomes.slice(offset, offset + s.events.length));
    offset += s.events.length;
  }
}

type Submission = {
  creatorId: string;
  events: PreparedEvent[];
  /** performance.now() when it was queued. */
  queuedAt: number;
  /** The clock's time when it arrived: it is judged as received then, however long it waited (for a change, in a lane). */
  arrivedAt: Date;
  resolve: (outcomes: EventOutcome[]) => void;
  reject: (error: unknown) => void;
  /** Answered 503 at its deadline ("may or may not have been recorded"): not committed again on its own after its group failed. */
  expired?: boolean;
};

export type GroupCommitterOptions = {
  /** Follow-up jobs are enqueued in the committing transaction. */
  boss: PgBoss;
  /** Most events one transaction takes. */
  maxEvents: number;
  /** Transactions in flight at once (each on its own connection). */
  maxInFlight: number;
  /**
   * While fewer than `largeQueue` events wait, at most this many transactions are in
   * flight (default: maxInFlight): small groups wait for a commit to finish and grow,
   * and each event pays a smaller share of a transaction, while large batches still get
   * every connection (at 64 connections: 16 instead of 11 single events per commit,
   * ≈ 15 % less Postgres CPU per event; batches held to 2 as well ran 0.88×;
   * BENCHMARKS.md round 5).
   */
  smallQueueInFlight?: number;
  /** Events waiting at which the queue counts as large (default: maxEvents). */
  largeQueue?: number;
  /**
   * The longest a submission waits for its commit (INGEST_TIMEOUT_MS; default: no limit).
   * Past it the request is answered 503: "nothing recorded" while it is still queued (it is
   * taken out), "may or may not have been recorded" once its transaction is under way (a
   * silent database: its COMMIT may be on its way or done).
   */
  timeoutMs?: number;
  now: () => Date;
  log: Logger;
  /** Creators' configuration kept between groups (default: one of its own). */
  configCache?: IngestConfigCache;
  /** Where commit latency, queue wait, group sizes and transaction results are counted (/metrics). */
  metrics?: Metrics['ingest'];
};

/**
 * Group commit: concurrent track requests share transactions. With nothing in flight a
 * submission commits at once (no added latency when idle); while commits are in flight,
 * arrivals queue and the next commit takes them all (up to maxEvents). How many commits
 * may be in flight depends on the queue: all maxInFlight for a large one, fewer for a
 * small one (smallQueueInFlight), so that single events share transactions. Every event is
 * acknowledged only after its transaction commits. A failed commit records none of its
 * events; its requests are then committed one by one, so that a request that cannot
 * commit (whoever sent it) fails alone, with 503, and the others of its group do not.
 * A creator whose configuration is being changed (db/tenant.ts) is left out of a group
 * rather than waited for in it: its requests commit apart, in a lane that waits for the
 * change, and everyone else's keep committing.
 */
export class GroupCommitter {
  private queue: Submission[] = [];
  /** Events in the queue. */
  private queued = 0;
  private inFlight = 0;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  /**
   * Submissions of creators whose configuration is being changed (their lock was not free
   * in a group), by creator, in arrival order: committed apart, in a lane that waits for
   * the change, so that the groups keep committing everyone else's events meanwhile.
   */
  private waiting = new Map<string, Submission[]>();
  /** Creators with a lane transaction in flight (one each, at most MAX_LANES in all). */
  private lanes = new Set<string>();
  /** Sends waiting requests that found no lane back to the queue (pumpLanes). */
  private bounce: ReturnType<typeof setTimeout> | null = null;
  readonly stats = { transactions: 0, events: 0, retries: 0, splits: 0, fromMemory: 0, memoryMissed: 0 };
  /** Creators' configuration as read by earlier groups, trusted at the version it was read at. */
  private readonly configCache: IngestConfigCache;
  /** Groups are judged from memory one at a time (judgeFromMemory). */
  private memoryTurn: Promise<unknown> = Promise.resolve();
  /** Per creator refused from memory: its groups left to go the usual way first, and the next pause. */
  private readonly memoryPauses = new Map<string, { skip: number; next: number }>();
  /**
   * How long a group waits for a row lock (a counter) before it fails and is split: half the
   * requests' deadline, so that a counter locked by a lost connection costs its own requests
   * their answer and holds no one else's past theirs (no limit without a deadline).
   */
  private readonly lockTimeoutMs: number;

  constructor(
    private readonly db: Db,
    private readonly options: GroupCommitterOptions,
  ) {
    this.lockTimeoutMs = options.timeoutMs === undefined ? 0 : Math.max(500, Math.floor(options.timeoutMs / 2));
    this.configCache = options.configCache ?? new IngestConfigCache();
  }

  submit(creatorId: string, events: PreparedEvent[]): Promise<EventOutcome[]> {
    if (this.closed) return Promise.reject(unavailable('The server is shutting down. Retry shortly.'));
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const submission: Submission = {
        creatorId,
        events,
        queuedAt: performance.now(),
        arrivedAt: this.options.now(),
        resolve: (outcomes) => (clearTimeout(timer), resolve(outcomes)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      };
      if (this.options.timeoutMs !== undefined) {
        timer = setTimeout(() => this.expire(submission, reject), this.options.timeoutMs);
        timer.unref();
      }
      this.queue.push(submission);
      this.queued += events.length;
      this.pump();
    });
  }

  /**
   * A submission past timeoutMs: answered 503. Still queued, it is taken out and nothing of it
   * is recorded. Otherwise its transaction is under way (or it waits in a lane for a change):
   * it may still commit, and the answer says so — a retry with the same idempotency keys is
   * recorded once. (A later settlement of its promise is ignored.)
   */
  private expire(submission: Submission, reject: (error: unknown) => void) {
    submission.expired = true;
    const at = this.queue.indexOf(submission);
    if (at !== -1) {
      this.queue.splice(at, 1);
      this.queued -= submission.events.length;
      reject(unavailable('The database did not take these events in time: nothing was recorded. Send them again.'));
      this.wakeIfIdle();
      return;
    }
    reject(
      unavailable(
        'The database did not answer in time while these events were being committed: they may or may not have been recorded. Send them again with the same idempotency keys (each is recorded once); an event sent without one may be counted twice.',
      ),
    );
  }

  /** Stops taking submissions and waits for queued ones to commit. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idle()) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private idle(): boolean {
    return this.inFlight === 0 && this.queue.length === 0 && this.lanes.size === 0 && this.waiting.size === 0 && this.bounce === null;
  }

  private wakeIfIdle() {
    if (this.idle()) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** How many transactions may be in flight for the queue as it is now. */
  private inFlightLimit(): number {
    const { maxInFlight, smallQueueInFlight = maxInFlight, largeQueue = this.options.maxEvents } = this.options;
    return this.queued >= largeQueue ? maxInFlight : Math.min(smallQueueInFlight, maxInFlight);
  }

  private pump() {
    while (this.queue.length > 0 && this.inFlight < this.inFlightLimit()) {
      const group: Submission[] = [];
      let size = 0;
      while (this.queue.length > 0 && (group.length === 0 || size + this.queue[0]!.events.length <= this.options.maxEvents)) {
        const next = this.queue.shift()!;
        group.push(next);
        size += next.events.length;
      }
      this.queued -= size;
      this.inFlight++;
      // The queue is in arrival order: the group's first request waited longest.
      this.options.metrics?.queueWaitSeconds.observe((performance.now() - group[0]!.queuedAt) / 1000);
      void this.commit(group, { wait: false }).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.pump();
        else this.wakeIfIdle();
      });
    }
  }

  /** Submissions whose creator's configuration lock was taken by a change: they wait in a lane. */
  private defer(submissions: Submission[]) {
    for (const s of submissions) this.waiting.set(s.creatorId, [...(this.waiting.get(s.creatorId) ?? []), s]);
    this.pumpLanes();
  }

  /**
   * A lane is one transaction that waits for a creator's change and then commits that
   * creator's waiting submissions (up to maxEvents; the rest go next). Lanes hold connections
   * of their own while they wait, so there are few: a creator beyond them goes back to the
   * queue shortly (below), and is tried again there.
   */
  private pumpLanes() {
    for (const [creatorId, submissions] of this.waiting) {
      if (this.lanes.size >= MAX_LANES) break;
      if (this.lanes.has(creatorId)) continue;
      const group: Submission[] = [];
      let size = 0;
      while (submissions.length > 0 && (group.length === 0 || size + submissions[0]!.events.length <= this.options.maxEvents)) {
        const next = submissions.shift()!;
        group.push(next);
        size += next.events.length;
      }
      if (submissions.length === 0) this.waiting.delete(creatorId);
      this.lanes.add(creatorId);
      void this.commit(group, { wait: true }).finally(() => {
        this.lanes.delete(creatorId);
        this.pumpLanes();
        this.wakeIfIdle();
      });
    }
    // Creators beyond the lanes are not held behind other creators' changes: their requests
    // go back to the queue shortly, and a group takes them if their change is over (else
    // they come back here). Only while more creators than lanes are mid-change.
    if (this.bounce === null && [...this.waiting.keys()].some((creatorId) => !this.lanes.has(creatorId))) {
      this.bounce = setTimeout(() => {
        this.bounce = null;
        const back: Submission[] = [];
        for (const [creatorId, submissions] of this.waiting) {
          if (this.lanes.has(creatorId)) continue;
          back.push(...submissions);
          this.waiting.delete(creatorId);
        }
        this.queue.unshift(...back);
        this.queued += back.reduce((n, s) => n + s.events.length, 0);
        this.pump();
        this.pumpLanes();
      }, BOUNCE_MS);
    }
  }

  private async commit(submitted: Submission[], options: { wait: boolean }) {
    let group = submitted;
    const metrics = this.options.metrics;
    // Per creator (each creator's submissions in arrival order): one tenant switch per
    // creator, not per request. Creators in id order, so two groups lock rows in the same order.
    const byCreator = new Map<string, Submission[]>();
    for (const s of [...group].sort((a, b) => (a.creatorId < b.creatorId ? -1 : a.creatorId > b.creatorId ? 1 : 0))) {
      byCreator.set(s.creatorId, [...(byCreator.get(s.creatorId) ?? []), s]);
    }
    // First, unless it waits in a lane: judged from memory, and sent in one round trip with its
    // COMMIT. If memory cannot judge it, or the statements find that what it assumed no longer
    // holds, the group goes the usual way (reading first).
    let fromMemory = options.wait ? null : await this.judgeFromMemory(byCreator);
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      let committed: Map<Submission, EventOutcome[]>;
      // Creators whose configuration lock a change holds: left out of this transaction.
      let deferred: Submission[] = [];
      // Every request's outcome, once the transaction's work is done and COMMIT goes out.
      let decided: Map<Submission, EventOutcome[]> | null = null;
      // The counters each creator's share holds (no group is judged from memory on them but from
      // the values this one leaves, if known), and the values it leaves, kept once it commits.
      let held: Array<{ creatorId: string; version: number; keys: string[]; counters: CommittedCounter[] }> = [];
      const memoryShares = fromMemory;
      // A group judged from memory holds its counters already (judgeFromMemory).
      if (memoryShares) {
        for (const [creatorId, share] of memoryShares) held.push({ creatorId, version: share.version, keys: share.counters.map((c) => c.key), counters: share.counters });
      }
      const release = (committedNow: boolean) => {
        for (const h of held) this.configCache.release(h.creatorId, h.version, h.keys, h.counters, committedNow);
        held = [];
      };
      try {
        const written: Array<Promise<void>> = [];
        const results = await this.db.transaction(async (tx) => {
          const out = new Map<Submission, EventOutcome[]>();
          deferred = [];
          if (memoryShares) {
            for (const [creatorId, submissions] of byCreator) {
              const share = memoryShares.get(creatorId)!;
              written.push((await share.send(tx, { lockTimeoutMs: this.lockTimeoutMs })).written);
              answerEach(out, submissions, share.outcomes);
            }
            decided = out;
            return out;
          }
          for (const [creatorId, submissions] of byCreator) {
            // Not awaited here: the tenant switch goes out in one write with the creator's
            // first reads, ahead of them on the connection (commitCreatorEvents awaits it).
            // It takes the creator's configuration lock shared; in a group, only if no change
            // holds it or waits for it (a lane waits instead, see defer).
            const tenantSet = startIngestTransaction(tx, creatorId, { ...options, lockTimeoutMs: this.lockTimeoutMs });
            // Each event as of its own request's arrival: requests that waited (behind other
            // commits, in a lane for a change, sent back to the queue) are stamped and judged
            // (future timestamps, the late-event grace) as of when they arrived, as they would
            // have been without waiting — and one that arrived after midnight on the 1st is the
            // new month's, whatever request of the old month it shares a transaction with.
            const arrivals = submissions.flatMap((s) => s.events.map(() => s.arrivedAt));
            const events = submissions.flatMap((s) => s.events);
            // The counters memory says these events touch, held with their values unknown until
            // this group settles: a group judged from memory meanwhile would start from values this
            // one is about to change.
            const expected = expectedCountersOf(this.configCache, creatorId, events, arrivals);
            const holding = { creatorId, version: -1, keys: expected.map(counterKey), counters: [] as CommittedCounter[] };
            this.configCache.hold(creatorId, holding.keys.map((key) => ({ key })));
            held.push(holding);
            const share = await commitCreatorEvents(this.options.boss, tx, creatorId, events, arrivals, tenantSet, this.options.now, this.configCache, expected);
            if (!share.locked) {
              deferred.push(...submissions);
              continue;
            }
            holding.version = share.version;
            holding.counters = share.counters;
            written.push(share.written);
            answerEach(out, submissions, share.outcomes);
          }
          decided = out;
          return out;
        }).catch(async (error: unknown) => {
          // The connection is gone: nothing of the transaction was committed, and the writes
          // have failed with it (the patched driver fails a closed transaction's queued
          // statements too); nothing to wait for.
          if (isDatabaseUnavailable(error)) throw error;
          // A creator's write that failed ahead of a later creator's statements made those
          // fail too (the transaction was aborted): the write's error is the cause, and it
          // decides below whether the group is retried.
          const failedWrite = (await Promise.allSettled(written)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
          throw failedWrite ? failedWrite.reason : error;
        });
        // The writes went out ahead of the COMMIT, in the same round trip. If one failed,
        // the transaction was aborted and that COMMIT rolled it back: nothing of the group
        // was recorded, and the failure is handled below like any other.
        await Promise.all(written);
        committed = results;
        release(true);
      } catch (error) {
        // What a group judged from memory assumed did not hold (a change, another process's
        // commit, a key used before): nothing of it was recorded. It goes the usual way now,
        // not counted as an attempt.
        if (memoryShares && !isDatabaseUnavailable(error) && MEMORY_MISSED.has(pgError(error)?.code ?? '')) {
          release(false);
          for (const creatorId of memoryShares.keys()) this.pauseMemory(creatorId);
          fromMemory = null;
          this.stats.memoryMissed++;
          this.options.metrics?.transactions.inc({ result: 'memory_missed' });
          attempt--;
          continue;
        }
        // Committed or not is unknown when the COMMIT's answer was lost: forgotten either way;
        // and whatever happens next to the group goes the usual way.
        release(false);
        fromMemory = null;
        // Creators left out of this transaction had nothing in it: whatever happened to it
        // did not happen to them. They wait in a lane, and the rest is retried or answered.
        if (deferred.length > 0) {
          const out = new Set(deferred);
          group = group.filter((s) => !out.has(s));
          for (const s of deferred) byCreator.delete(s.creatorId);
          metrics?.transactions.inc({ result: 'deferred' });
          this.defer(deferred);
          // Handed over: not again below, should the group turn out committed after all.
          deferred = [];
          if (group.length === 0) return;
        }
        // The connection went with the COMMIT on its way or its answer: Postgres may have
        // committed. Answered "nothing recorded", a client would send again what is
        // recorded (counted twice without an idempotency key). Asked on another connection:
        // found, the group is committed; not found, it may still be — the old backend may not
        // have read the COMMIT waiting in its socket yet — so the answer says it is unknown.
        const cutAtCommit = decided !== null && isDatabaseUnavailable(error);
        if (cutAtCommit && (await this.recordedAfterAll(decided!))) {
          this.options.log.warn({ err: error }, 'the answer to a COMMIT was lost; the group was committed');
          committed = decided!;
        } else {
          const failure = cutAtCommit
            ? unavailable('The database stopped answering while these events were being committed: they may or may not have been recorded. Send them again with the same idempotency keys (each is recorded once); an event sent without one may be counted twice.')
            : undefined;
          const settled = await this.failed(group, attempt, error, options, failure);
          if (settled === 'retry') continue;
          return;
        }
      }
      // Committed: what follows is bookkeeping, outside the try, so that nothing failing here
      // could send a committed group round again.
      // (A transaction whose creators were all left out committed nothing: not counted.)
      if (committed.size > 0) {
        this.stats.transactions++;
        const events = group.reduce((n, s) => n + (committed.has(s) ? s.events.length : 0), 0);
        this.stats.events += events;
        metrics?.commitSeconds.observe((performance.now() - started) / 1000);
        metrics?.groupEvents.observe(events);
        metrics?.transactions.inc({ result: 'committed' });
        if (memoryShares) {
          this.stats.fromMemory++;
          metrics?.fromMemory.inc();
          for (const creatorId of memoryShares.keys()) this.memoryPauses.delete(creatorId);
        }
      }
      for (const s of group) if (committed.has(s)) s.resolve(committed.get(s)!);
      if (deferred.length > 0) {
        metrics?.transactions.inc({ result: 'deferred' });
        this.defer(deferred);
      }
      return;
    }
  }

  /**
   * Each creator's share of the group judged from memory, its counters held (the next group
   * judged from memory starts from the values this one leaves), or null if memory cannot judge
   * one of them. One group at a time: a group judged while another was between its judgement and
   * its hold would start from the values the other is changing, and its write would find them changed.
   */
  private judgeFromMemory(byCreator: Map<string, Submission[]>): Promise<Map<string, MemoryShare> | null> {
    const turn = this.memoryTurn.then(async () => {
      const shares = new Map<string, MemoryShare>();
      // A creator paused: this group goes the usual way (and counts towards each pause).
      let paused = false;
      for (const creatorId of byCreator.keys()) {
        const pause = this.memoryPauses.get(creatorId);
        if (pause && pause.skip > 0) {
          pause.skip--;
          paused = true;
        }
      }
      if (paused) return null;
      for (const [creatorId, submissions] of byCreator) {
        const arrivals = submissions.flatMap((s) => s.events.map(() => s.arrivedAt));
        const share = await judgeFromMemory(this.options.boss, creatorId, submissions.flatMap((s) => s.events), arrivals, this.options.now, this.configCache);
        if (!share) return null;
        shares.set(creatorId, share);
      }
      for (const [creatorId, share] of shares) this.configCache.hold(creatorId, share.counters);
      return shares;
    });
    this.memoryTurn = turn.catch(() => undefined);
    // Memory is only a shortcut: whatever goes wrong in it, the group goes the usual way.
    return turn.catch((error: unknown) => {
      this.options.log.error({ err: error }, 'judging a group from memory failed; it is committed the usual way');
      return null;
    });
  }

  /** After a refusal from memory: the creator's next groups go the usual way (MEMORY_PAUSE_MAX_GROUPS). */
  private pauseMemory(creatorId: string): void {
    const pause = this.memoryPauses.get(creatorId) ?? { skip: 0, next: 1 };
    pause.skip = pause.next;
    pause.next = Math.min(pause.next * 2, MEMORY_PAUSE_MAX_GROUPS);
    this.memoryPauses.delete(creatorId);
    this.memoryPauses.set(creatorId, pause);
    if (this.memoryPauses.size > MEMORY_PAUSES_KEPT) this.memoryPauses.delete(this.memoryPauses.keys().next().value!);
  }

  /**
   * Whether a group whose COMMIT lost its answer is known to be committed: its first
   * accepted event is in usage_events (a transaction commits whole). False when not found
   * or the database cannot say. A group that accepted nothing changed nothing its answers
   * depend on (refusals and replays), which stand either way.
   */
  private async recordedAfterAll(decided: Map<Submission, EventOutcome[]>): Promise<boolean> {
    for (const [submission, outcomes] of decided) {
      const accepted = outcomes.find((o): o is Extract<EventOutcome, { ok: true }> => o.ok && !o.replayed);
      if (!accepted) continue;
      try {
        const found = await withCreator(this.db, submission.creatorId, (tx) =>
          tx.execute(sql`select 1 from usage_events where creator_id = ${submission.creatorId} and event_id = ${accepted.body.id} and occurred_at = ${accepted.body.timestamp}::timestamptz`),
        );
        return found.length > 0;
      } catch {
        return false;
      }
    }
    return true;
  }

  /** A group that did not commit: retried (the caller goes round again), split, or its requests answered 503. */
  private async failed(group: Submission[], attempt: number, error: unknown, options: { wait: boolean }, unknownOutcome?: AppError): Promise<'retry' | 'done'> {
    const metrics = this.options.metrics;
    const code = pgError(error)?.code;
    // Deadlock or serialization failure: nothing committed, the whole group may retry.
    // So may a group that lost an idempotency key to a concurrent commit: the retry
    // finds that key's answer and replays it (each such retry is caused by another
    // commit of one of its keys, so a few attempts are plenty).
    if (((code === '40P01' || code === '40001') && attempt < 3) || (error instanceof IdempotencyKeyRace && attempt < 8)) {
      this.stats.retries++;
      metrics?.transactions.inc({ result: 'retried' });
      return 'retry';
    }
    // Nothing of the group was recorded. Unless the database itself is gone, the cause
    // may be one request's alone (another creator's, even): each request then commits
    // on its own, so that only the one that cannot commit fails.
    if (group.length > 1 && !isDatabaseUnavailable(error)) {
      this.options.log.warn({ err: error, requests: group.length }, 'group commit failed; committing its requests one by one');
      this.stats.splits++;
      metrics?.transactions.inc({ result: 'split' });
      // A request already answered at its deadline is not tried again alone: its answer said it
      // may not have been recorded, and a counter that cannot be locked in time would cost each
      // such retry another lock timeout, holding this transaction's turn from everyone else.
      for (const s of group) if (!s.expired) await this.commit([s], options);
      return 'done';
    }
    const failure =
      unknownOutcome ?? (error instanceof AppError ? error : isDatabaseUnavailable(error) ? unavailable() : unavailable('The events could not be committed. Nothing was recorded; retry.'));
    this.options.log.error({ err: error, events: group.reduce((n, s) => n + s.events.length, 0), outcome: unknownOutcome ? 'unknown' : 'not recorded' }, 'commit failed; its requests answered 503');
    metrics?.transactions.inc({ result: 'failed' });
    for (const s of group) s.reject(failure);
    return 'done';
  }
}
