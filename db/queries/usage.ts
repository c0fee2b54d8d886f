import { and, eq, inArray, sql } from 'drizzle-orm';
import type postgres from 'postgres';
import type { Db, Queryable } from '../client.js';
import type { Customer } from './customers.js';
import type { Meter, PlanLimit } from './meters.js';
import { usageUniqueValues } from '../schema.js';
import { notSuperseded, ts, uuidArray } from './params.js';

/** The period counter of one meter × customer × billing period. */
export type CounterKey = { meterId: string; customerId: string; periodStart: Date; periodEnd: Date };
export type Counter = CounterKey & { value: string; eventCount: number };
/** A counter locked by this transaction; rowId is its tuple's ctid, stable until our own update (nobody else can change it meanwhile). */
export type LockedCounter = Counter & { rowId: string };

/** Row sets travel as one JSON parameter (app_counter_rows / json_to_recordset): one bind, any size, typed in SQL. */
const keysJson = (keys: Array<{ meterId: string; customerId: string; periodStart: Date }>) =>
  JSON.stringify(keys.map((k) => ({ meter_id: k.meterId, customer_id: k.customerId, window_start: k.periodStart.toISOString() })));

/** A counter's identity as a string (a Map key, and the order counters are locked in). */
const keyOf = (k: { meterId: string; customerId: string; periodStart: Date }) => `${k.meterId}|${k.customerId}|${k.periodStart.getTime()}`;
export const counterKey = keyOf;

/** A piece of SQL inside a `statement` template that is part of its text (the same on every call), not a parameter. */
class Fragment {
  constructor(readonly text: string) {}
}
export const fragment = (text: string) => new Fragment(text);

const fragmentTexts = (values: unknown[]) => values.flatMap((v) => (v instanceof Fragment ? [v.text] : []));

/** A statement's text and the values of its parameters $1, $2, …, in order. */
type Statement = { text: string; params: unknown[] };
const statementTexts = new WeakMap<TemplateStringsArray, { text: string; fragments: string[] }>();

/**
 * A fixed statement: each interpolated value is a parameter ($1, $2, …) unless it is a
 * `fragment`. Its text is worked out once per call site (a template's strings are the
 * same object on every call), where drizzle's `sql` builds it again on each call (its
 * entity checks and query building were ≈ 4 % of the server's CPU under single events).
 * A fragment must be the same on every call of its call site (checked).
 */
export function statement(strings: TemplateStringsArray, ...values: unknown[]): Statement {
  let known = statementTexts.get(strings);
  if (known === undefined) {
    let n = 0;
    const text = strings.reduce((acc, part, i) => {
      if (i === values.length) return acc + part;
      const value = values[i];
      return acc + part + (value instanceof Fragment ? value.text : `$${++n}`);
    }, '');
    statementTexts.set(strings, (known = { text, fragments: fragmentTexts(values) }));
  }
  if (known.fragments.length === 0) return { text: known.text, params: values };
  if (fragmentTexts(values).some((f, i) => f !== known.fragments[i])) throw new Error(`a fragment of this statement changed between calls: ${known.text.slice(0, 80)}`);
  return { text: known.text, params: values.filter((v) => !(v instanceof Fragment)) };
}

/**
 * Runs a fixed statement as a named prepared statement of the connection. Drizzle runs
 * `tx.execute` unprepared, and postgres.js then asks Postgres for the parameter types
 * first (Parse/Describe/Sync, wait, then Bind/Execute): two round trips per statement,
 * and a statement waiting for its description stops everything queued behind it from
 * being pipelined. Prepared once per connection, a statement goes out in one write
 * with the others issued in the same tick. Only for statements whose text is fixed (the
 * connection keeps one prepared statement per text).
 */
async function runPrepared<T>(q: Queryable, query: Statement): Promise<T[]> {
  const { session } = q as unknown as { session: { client: postgres.Sql } };
  return (await session.client.unsafe(query.text, query.params as postgres.ParameterOrJSON<never>[], { prepare: true })) as unknown as T[];
}

/**
 * A pg-boss executor on this transaction whose statements are prepared (see runPrepared).
 * onIssued is called once pg-boss has handed over its statement, which is then queued on
 * the transaction's connection.
 */
