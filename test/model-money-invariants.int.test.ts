import { sql } from 'drizzle-orm';
import Decimal from 'decimal.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { periodAt, previousPeriod, type Period } from '../server/services/periods.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * Model-based test of the money invariants of one creator: random sequences of meter,
 * plan, customer, track, batch, check, archive and clock operations run against the real
 * HTTP API and a simple model kept here; every answer is compared with the model, and at
 * the end of each sequence the database's period counters, raw events, distinct values
 * and idempotency keys are compared with it too.
 */
const { url } = await useTestDatabase();
const START = new Date('2026-10-20T12:00:00.000Z');
const { server, setNow } = useClockedServer(url, START);

// ---------------------------------------------------------------- exact decimals (model side)
const M = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -60, toExpPos: 60 });
type M = InstanceType<typeof M>;
const r9 = (d: M) => d.toDecimalPlaces(9, Decimal.ROUND_HALF_EVEN).toFixed();
const SECONDS: Record<string, string> = { ms: '0.001', seconds: '1', minutes: '60', hours: '3600' };

// ---------------------------------------------------------------- operations (generated)
type Agg = 'count' | 'sum' | 'max' | 'unique' | 'duration';
type LimitSpec = { plan: string; limit: string | null; price: string | null; hard: boolean };
type EventSpec = {
  meter: number; // index into meters created so far; -1: an event name with no meter
  user: number;
  value: string | null; // null: omitted (default 1)
  asNumber: boolean;
  seat: null | string | number;
  ts: { kind: 'none' } | { kind: 'past'; s: number } | { kind: 'future'; s: number } | { kind: 'beforeStart'; s: number };
  key: { kind: 'none' } | { kind: 'new' } | { kind: 'reuse'; idx: number; same: boolean };
};
type Op =
  | { t: 'meter'; agg: Agg; unit: string; uniqueProp: boolean; limits: LimitSpec[] }
  | { t: 'customer'; user: number; plan: string | null; anchor: number; moveAnchor: boolean }
  | { t: 'patch'; meter: number; limit: LimitSpec }
  | { t: 'archive'; meter: number }
  | { t: 'track'; ev: EventSpec }
  | { t: 'batch'; evs: EventSpec[] }
  | { t: 'check'; meter: number; user: number; value: string | null }
  | { t: 'clock'; kind: 'small' | 'hours' | 'boundary'; n: number }
  | { t: 'usage'; user: number };

const PLANS = ['free', 'pro', 'team'];
const USERS = ['u0', 'u1', 'u2'];
const ANCHORS: Array<string | null> = [null, null, '2026-09-15T09:30:00.000Z', '2026-01-31T00:00:00.000Z', '2026-08-20T12:30:00.000Z'];

const arbValue = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 4 }).map(String) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 999_999_999 }), fc.integer({ min: 1, max: 9 })).map(([i, f, digits]) => `${i}.${String(f).padStart(9, '0').slice(0, digits)}`) },
  { weight: 1, arbitrary: fc.constantFrom('1.50', '0.1', '0.2', '2.000', '0.000000001', '1.999999999') },
);
const arbLimitValue = fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: fc.integer({ min: 0, max: 4 }).map(String) }, { weight: 1, arbitrary: fc.constantFrom('2.5', '0.5', '1.000000001', '10') });
const arbPrice = fc.oneof(fc.constant(null), fc.constantFrom('1', '2', '0.5', '0.333333333', '0.000000001'));
const arbLimit = (plan: fc.Arbitrary<string>) =>
  fc.record({ plan, limit: arbLimitValue, price: arbPrice, hard: fc.boolean() });
const arbEvent: fc.Arbitrary<EventSpec> = fc.record({
  meter: fc.oneof({ weight: 12, arbitrary: fc.nat(7) }, { weight: 1, arbitrary: fc.constant(-1) }),
  user: fc.nat(USERS.length - 1),
  value: fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 6, arbitrary: arbValue }),
  asNumber: fc.boolean(),
  seat: fc.constantFrom(null, 'a', 'b', 1, '1'),
  ts: fc.oneof(
    { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 30 * 3600 }).map((s) => ({ kind: 'past' as const, s })) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 330 }).map((s) => ({ kind: 'future' as const, s })) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 7200 }).map((s) => ({ kind: 'beforeStart' as const, s })) },
  ),
  key: fc.oneof(
    { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'new' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('reuse' as const), idx: fc.nat(20), same: fc.boolean() }) },
  ),
});
const arbMeterOp = fc
  .record({
    agg: fc.constantFrom<Agg>('count', 'sum', 'max', 'unique', 'duration'),
    unit: fc.constantFrom('ms', 'seconds', 'minutes', 'hours'),
    uniqueProp: fc.boolean(),
    limits: fc.uniqueArray(arbLimit(fc.constantFrom(...PLANS)), { selector: (l) => l.plan, maxLength: 3 }),
  })
  .map((m) => ({ t: 'meter' as const, ...m }));
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc
      .record({
        agg: fc.constantFrom<Agg>('count', 'sum', 'max', 'unique', 'duration'),
        unit: fc.constantFrom('ms', 'seconds', 'minutes', 'hours'),
        uniqueProp: fc.boolean(),
        limits: fc.uniqueArray(arbLimit(fc.constantFrom(...PLANS)), { selector: (l) => l.plan, maxLength: 3 }),
      })
      .map((m) => ({ t: 'meter' as const, ...m })),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('customer' as const), user: fc.nat(USERS.length - 1), plan: fc.constantFrom(null, ...PLANS), anchor: fc.nat(ANCHORS.length - 1), moveAnchor: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('patch' as const), meter: fc.nat(7), limit: arbLimit(fc.constantFrom(...PLANS)) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('archive' as const), meter: fc.nat(7) }) },
  { weight: 8, arbitrary: arbEvent.map((ev) => ({ t: 'track' as const, ev })) },
  { weight: 3, arbitrary: fc.array(arbEvent, { minLength: 1, maxLength: 5 }).map((evs) => ({ t: 'batch' as const, evs })) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('check' as const), meter: fc.nat(7), user: fc.nat(USERS.length - 1), value: fc.oneof(fc.constant(null), arbValue) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('clock' as const), kind: fc.constantFrom<'small' | 'hours' | 'boundary'>('small', 'hours', 'boundary', 'boundary'), n: fc.nat(1000) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('usage' as const), user: fc.nat(USERS.length - 1) }) },
);
const arbSetup = fc.record({ defaultPlan: fc.constantFrom(null, 'free', 'pro'), grace: fc.constantFrom(24, 2) });

// ---------------------------------------------------------------- the model
type Limit = { limit: string | null; price: string | null; hard: boolean };
type ModelMeter = {
  id: string;
  name: string;
  agg: Agg;
  unit: string;
  uniqueProperty: string | null;
  archived: boolean;
  createdAt: number;
  /** Limit history, in order of change: [at, plan, limit | null]. */
  history: Array<{ at: number; plan: string; limit: Limit | null }>;
};
/** anchorMoved: a closed period under the old anchor is not re-partitioned (ADR 0009, not built), so "previous" is not compared after a move. */
type ModelCustomer = { confirmed: boolean; anchor: Date | null; anchorMoved?: boolean; plans: Array<{ at: number; plan: string | null }> };
type Counter = { meter: ModelMeter; user: string; periodStart: Date; events: number; base: M; distinct: Set<string> };

class Model {
  meters: ModelMeter[] = [];
  customers = new Map<string, ModelCustomer>();
  counters = new Map<string, Counter>();
  keys = new Map<string, { hash: string; body?: unknown }>();
  sentWithKey: Array<{ key: string; payload: Record<string, unknown> }> = [];
  keySeq = 0;
  constructor(
    public now: number,
    public defaultPlan: string | null,
    public grace: number,
  ) {}