export function preparedJobExecutor(q: Queryable, onIssued?: () => void): { executeSql: (text: string, values?: unknown[]) => Promise<{ rows: unknown[] }> } {
  const { session } = q as unknown as { session: { client: postgres.Sql } };
  return {
    executeSql: async (text, values = []) => {
      // execute(): postgres.js queues a query only once it is awaited or executed.
      const pending = session.client.unsafe(text, values as postgres.ParameterOrJSON<never>[], { prepare: true }).execute();
      onIssued?.();
      return { rows: [...(await pending)] };
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Switches an ingestion transaction to a creator: the RLS tenant, the creator's
 * configuration lock held shared until commit (lockCreatorConfig in db/tenant.ts, same key:
 * none can commit until this transaction has) and, transaction-local, nested loops only (prepared, so it can
 * travel in one write with the reads after it). Every statement of an ingestion transaction is driven by a handful
 * of keys (counters, idempotency keys) against tables holding a creator's whole history;
 * row-set parameters are estimated at 10–100 rows, and the planner then prefers hashing
 * the creator's whole table over probing its primary key per key (measured: 5–10 ms vs
 * 0.2 ms per statement).
 *
 * With `wait: false` a change in progress (or waiting for its turn) is not waited for: the
 * answer is false, and the creator's events must not be judged in this transaction (the
 * reads issued with the switch ran, unlocked; nothing may be written). The group commit
 * then commits them apart, waiting (`wait: true`), so that one creator's change never holds
 * up a transaction carrying other creators' events.
 */
export async function startIngestTransaction(tx: Queryable, creatorId: string, options: { wait: boolean; lockTimeoutMs?: number; expectedVersion?: number }): Promise<boolean> {
  if (!UUID.test(creatorId)) throw new Error('invalid tenant id');
  if (options.expectedVersion !== undefined) {
    // A group judged from memory: the lock taken with try and the version checked by
    // app_ingest_guard (migration 0042), which fails the statement (SQLSTATE SU001) if either
    // is not as the judgement assumed — and so the transaction.
    await runPrepared(
      tx,
      statement`select set_config('app.creator_id', ${creatorId}, true), set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), set_config('lock_timeout', ${String(options.lockTimeoutMs ?? 0)}, true), app_ingest_guard(${creatorId}::uuid, ${options.expectedVersion}::bigint)`,
    );
    return true;
  }
  // Row locks (the counters') wait at most lockTimeoutMs (0: no limit): a counter held by a
  // backend whose client is gone (a half-open connection) fails the group, which is then split,
  // instead of holding the committer's transactions — and everyone else's events — behind it.
  // Set after the lane's configuration lock (the target list runs in order): a lane waits for
  // a change as long as it takes.
  const lockTimeout = String(options.lockTimeoutMs ?? 0);
  const [row] = await runPrepared<{ locked: boolean }>(
    tx,
    options.wait
      ? statement`select set_config('app.creator_id', ${creatorId}, true), set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), pg_advisory_xact_lock_shared(hashtextextended('config|' || ${creatorId}::text, 0)), set_config('lock_timeout', ${lockTimeout}, true), true as locked`
      : statement`select set_config('app.creator_id', ${creatorId}, true), set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), set_config('lock_timeout', ${lockTimeout}, true), pg_try_advisory_xact_lock_shared(hashtextextended('config|' || ${creatorId}::text, 0)) as locked`,
  );
  return row!.locked;
}

type CounterRow = { meter_id: string; customer_id: string; window_start: Date | string; window_end: Date | string; value: string; event_count: string | number };

const fromCounterRow = (row: CounterRow): Counter => ({
  meterId: row.meter_id,
  customerId: row.customer_id,
  periodStart: new Date(row.window_start),
  periodEnd: new Date(row.window_end),
  value: String(row.value),
  eventCount: Number(row.event_count),
});

/** Counters by counterKey. */
function byKey<C extends Counter>(counters: Iterable<C>): Map<string, C> {
  return new Map([...counters].map((c) => [keyOf(c), c]));
}

const toCounterMap = (rows: CounterRow[]): Map<string, Counter> => byKey(rows.map(fromCounterRow));

const toLockedMap = (rows: Array<CounterRow & { row_id: string }>): Map<string, LockedCounter> => byKey(rows.map((row) => ({ ...fromCounterRow(row), rowId: row.row_id })));

const counterRowsJson = (keys: CounterKey[]) =>
  JSON.stringify(keys.map((k) => ({ meter_id: k.meterId, customer_id: k.customerId, window_start: k.periodStart.toISOString(), window_end: k.periodEnd.toISOString() })));

/** Existing counters of these keys, locked (lockCountersAtVersion without its version). */
async function selectCountersForUpdate(tx: Queryable, creatorId: string, keys: CounterKey[]): Promise<Map<string, LockedCounter>> {
  if (keys.length === 0) return new Map();
  return (await lockCountersAtVersion(tx, creatorId, keys)).counters;
}

/**
 * The creator's configuration version (creator_config_versions; 0 before any change) and, in the
 * same statement, these existing period counters locked (FOR UPDATE, in the keys' order; a key
 * without a counter is left out). To be issued after the statement that takes the configuration
 * lock (startIngestTransaction): a statement of its own, so its snapshot is taken once the lock
 * is held, and the version it reads is the one the group is judged at.
 */
export async function lockCountersAtVersion(tx: Queryable, creatorId: string, keys: CounterKey[]): Promise<{ version: number; counters: Map<string, LockedCounter> }> {
  // Lateral: one primary-key probe per key, locked in the keys' order (the caller sorts
  // them, so concurrent groups lock in the same order). A plain join let the planner put
  // the counters table on the outside and walk all of a creator's counters per group
  // (measured 20 ms per statement over 10,000 customers, against 0.2 ms).
  const rows = await runPrepared<{ version: string | number } & ({ row_id: string } & CounterRow | { row_id: null })>(tx, statement`
    select v.version, a.meter_id, a.customer_id, a.window_start, a.window_end, a.value, a.event_count, a.row_id
    from (select coalesce((select version from creator_config_versions where creator_id = ${creatorId}), 0) as version) v
    left join lateral (
      select c.meter_id, c.customer_id, c.window_start, c.window_end, c.value, c.event_count, c.row_id
      from app_counter_rows(${keysJson(keys)}::json) k
      cross join lateral (
        select c.meter_id, c.customer_id, c.window_start, c.window_end, c.value, c.event_count, c.ctid::text as row_id
        from usage_aggregates c
        where c.creator_id = ${creatorId} and c.meter_id = k.meter_id and c.customer_id = k.customer_id
          and c.window = 'period' and c.window_start = k.window_start
        for update
      ) c
    ) a on true`);
  const locked = rows.filter((r): r is { version: string | number } & CounterRow & { row_id: string } => r.row_id !== null);
  return { version: Number(rows[0]!.version), counters: toLockedMap(locked) };
}

/**
 * Locks the period counters of these keys (FOR UPDATE), creating missing ones. The caller
 * decides under the lock and writes back once. Existing counters — the usual case — are
 * locked by one statement in key order; missing ones are then inserted in key order
 * (a concurrent insert of the same counter makes us wait for it, and we lock its row
 * after). Concurrent commits therefore take turns on a counter; the rare lock-order
 * cycle between a group still creating counters and one locking them is a deadlock that
 * Postgres detects, and the group commit retries the whole group.
 */
export async function lockCounters(
  tx: Queryable,
  creatorId: string,
  keys: CounterKey[],
  /** Counters this transaction has locked already (lockCountersAtVersion): not asked for again. */
  locked: Map<string, LockedCounter> = new Map(),
): Promise<{ counters: Map<string, LockedCounter>; created: Set<string> }> {
  // Each key's string worked out once (sorting 1,000 keys compares ~10,000 pairs).
  const byString = new Map(keys.map((k) => [keyOf(k), k]));
  const counters = new Map([...locked].filter(([key]) => byString.has(key)));
  const unique = [...byString.keys()].filter((key) => !counters.has(key)).sort().map((key) => byString.get(key)!);
  if (unique.length === 0) return { counters, created: new Set() };
  for (const [key, counter] of await selectCountersForUpdate(tx, creatorId, unique)) counters.set(key, counter);
  const missing = unique.filter((k) => !counters.has(keyOf(k)));
  const created = new Set<string>();
  if (missing.length === 0) return { counters, created };
  const inserted = await runPrepared<CounterRow & { row_id: string }>(tx, statement`
    insert into usage_aggregates (creator_id, meter_id, customer_id, "window", window_start, window_end)
    select ${creatorId}, k.meter_id, k.customer_id, 'period', k.window_start, k.window_end
    from json_to_recordset(${counterRowsJson(missing)}::json) as k(meter_id uuid, customer_id uuid, window_start timestamptz, window_end timestamptz)
    order by k.meter_id, k.customer_id, k.window_start
    on conflict do nothing
    returning meter_id, customer_id, window_start, window_end, value, event_count, ctid::text as row_id`);
  // A row we inserted is ours (locked until commit); one a concurrent transaction created meanwhile is locked now.
  for (const [key, counter] of toLockedMap(inserted)) {
    counters.set(key, counter);
    created.add(key);
  }
  const raced = missing.filter((k) => !counters.has(keyOf(k)));
  for (const [key, counter] of await selectCountersForUpdate(tx, creatorId, raced)) counters.set(key, counter);
  return { counters, created };
}

/** Removes period counters this transaction created but no accepted event used. */
export async function deleteCounters(tx: Queryable, creatorId: string, keys: Array<{ meterId: string; customerId: string; periodStart: Date }>): Promise<void> {
  if (keys.length === 0) return;
  await runPrepared(tx, statement`
    delete from usage_aggregates a
    using app_counter_rows(${keysJson(keys)}::json) k
    where a.creator_id = ${creatorId} and a.window = 'period'
      and a.meter_id = k.meter_id and a.customer_id = k.customer_id and a.window_start = k.window_start`);
}

/** Period counters without locking (reads: check, usage reports). */
export async function readCounters(tx: Queryable, keys: Array<{ meterId: string; customerId: string; periodStart: Date }>): Promise<Map<string, Counter>> {
  if (keys.length === 0) return new Map();
  // Lateral: one primary-key probe per key, whatever the statistics say (see selectCountersForUpdate).
  const rows = await runPrepared<CounterRow>(tx, statement`
    select a.meter_id, a.customer_id, a.window_start, a.window_end, a.value, a.event_count
    from app_counter_rows(${keysJson(keys)}::json) k
    cross join lateral (
      select c.meter_id, c.customer_id, c.window_start, c.window_end, c.value, c.event_count
      from usage_aggregates c
      where c.creator_id = app_current_creator() and c.meter_id = k.meter_id and c.customer_id = k.customer_id
        and c.window = 'period' and c.window_start = k.window_start
    ) a`);
  return toCounterMap(rows);
}

/** Which of these distinct values a unique meter has already seen in the period. */
export async function findSeenDistinct(tx: Queryable, key: { meterId: string; customerId: string; periodStart: Date }, values: string[]): Promise<Set<string>> {
  if (values.length === 0) return new Set();
  const rows = await tx
    .select({ value: usageUniqueValues.value })
    .from(usageUniqueValues)
    .where(
      and(
        eq(usageUniqueValues.meterId, key.meterId),
        eq(usageUniqueValues.customerId, key.customerId),
        eq(usageUniqueValues.periodStart, key.periodStart),
        inArray(usageUniqueValues.value, values),
      ),
    );
  return new Set(rows.map((r) => r.value));
}

export async function insertDistinct(
  tx: Queryable,
  creatorId: string,
  rows: Array<{ meterId: string; customerId: string; periodStart: Date; value: string }>,
): Promise<void> {
  if (rows.length === 0) return;
  await tx.insert(usageUniqueValues).values(rows.map((r) => ({ creatorId, ...r }))).onConflictDoNothing();
}

export type NewEvent = {
  eventId: string;
  meterId: string;
  customerId: string;
  eventName: string;
  userId: string;
  value: string;
  properties: Record<string, unknown>;
  idempotencyKey: string | null;
  newDistinct: boolean;
  periodStart: Date;
  occurredAt: Date;
  receivedAt: Date;
};

/**
 * Everything a group's accepted events write, in one statement (one Bind/Execute, one
 * socket write): the events, the counters this transaction locked (app_write_counters
 * finds each by its ctid — a TID scan whatever the statistics say — and checks its key
 * again) and each idempotency key once, with its answer, in key order. Its text never
 * changes, whatever the number of events (row sets travel as JSON parameters): one
 * prepared statement, no per-row SQL building (the ORM's multi-row insert cost ~40 % of
 * the server's CPU at 1,000 events per batch).
 *
 * Every locked counter must be found, or the transaction fails and nothing of it commits.
 * If a concurrent transaction committed one of these keys after we looked (or holds it
 * uncommitted: we wait for it), the statement fails with unique_violation (23505) and so
 * does this whole transaction; the group commit retries the group, which then finds the
 * committed answer and replays it. No key is ever written twice.
 */
export async function writeAccepted(
  tx: Queryable,
  creatorId: string,
  group: {
    events: NewEvent[];
    /**
     * The counters, locked by this transaction (written where the lock found them), or not
     * locked yet: each written only if it still holds the value the judgement started from
     * (app_write_counters_unchanged, migration 0042; else the statement fails with SU002).
     */
    counters: LockedCounter[] | { unchanged: UnchangedCounter[] };
    answers: Array<{ idempotencyKey: string; requestHash: string; eventId: string; response: unknown }>;
    at: Date;
  },
): Promise<void> {
  const unchanged = 'unchanged' in group.counters ? group.counters.unchanged : null;
  const locked = 'unchanged' in group.counters ? [] : group.counters;
  if (group.events.length === 0 && locked.length === 0 && (unchanged?.length ?? 0) === 0 && group.answers.length === 0) return;
  const events = group.events.map((e) => ({
    event_id: e.eventId,
    meter_id: e.meterId,
    customer_id: e.customerId,
    event_name: e.eventName,
    user_id: e.userId,
    value: e.value,
    properties: e.properties,
    idempotency_key: e.idempotencyKey,
    new_distinct: e.newDistinct,
    period_start: e.periodStart.toISOString(),
    occurred_at: e.occurredAt.toISOString(),
    received_at: e.receivedAt.toISOString(),
  }));
  const counters = locked.map((c) => ({
    row_id: c.rowId,
    meter_id: c.meterId,
    customer_id: c.customerId,
    window_start: c.periodStart.toISOString(),
    value: c.value,
    event_count: c.eventCount,
  }));
  const answers = group.answers.map((a) => ({ k: a.idempotencyKey, h: a.requestHash, e: a.eventId, r: a.response }));
  const at = group.at.toISOString();
  const unchangedRows = (unchanged ?? []).map((c) => ({
    meter_id: c.meterId,
    customer_id: c.customerId,
    window_start: c.periodStart.toISOString(),
    expected: c.expected,
    value: c.value,
    events: c.events,
  }));
  // A counter not where its lock found it — or, written from memory, no longer holding the
  // value the judgement started from — fails the statement itself (app_write_counters and
  // app_write_counters_unchanged raise, migrations 0027 and 0042), and so the transaction:
  // COMMIT is queued right behind this statement, so a check made here afterwards could not
  // have stopped it.
  await runPrepared(tx, statement`
    with events as (
      insert into usage_events (creator_id, event_id, meter_id, customer_id, event_name, user_id, value, properties,
                                idempotency_key, new_distinct, period_start, occurred_at, received_at)
      select ${creatorId}, e.event_id, e.meter_id, e.customer_id, e.event_name, e.user_id, e.value, e.properties,
             e.idempotency_key, e.new_distinct, e.period_start, e.occurred_at, e.received_at
      from json_to_recordset(${JSON.stringify(events)}::json) as e(event_id uuid, meter_id uuid, customer_id uuid, event_name text, user_id text,
        value numeric, properties jsonb, idempotency_key text, new_distinct boolean, period_start timestamptz, occurred_at timestamptz, received_at timestamptz)
    ),
    answers as (
      insert into usage_idempotency_keys (creator_id, idempotency_key, request_hash, event_id, status, response, created_at)
      select ${creatorId}, c.k, c.h, c.e, 201, c.r, ${at}::timestamptz
      from json_to_recordset(${JSON.stringify(answers)}::json) as c(k text, h text, e uuid, r json)
      order by c.k
    )
    select case when ${unchanged !== null}::boolean then app_write_counters_unchanged(${JSON.stringify(unchangedRows)}::json, ${creatorId}::uuid, ${at}::timestamptz)
                else app_write_counters(${JSON.stringify(counters)}::json, ${at}::timestamptz) end as n`);
}

/** A period counter written from the value a judgement from memory started from (writeAccepted). */
export type UnchangedCounter = { meterId: string; customerId: string; periodStart: Date; expected: string; value: string; events: number };

export type StoredAnswer = { idempotencyKey: string; requestHash: string; eventId: string; status: number; response: unknown };

type AnswerRow = { idempotency_key: string; request_hash: string; event_id: string; status: number; response: unknown };

/** The answers already committed for these keys (no lock: a key committed later is caught by storeIdempotencyAnswers). */
export async function findIdempotencyAnswers(tx: Queryable, creatorId: string, keys: string[]): Promise<Map<string, StoredAnswer>> {
  if (keys.length === 0) return new Map();
  const rows = await runPrepared<AnswerRow>(tx, statement`
    -- One unique-index probe per key: the lateral subquery with its limit is not flattened
    -- into a join whose order the planner could pick from stale statistics.
    select i.idempotency_key, i.request_hash, i.event_id, i.status, i.response
    from json_array_elements_text(${JSON.stringify(keys)}::json) k(key)
    cross join lateral (
      select * from usage_idempotency_keys i where i.creator_id = ${creatorId} and i.idempotency_key = k.key limit 1
    ) i`);
  return new Map(rows.map((r) => [r.idempotency_key, { idempotencyKey: r.idempotency_key, requestHash: r.request_hash, eventId: r.event_id, status: r.status, response: r.response }]));
}

/** The creator's defaults that ingestion needs; null when the settings row does not exist yet. */
export async function findIngestSettings(tx: Queryable, creatorId: string): Promise<{ defaultPlan: string | null; lateEventGraceHours: number } | null> {
  const [row] = await runPrepared<{ default_plan: string | null; late_event_grace_hours: number }>(tx, statement`
    select default_plan, late_event_grace_hours from creator_settings where creator_id = ${creatorId}`);
  return row ? { defaultPlan: row.default_plan, lateEventGraceHours: Number(row.late_event_grace_hours) } : null;
}

type MeterRow = {
  meter_id: string;
  creator_id: string;
  event_name: string;
  display_name: string;
  description: string;
  aggregation_type: Meter['aggregationType'];
  unit_name: string;
  billing_model: Meter['billingModel'];
  unique_property: string | null;
  alert_thresholds: string[];
  rollup_dimensions: string[];
  stripe_meter_event_name: string | null;
  stripe_meter_id: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  archived_at: Date | string | null;
  limits: Array<{ plan_name: string; limit_value: string | null; overage_price: string | null; soft_limit_threshold: string | null; hard_cap: boolean; effective_from: string }>;
};

/** A meter's columns with its current plan limits as JSON (numerics as text: exact). */
// The same columns as app_check_state's meter (migration 0019): change both together.
const METER_COLUMNS = `
  m.meter_id, m.creator_id, m.event_name, m.display_name, m.description, m.aggregation_type, m.unit_name, m.billing_model,
  m.unique_property, m.alert_thresholds::text[] as alert_thresholds, m.rollup_dimensions, m.stripe_meter_event_name, m.stripe_meter_id,
  m.created_at, m.updated_at, m.archived_at,
  coalesce((select json_agg(json_build_object('plan_name', l.plan_name, 'limit_value', l.limit_value::text, 'overage_price', l.overage_price::text,
                                              'soft_limit_threshold', l.soft_limit_threshold::text, 'hard_cap', l.hard_cap, 'effective_from', l.effective_from)
                            order by l.plan_name)
            from meter_plan_limits l where l.creator_id = m.creator_id and l.meter_id = m.meter_id and l.effective_to is null), '[]'::json) as limits`;

function fromMeterRow(row: MeterRow): Meter {
  return {
    id: row.meter_id,
    creatorId: row.creator_id,
    eventName: row.event_name,
    displayName: row.display_name,
    description: row.description,
    aggregationType: row.aggregation_type,
    unitName: row.unit_name,
    billingModel: row.billing_model,
    uniqueProperty: row.unique_property,
    alertThresholds: row.alert_thresholds,
    rollupDimensions: row.rollup_dimensions,
    stripeMeterEventName: row.stripe_meter_event_name,
    stripeMeterId: row.stripe_meter_id,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    archivedAt: row.archived_at === null ? null : new Date(row.archived_at),
    planLimits: row.limits.map(
      (l): PlanLimit => ({
        planName: l.plan_name,
        limitValue: l.limit_value,
        overagePrice: l.overage_price,
        softLimitThreshold: l.soft_limit_threshold,
        hardCap: l.hard_cap,
        effectiveFrom: new Date(l.effective_from),
      }),
    ),
  };
}

/**
 * Live meters for these event names with their current plan limits, in one fixed
 * statement (findActiveMetersByEventNames sends two ORM-built ones, one after the
 * other). Read inside the committing transaction, so a limit changed by a committed
 * transaction applies to the next group, in any process: nothing to invalidate.
 */
export async function findLiveMeters(tx: Queryable, creatorId: string, eventNames: string[]): Promise<Meter[]> {
  if (eventNames.length === 0) return [];
  const rows = await runPrepared<MeterRow>(tx, statement`
    select ${fragment(METER_COLUMNS)}
    from usage_meters m
    where m.creator_id = ${creatorId} and m.event_name = any(array(select json_array_elements_text(${JSON.stringify(eventNames)}::json))) and m.archived_at is null`);
  return rows.map(fromMeterRow);
}

type CustomerRow = {
  customer_id: string;
  creator_id: string;
  user_id: string;
  plan_name: string | null;
  email: string | null;
  name: string | null;
  billing_anchor: Date | string | null;
  stripe_customer_id: string | null;
  stripe_subscription_items: Record<string, string>;
  tenant_id: string | null;
  created_at: Date | string;
  updated_at: Date | string;
};

const fromCustomerRow = (row: CustomerRow): Customer => ({
  id: row.customer_id,
  creatorId: row.creator_id,
  userId: row.user_id,
  planName: row.plan_name,
  email: row.email,
  name: row.name,
  billingAnchor: row.billing_anchor === null ? null : new Date(row.billing_anchor),
  stripeCustomerId: row.stripe_customer_id,
  stripeSubscriptionItems: row.stripe_subscription_items,
  tenantId: row.tenant_id,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
});

/** Customers by user_id: one fixed statement whatever their number (one prepared statement). */
export async function findCustomersByUserIdList(tx: Queryable, creatorId: string, userIds: string[]): Promise<Customer[]> {
  if (userIds.length === 0) return [];
  const rows = await runPrepared<CustomerRow>(tx, statement`
    -- One unique-index probe per user id (see findIdempotencyAnswers).
    select c.customer_id, c.creator_id, c.user_id, c.plan_name, c.email, c.name, c.billing_anchor, c.stripe_customer_id, c.stripe_subscription_items, c.tenant_id, c.created_at, c.updated_at
    from json_array_elements_text(${JSON.stringify(userIds)}::json) u(user_id)
    cross join lateral (select * from customers c where c.creator_id = ${creatorId} and c.user_id = u.user_id limit 1) c`);
  return rows.map(fromCustomerRow);
}

export type CheckState = {
  defaultPlan: string | null;
  meter: Meter | null;
  customer: { id: string; planName: string | null; billingAnchor: Date | null } | null;
  /** Period counters of this meter × customer whose window contains `at` (normally one). */
  counters: Array<{ periodStart: Date; value: string }>;
};

type CheckRow = {
  default_plan: string | null;
  meter: MeterRow | null;
  customer: { customer_id: string; plan_name: string | null; billing_anchor: string | null } | null;
  counters: Array<{ window_start: string; value: string }>;
};

/**
 * Everything `check` needs — the creator's default plan, the live meter with its current
 * limits, the customer and the period counters covering `at` — in one prepared
 * statement on any pooled connection: app_check_state sets the RLS tenant
 * transaction-locally and reads, all in the statement's own implicit transaction (no
 * BEGIN, tenant switch or COMMIT of our own). Row-level security applies as everywhere.
 */
export async function readCheckState(db: Db, creatorId: string, eventName: string, userId: string, at: Date): Promise<CheckState> {
  if (!UUID.test(creatorId)) throw new Error('invalid tenant id');
  const client = (db as unknown as { $client: postgres.Sql }).$client;
  const [row] = await client.unsafe<CheckRow[]>('select default_plan, meter, customer, counters from app_check_state($1, $2, $3, $4)', [creatorId, eventName, userId, at.toISOString()], {
    prepare: true,
  });
  return {
    defaultPlan: row!.default_plan,
    meter: row!.meter ? fromMeterRow(row!.meter) : null,
    customer: row!.customer
      ? { id: row!.customer.customer_id, planName: row!.customer.plan_name, billingAnchor: row!.customer.billing_anchor === null ? null : new Date(row!.customer.billing_anchor) }
      : null,
    counters: row!.counters.map((c) => ({ periodStart: new Date(c.window_start), value: c.value })),
  };
}

/** A live period counter with the plan its customer is on now. */
export type PlannedCounter = Counter & { planName: string | null };

/**
 * The period counters live at `now` (started, not ended) of some meters, for one customer
 * or all of them, with each customer's plan: what a changed limit or plan applies to.
 */
export async function listLiveCounters(tx: Queryable, q: { meterIds: string[]; customerId?: string; now: Date }): Promise<PlannedCounter[]> {
  if (q.meterIds.length === 0) return [];
  const now = ts(q.now);
  const rows = await tx.execute<CounterRow & { plan_name: string | null }>(sql`
    select a.meter_id, a.customer_id, a.window_start, a.window_end, a.value, a.event_count, c.plan_name
    from usage_aggregates a
    join customers c on c.creator_id = a.creator_id and c.customer_id = a.customer_id
    where a.creator_id = app_current_creator() and a.meter_id = any(${uuidArray(q.meterIds)}) and a.window = 'period'
      ${q.customerId ? sql`and a.customer_id = ${q.customerId}::uuid` : sql``}
      and a.window_start <= ${now} and a.window_end > ${now} and a.window_start > ${now} - interval '32 days'
      and ${notSuperseded('a')}`);
  return rows.map((r) => ({ ...fromCounterRow(r), planName: r.plan_name }));
}

/** The distinct billing periods of a customer's period counters that end after `since`. */
export async function listCustomerPeriodsEndingAfter(tx: Queryable, customerId: string, since: Date): Promise<Array<{ start: Date; end: Date }>> {
  const rows = await tx.execute<{ window_start: string | Date; window_end: string | Date }>(sql`
    select distinct window_start, window_end from usage_aggregates
    where creator_id = app_current_creator() and customer_id = ${customerId}::uuid and "window" = 'period'
      and window_end > ${ts(since)} and event_count > 0`);
  return rows.map((r) => ({ start: new Date(r.window_start), end: new Date(r.window_end) }));
}

/**
 * Every customer's periods with usage recorded that end after `since` (one row per customer
 * and period), with the customer's billing anchor: what a longer late-event grace would open
 * to events again. Empty counters (a refused event's, kept for its alert) are not usage.
 */
export async function listRecordedPeriodsEndingAfter(tx: Queryable, since: Date): Promise<Array<{ customerId: string; userId: string; anchor: Date | null; start: Date; end: Date }>> {
  const rows = await tx.execute<{ customer_id: string; user_id: string; billing_anchor: string | Date | null; window_start: string | Date; window_end: string | Date }>(sql`
    select distinct a.customer_id, c.user_id, c.billing_anchor, a.window_start, a.window_end
    from usage_aggregates a
    join customers c on c.creator_id = a.creator_id and c.customer_id = a.customer_id
    where a.creator_id = app_current_creator() and a."window" = 'period' and a.window_end > ${ts(since)} and a.event_count > 0`);
  return rows.map((r) => ({
    customerId: r.customer_id,
    userId: r.user_id,
    anchor: r.billing_anchor === null ? null : new Date(r.billing_anchor),
    start: new Date(r.window_start),
    end: new Date(r.window_end),
  }));
}