  currentLimit(meter: ModelMeter, plan: string | null): Limit | null {
    if (plan === null) return null;
    let found: Limit | null = null;
    for (const h of meter.history) if (h.plan === plan) found = h.limit;
    return found;
  }
  limitAt(meter: ModelMeter, plan: string | null, at: number): Limit | null {
    if (plan === null) return null;
    let found: Limit | null = null;
    for (const h of meter.history) if (h.plan === plan && h.at <= at) found = h.limit;
    return found;
  }
  planAt(c: ModelCustomer, at: number): string | null {
    let found: { plan: string | null } | undefined;
    for (const p of c.plans) if (p.at <= at) found = p;
    return (found ?? c.plans[0])!.plan;
  }
  currentPlan(c: ModelCustomer) {
    return c.plans[c.plans.length - 1]!.plan;
  }
  counter(meter: ModelMeter, user: string, periodStart: Date): Counter {
    const k = `${meter.id}|${user}|${periodStart.toISOString()}`;
    let c = this.counters.get(k);
    if (!c) this.counters.set(k, (c = { meter, user, periodStart, events: 0, base: new M(0), distinct: new Set() }));
    return c;
  }
  /** Accepted events: usage of a period is derived from them by occurred_at (the contract), not from the counters' keys. */
  events: Array<{ meter: ModelMeter; user: string; at: number; value: M; distinctKey: string | null }> = [];
  usage(meter: ModelMeter, user: string, period: Period): { base: M; distinct: Set<string>; n: number } {
    const inPeriod = this.events.filter((e) => e.meter === meter && e.user === user && e.at >= period.start.getTime() && e.at < period.end.getTime());
    const distinct = new Set(inPeriod.flatMap((e) => (e.distinctKey === null ? [] : [e.distinctKey])));
    const base =
      meter.agg === 'count'
        ? new M(inPeriod.length)
        : meter.agg === 'max'
          ? inPeriod.reduce((m, e) => M.max(m, e.value), new M(0))
          : meter.agg === 'unique'
            ? new M(distinct.size)
            : inPeriod.reduce((m, e) => m.plus(e.value), new M(0));
    return { base, distinct, n: inPeriod.length };
  }
  peek(meter: ModelMeter, user: string, periodStart: Date): Counter | undefined {
    return this.counters.get(`${meter.id}|${user}|${periodStart.toISOString()}`);
  }
}

const toUnit = (meter: ModelMeter, base: M) => (meter.agg === 'duration' ? base.dividedBy(SECONDS[meter.unit]!) : base);
const toBase = (meter: ModelMeter, q: M) => (meter.agg === 'duration' ? q.times(SECONDS[meter.unit]!) : q);
function figures(meter: ModelMeter, base: M, limit: Limit | null, period: Period) {
  const used = toUnit(meter, base);
  const lv = limit?.limit ?? null;
  return {
    used: r9(used),
    limit: lv === null ? null : new M(lv).toFixed(),
    remaining: lv === null ? null : r9(new M(lv).minus(used)),
    period_start: period.start.toISOString(),
    period_end: period.end.toISOString(),
  };
}
function overage(meter: ModelMeter, base: M, limit: Limit | null) {
  if (!limit || limit.limit === null || limit.hard) return { overage_quantity: '0', overage_amount: '0' };
  // The quantity answered (9 decimals) is what is priced, as Stripe is sent it.
  const q = new M(r9(M.max(toUnit(meter, base).minus(limit.limit), 0)));
  return { overage_quantity: r9(q), overage_amount: r9(q.times(limit.price ?? 0)) };
}
const canonical = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(',')}]`
    : v && typeof v === 'object'
      ? `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
          .join(',')}}`
      : JSON.stringify(v);

type Expected =
  | { status: 201; replay: boolean; body?: unknown; check: (body: any) => void }
  | { status: 402 | 422; type: string; extra?: Record<string, unknown> };

/** The model's judgement of one event at `model.now`, applied to the model when accepted. */
function judge(model: Model, payload: Record<string, any>): Expected {
  const key: string | undefined = payload.idempotency_key;
  const value = new M(payload.value ?? '1').toFixed();
  const ts: Date | null = payload.timestamp ? new Date(payload.timestamp) : null;
  const hash = JSON.stringify([payload.event_name, payload.user_id, value, canonical(payload.properties ?? {}), ts?.toISOString() ?? null]);
  if (key !== undefined && model.keys.has(key)) {
    const kept = model.keys.get(key)!;
    if (kept.hash === hash) return { status: 201, replay: true, body: kept, check: () => undefined };
    return { status: 422, type: 'idempotency-key-reused' };
  }
  const meter = model.meters.find((m) => m.name === payload.event_name && !m.archived);
  if (!meter) return { status: 422, type: 'unknown-meter' };
  if (ts && ts.getTime() > model.now + 300_000) return { status: 422, type: 'validation-failed' };
  // A unique meter's property is required (not null): without it the event would count nothing.
  if (meter.agg === 'unique' && meter.uniqueProperty && (payload.properties?.[meter.uniqueProperty] ?? null) === null) return { status: 422, type: 'validation-failed' };
  const graceMs = model.grace * 3_600_000;
  const occurred = ts ?? new Date(model.now);
  let customer = model.customers.get(payload.user_id);
  if (!customer) {
    if (model.now > periodAt(occurred, null).end.getTime() + graceMs) return { status: 422, type: 'period-closed' };
    customer = { confirmed: false, anchor: null, plans: [{ at: model.now, plan: model.defaultPlan }] };
    model.customers.set(payload.user_id, customer);
  }
  const period = periodAt(occurred, customer.anchor);
  if (model.now > period.end.getTime() + graceMs) return { status: 422, type: 'period-closed' };
  const late = period.end.getTime() <= model.now;
  if (late) STATS.set('late-judged', (STATS.get('late-judged') ?? 0) + 1);
  const limit = late
    ? model.limitAt(meter, model.planAt(customer, period.end.getTime() - 1), Math.max(period.end.getTime() - 1, meter.createdAt))
    : model.currentLimit(meter, model.currentPlan(customer));
  const existing = model.usage(meter, payload.user_id, period);
  const current = existing.base;
  let distinctKey: string | null = null;
  if (meter.agg === 'unique') {
    if (!meter.uniqueProperty) distinctKey = `v:${value}`;
    else if (payload.properties && Object.hasOwn(payload.properties, meter.uniqueProperty) && payload.properties[meter.uniqueProperty] !== null)
      distinctKey = `p:${canonical(payload.properties[meter.uniqueProperty])}`;
  }
  const v = new M(value);
  const next =
    meter.agg === 'count'
      ? current.plus(1)
      : meter.agg === 'max'
        ? M.max(current, v)
        : meter.agg === 'unique'
          ? distinctKey !== null && !existing.distinct.has(distinctKey)
            ? current.plus(1)
            : current
          : current.plus(v);
  if (limit?.hard && limit.limit !== null) {
    if (next.greaterThan(toBase(meter, new M(limit.limit))) && next.greaterThan(current)) {
      const f = figures(meter, current, limit, period);
      return { status: 402, type: 'quota-exceeded', extra: { used: f.used, limit: f.limit, remaining: f.remaining, period_end: f.period_end } };
    }
  }
  const counter = model.counter(meter, payload.user_id, period.start);
  counter.base = next;
  model.events.push({ meter, user: payload.user_id, at: occurred.getTime(), value: v, distinctKey });
  counter.events += 1;
  if (distinctKey !== null) counter.distinct.add(distinctKey);
  customer.confirmed = true;
  // The key is claimed now (a later event of the same batch replays it); its answer is filled in when it comes.
  const holder: { hash: string; body?: unknown } = { hash };
  if (key !== undefined) model.keys.set(key, holder);
  const expectedBody = {
    event_name: payload.event_name,
    user_id: payload.user_id,
    value,
    timestamp: occurred.toISOString(),
    usage: figures(meter, next, limit, period),
  };
  return {
    status: 201,
    replay: false,
    check: (body: any) => {
      expect(body).toMatchObject(expectedBody);
      holder.body = body;
    },
  };
}

// ---------------------------------------------------------------- running a sequence
type Call = ReturnType<typeof api>;

function eventPayload(model: Model, spec: EventSpec): Record<string, any> {
  if (spec.key.kind === 'reuse' && model.sentWithKey.length > 0) {
    const earlier = model.sentWithKey[spec.key.idx % model.sentWithKey.length]!;
    if (spec.key.same) return earlier.payload;
    const changed = { ...earlier.payload, value: new M(String(earlier.payload.value ?? "1")).plus(1).toFixed() };
    return changed;
  }
  const meter = spec.meter < 0 || model.meters.length === 0 ? undefined : model.meters[spec.meter % model.meters.length]!;
  const payload: Record<string, any> = { event_name: meter?.name ?? 'no_such_meter', user_id: USERS[spec.user]! };
  if (spec.value !== null) {
    const asNumber = spec.asNumber && String(Number(spec.value)) === new M(spec.value).toFixed();
    payload.value = asNumber ? Number(spec.value) : spec.value;
  }
  if (spec.seat !== null) payload.properties = { seat: spec.seat };
  if (spec.ts.kind === 'past') payload.timestamp = new Date(model.now - spec.ts.s * 1000).toISOString().replace('.000Z', 'Z');
  if (spec.ts.kind === 'beforeStart') {
    // just before the start of the user's current period (calendar, or its anchor): a late event, or one past the grace
    const anchor = model.customers.get(USERS[spec.user]!)?.anchor ?? null;
    payload.timestamp = new Date(periodAt(new Date(model.now), anchor).start.getTime() - spec.ts.s * 1000).toISOString().replace('.000Z', 'Z');
  }
  if (spec.ts.kind === 'future') payload.timestamp = new Date(model.now + spec.ts.s * 1000).toISOString().replace('.000Z', 'Z');
  if (spec.key.kind !== 'none') {
    payload.idempotency_key = `k${model.keySeq++}`;
    model.sentWithKey.push({ key: payload.idempotency_key, payload });
  }
  return payload;
}

const STATS = new Map<string, number>();
/** Property values no event has carried: what a check of a property-keyed unique meter assumes the next event brings. */
let freshValues = 0;
function expectOutcome(exp: Expected, status: number, body: any, replayed: boolean, context: string) {
  const tag = exp.status === 201 ? (exp.replay ? '201-replay' : '201') : `${exp.status}-${exp.type}`;
  STATS.set(tag, (STATS.get(tag) ?? 0) + 1);
  expect(status, `${context}: ${JSON.stringify(body)}`).toBe(exp.status);
  if (exp.status === 201) {
    expect(replayed, `${context}: replayed`).toBe(exp.replay);
    if (exp.replay) expect(body, `${context}: a replay answers the original body`).toEqual((exp.body as { body: unknown }).body);
    else exp.check(body);
  } else {
    expect(String(body.type ?? ''), context).toMatch(new RegExp(`${exp.type}$`));
    if (exp.extra) expect(body, context).toMatchObject(exp.extra);
  }
}

async function compareUsage(model: Model, call: Call, user: string) {
  const c = model.customers.get(user);
  for (const which of ['current', 'previous'] as const) {
    const res = await call('GET', `/api/usage/customers/${user}/usage?period=${which}`);
    if (!c) {
      expect(res.status, res.text).toBe(404);
      continue;
    }
    if (!c.confirmed && res.status === 404) continue; // a customer created only for refused events may or may not be kept
    if (which === 'previous' && c.anchorMoved) continue;
    expect(res.status, res.text).toBe(200);
    const period = which === 'current' ? periodAt(new Date(model.now), c.anchor) : previousPeriod(new Date(model.now), c.anchor);
    const plan = which === 'current' ? model.currentPlan(c) : model.planAt(c, period.end.getTime() - 1);
    expect(res.json, `${which} usage of ${user}`).toMatchObject({ user_id: user, plan_name: plan, period_start: period.start.toISOString(), period_end: period.end.toISOString() });
    const rows = res.json.meters as Array<Record<string, any>>;
    for (const meter of model.meters) {
      const counter = model.usage(meter, user, period);
      const row = rows.find((r) => r.meter_id === meter.id);
      if (!row) {
        expect(meter.archived && counter.n === 0, `${which} usage of ${user} lists ${meter.name}`).toBe(true);
        continue;
      }
      const limit = which === 'current' ? model.currentLimit(meter, plan) : model.limitAt(meter, plan, Math.max(period.end.getTime() - 1, meter.createdAt));
      const base = counter.base;
      const f = figures(meter, base, limit, period);
      expect(row, `${which} usage of ${user} on ${meter.name} (${meter.agg} ${meter.unit}, limit ${JSON.stringify(limit)})`).toEqual({
        meter_id: meter.id,
        event_name: meter.name,
        used: f.used,
        limit: f.limit,
        remaining: f.remaining,
        ...overage(meter, base, limit),
      });
    }
  }
}

async function compareDatabase(model: Model, creatorId: string) {
  const db = server().rt.ownerDb;
  const counters = await db.execute<{ meter_id: string; user_id: string; window_start: Date; value: string; event_count: string }>(sql`
    select a.meter_id, c.user_id, a.window_start, a.value::text as value, a.event_count::text as event_count
    from usage_aggregates a join customers c on c.creator_id = a.creator_id and c.customer_id = a.customer_id
    where a.creator_id = ${creatorId} and a."window" = 'period'`);
  const events = await db.execute<{ meter_id: string; user_id: string; period_start: Date; n: string; total: string | null; top: string | null }>(sql`
    select meter_id, user_id, period_start, count(*)::text as n, sum(value)::text as total, max(value)::text as top
    from usage_events where creator_id = ${creatorId} group by 1, 2, 3`);
  const distinct = await db.execute<{ meter_id: string; user_id: string; period_start: Date; n: string }>(sql`
    select v.meter_id, c.user_id, v.period_start, count(*)::text as n
    from usage_unique_values v join customers c on c.creator_id = v.creator_id and c.customer_id = v.customer_id
    where v.creator_id = ${creatorId} group by 1, 2, 3`);
  const keyOf = (meterId: string, user: string, at: Date | string) => `${meterId}|${user}|${new Date(at).toISOString()}`;
  const dbCounters = new Map(counters.map((r) => [keyOf(r.meter_id, r.user_id, r.window_start), r]));
  const dbEvents = new Map(events.map((r) => [keyOf(r.meter_id, r.user_id, r.period_start), r]));
  const dbDistinct = new Map(distinct.map((r) => [keyOf(r.meter_id, r.user_id, r.period_start), r]));
  for (const [k, c] of model.counters) {
    const row = dbCounters.get(k);
    const label = `counter ${c.meter.name} (${c.meter.agg}) ${c.user} ${c.periodStart.toISOString()}`;
    expect(row, label).toBeDefined();
    expect({ value: new M(row!.value).toFixed(), events: Number(row!.event_count) }, label).toEqual({ value: c.base.toFixed(), events: c.events });
    const ev = dbEvents.get(k);
    expect(Number(ev?.n ?? 0), `${label}: raw events`).toBe(c.events);
    if (c.events > 0) {
      const raw = c.meter.agg === 'count' ? new M(ev!.n) : c.meter.agg === 'max' ? new M(ev!.top!) : c.meter.agg === 'unique' ? new M(dbDistinct.get(k)?.n ?? 0) : new M(ev!.total!);
      expect(raw.toFixed(), `${label}: raw events/distinct values agree with the counter`).toBe(new M(row!.value).toFixed());
    }
  }
  for (const [k, row] of dbCounters) {
    if (!model.counters.has(k)) expect({ value: new M(row.value).toFixed(), events: Number(row.event_count) }, `unexpected counter ${k}`).toEqual({ value: '0', events: 0 });
  }
  for (const k of dbEvents.keys()) expect(model.counters.has(k), `raw events of ${k}`).toBe(true);
  const [keys] = await db.execute<{ n: string }>(sql`select count(*)::text as n from usage_idempotency_keys where creator_id = ${creatorId}`);
  expect(Number(keys!.n), 'idempotency keys stored').toBe(model.keys.size);
}

async function runSequence(setup: { defaultPlan: string | null; grace: number }, ops: Op[], log: string[] = []) {
  setNow(START);
  const { apiKey, creator } = await createCreatorWithKey(server().rt);
  const call = api(server().url, apiKey);
  const model = new Model(START.getTime(), setup.defaultPlan, setup.grace);
  const settings = await call('PUT', '/api/usage/settings', { default_plan: setup.defaultPlan, late_event_grace_hours: setup.grace });
  expect(settings.status, settings.text).toBe(200);
  const tick = (ms: number) => {
    model.now += ms;
    setNow(new Date(model.now));
  };
  let meterSeq = 0;
  for (const [i, op] of ops.entries()) {
    const ctx = `op ${i} ${JSON.stringify(op)} at ${new Date(model.now).toISOString()}`;
    log.push(ctx);
    tick(1000); // every operation happens a second after the one before
    switch (op.t) {
      case 'meter': {
        const name = `m${meterSeq++}`;
        const uniqueProperty = op.agg === 'unique' && op.uniqueProp ? 'seat' : null;
        const unit = op.agg === 'duration' ? op.unit : 'units';
        const body = {
          event_name: name,
          display_name: name,
          aggregation_type: op.agg,
          unit_name: unit,
          ...(uniqueProperty ? { unique_property: uniqueProperty } : {}),
          plan_limits: op.limits.map((l) => ({ plan_name: l.plan, limit_value: l.limit, overage_price: l.price, hard_cap: l.hard })),
        };
        const res = await call('POST', '/api/usage/meters', body);
        expect(res.status, `${ctx}: ${res.text}`).toBe(201);
        model.meters.push({
          id: res.json.id,
          name,
          agg: op.agg,
          unit,
          uniqueProperty,
          archived: false,
          createdAt: model.now,
          history: op.limits.map((l) => ({ at: model.now, plan: l.plan, limit: { limit: l.limit, price: l.price, hard: l.hard } })),
        });
        break;
      }
      case 'customer': {
        const user = USERS[op.user]!;
        const known = model.customers.get(user);
        const body: Record<string, unknown> = { plan_name: op.plan };
        const anchor = ANCHORS[op.anchor]!;
        if (!known && anchor) body.billing_anchor = anchor;
        // Moving the anchor of a customer with usage: 409 unless no period with usage that still takes events changes bounds.
        const moving = known !== undefined && op.moveAnchor && (known.anchor?.toISOString() ?? null) !== anchor;
        if (moving) body.billing_anchor = anchor;
        const res = await call('PUT', `/api/usage/customers/${user}`, body);
        if (moving) STATS.set(`anchor-move-${res.status}`, (STATS.get(`anchor-move-${res.status}`) ?? 0) + 1);
        if (moving && res.status === 409) break;
        if (moving) {
          known.anchor = anchor === null ? null : new Date(anchor);
          known.anchorMoved = true;
        }
        if (!known) {
          expect(res.status, `${ctx}: ${res.text}`).toBe(201);
          model.customers.set(user, { confirmed: true, anchor: anchor && body.billing_anchor ? new Date(anchor) : null, plans: [{ at: model.now, plan: op.plan }] });
        } else {
          expect(res.status, `${ctx}: ${res.text}`).toBe(known.confirmed ? 200 : res.status === 201 ? 201 : 200);
          if (res.status === 201) known.plans = [{ at: model.now, plan: op.plan }];
          else if (model.currentPlan(known) !== op.plan) known.plans.push({ at: model.now, plan: op.plan });
          known.confirmed = true;
        }
        break;
      }
      case 'patch': {
        if (model.meters.length === 0) break;
        const meter = model.meters[op.meter % model.meters.length]!;
        const l = op.limit;
        const res = await call('PATCH', `/api/usage/meters/${meter.id}`, { plan_limits: [{ plan_name: l.plan, limit_value: l.limit, overage_price: l.price, hard_cap: l.hard }] });
        if (meter.archived) {
          expect(res.status, `${ctx}: ${res.text}`).toBe(409);
          break;
        }
        expect(res.status, `${ctx}: ${res.text}`).toBe(200);
        meter.history.push({ at: model.now, plan: l.plan, limit: { limit: l.limit, price: l.price, hard: l.hard } });
        break;
      }
      case 'archive': {
        if (model.meters.length === 0) break;
        const meter = model.meters[op.meter % model.meters.length]!;
        const res = await call('DELETE', `/api/usage/meters/${meter.id}`);
        expect(res.status, `${ctx}: ${res.text}`).toBe(200);
        meter.archived = true;
        break;
      }
      case 'track': {
        const payload = eventPayload(model, op.ev);
        const exp = judge(model, payload);
        const res = await call('POST', '/api/usage/track', payload);
        expectOutcome(exp, res.status, res.json, res.headers.get('idempotent-replayed') === 'true', `${ctx} ${JSON.stringify(payload)}`);
        break;
      }
      case 'batch': {
        const payloads = op.evs.map((ev) => eventPayload(model, ev));
        const exps = payloads.map((p) => judge(model, p));
        const res = await call('POST', '/api/usage/track', payloads);
        expect(res.status, `${ctx}: ${res.text}`).toBe(200);
        const results = res.json.results as Array<Record<string, any>>;
        expect(results).toHaveLength(payloads.length);
        exps.forEach((exp, j) => {
          const r = results[j]!;
          expectOutcome(exp, r.status, r.status === 201 ? r.event : r.error, r.replayed === true, `${ctx} [${j}] ${JSON.stringify(payloads[j])}`);
        });
        break;
      }
      case 'check': {
        if (model.meters.length === 0) break;
        const meter = model.meters[op.meter % model.meters.length]!;
        const user = USERS[op.user]!;
        const qs = new URLSearchParams({ user_id: user, event_name: meter.name, ...(op.value !== null ? { value: op.value } : {}) });
        // What the check should see: the live counter of the period under way, the customer's plan now (default plan if unknown).
        const known = model.customers.get(user);
        const period = periodAt(new Date(model.now), known?.anchor ?? null);
        const limit = model.currentLimit(meter, known ? model.currentPlan(known) : model.defaultPlan);
        const expectedCheck = figures(meter, model.usage(meter, user, period).base, limit, period);
        const checked = await call('GET', `/api/usage/check?${qs}`);
        // The same event, tracked right after with nothing changed in between.
        // A meter counting a property's distinct values: the check assumes a value not seen yet, so the event carries one.
        const payload: Record<string, unknown> = {
          event_name: meter.name,
          user_id: user,
          ...(op.value !== null ? { value: op.value } : {}),
          ...(meter.uniqueProperty ? { properties: { [meter.uniqueProperty]: `never-seen-${++freshValues}` } } : {}),
        };
        const exp = judge(model, payload);
        const tracked = await call('POST', '/api/usage/track', payload);
        expectOutcome(exp, tracked.status, tracked.json, false, `${ctx} (track after check)`);
        if (meter.archived) {
          expect(checked.status, checked.text).toBe(422);
          break;
        }
        expect(checked.status, `${ctx}: ${checked.text}`).toBe(200);
        expect(checked.json, `${ctx}: check`).toEqual({ allowed: checked.json.allowed, hard_cap: Boolean(limit?.hard && limit.limit !== null), ...expectedCheck });
        // allowed ⇔ 201 (with a unique_property, for an event bringing a new value: what a check assumes)
        STATS.set(`check-${checked.json.allowed}`, (STATS.get(`check-${checked.json.allowed}`) ?? 0) + 1);
        if (checked.json.allowed) expect(tracked.status, `${ctx}: check allowed, track answered ${tracked.text}`).toBe(201);
        else expect(tracked.status, `${ctx}: check refused, track answered ${tracked.text}`).toBe(402);
        break;
      }
      case 'clock': {
        if (op.kind === 'small') tick((1 + (op.n % 600)) * 1000);
        else if (op.kind === 'hours') tick((1 + (op.n % 40)) * 3_600_000);
        else {
          // just before or after the next period end of a customer (or of the calendar month)
          const ends = [periodAt(new Date(model.now), null).end.getTime(), ...[...model.customers.values()].map((c) => periodAt(new Date(model.now), c.anchor).end.getTime())];
          const end = ends[op.n % ends.length]!;
          const offsets = [-120_000, -1000, 0, 30_000, 3_600_000, model.grace * 3_600_000 - 60_000, model.grace * 3_600_000 + 60_000];
          const target = end + offsets[Math.floor(op.n / 7) % offsets.length]!;
          tick(Math.max(1000, target - model.now));
        }
        break;
      }
      case 'usage':
        await compareUsage(model, call, USERS[op.user]!);
        break;
    }
  }
  for (const user of USERS) await compareUsage(model, call, user);
  await compareDatabase(model, creator.id);
}

describe('model: one creator’s meters, plans, events and clock', () => {
  it('every answer and every counter agrees with the model', async () => {
    const result = await fc.check(
      fc.asyncProperty(arbSetup, fc.array(arbMeterOp, { minLength: 1, maxLength: 3 }), fc.array(arbOp, { minLength: 1, maxLength: Number(process.env.MODEL_LENGTH ?? 25) }), async (setup, meters, ops) => {
        await runSequence(setup, [...meters, ...ops]);
      }),
      { numRuns: Number(process.env.MODEL_RUNS ?? 100), seed: process.env.MODEL_SEED ? Number(process.env.MODEL_SEED) : undefined, endOnFailure: false },
    );
    console.log('outcomes', JSON.stringify([...STATS].sort()));
    if (result.failed) {
      console.error(`seed ${result.seed} path ${result.counterexamplePath}\ncounterexample: ${JSON.stringify(result.counterexample)}\n${String(result.errorInstance)}`);
    }
    expect(result.failed, fc.defaultReportMessage(result) ?? '').toBe(false);
  }, 600_000);
});
