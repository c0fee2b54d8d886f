import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOverageQuery } from '../db/queries/revenue.js';
import { listMeters } from '../db/queries/meters.js';
import { withCreator } from '../db/tenant.js';
import { getRevenueOverview, overageGroups, simulateWhatIf, sumRevenueOverview } from '../server/services/revenue.js';
import { D } from '../server/services/decimal.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * The clock: June 2026 has 30 days, so the 16th at midnight is exactly halfway through a
 * calendar-month period; May is the previous period.
 */
const MAY = new Date('2026-05-10T12:00:00Z');
const HALF_JUNE = new Date('2026-06-16T00:00:00Z');
let clock = HALF_JUNE;

const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url, { now: () => clock });
});
afterAll(() => server.close());

type Call = ReturnType<typeof api>;

async function creator() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  const trpc = async (procedure: string, input?: unknown) => {
    const query = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
    return call('GET', `/api/trpc/revenue.${procedure}${query}`);
  };
  return { call, trpc, creator };
}

async function meter(call: Call, body: Record<string, unknown>): Promise<string> {
  const created = await call('POST', '/api/usage/meters', { display_name: String(body.event_name), ...body });
  expect(created.status).toBe(201);
  return created.json.id as string;
}

async function customer(call: Call, userId: string, planName: string | null) {
  const put = await call('PUT', `/api/usage/customers/${userId}`, { plan_name: planName });
  expect([200, 201]).toContain(put.status);
}

async function track(call: Call, eventName: string, userId: string, value: number | string) {
  const tracked = await call('POST', '/api/usage/track', { event_name: eventName, user_id: userId, value });
  expect(tracked.status).toBe(201);
}

async function overview(trpc: Awaited<ReturnType<typeof creator>>['trpc']) {
  const answer = await trpc('overview');
  expect(answer.status).toBe(200);
  return answer.json.result.data;
}

describe('overage revenue this period', () => {
  it('prices usage beyond each plan limit exactly; hard caps and unlimited plans bill nothing; the per-customer usage agrees', async () => {
    clock = HALF_JUNE;
    const { call, trpc } = await creator();
    // Given: tokens (sum) — pro 1,000 at 0.001, free hard-capped at 1,000, enterprise unlimited.
    const tokens = await meter(call, {
      event_name: 'tokens',
      aggregation_type: 'sum',
      unit_name: 'tokens',
      plan_limits: [
        { plan_name: 'pro', limit_value: 1000, overage_price: '0.001' },
        { plan_name: 'free', limit_value: 1000, hard_cap: true },
        { plan_name: 'enterprise', limit_value: null },
      ],
    });
    await customer(call, 'p1', 'pro');
    await customer(call, 'p2', 'pro');
    await customer(call, 'f1', 'free');
    await customer(call, 'e1', 'enterprise');
    // When: p1 uses 1,234, p2 900, f1 its full 1,000, e1 5,000.
    await track(call, 'tokens', 'p1', 1234);
    await track(call, 'tokens', 'p2', 900);
    await track(call, 'tokens', 'f1', 1000);
    await track(call, 'tokens', 'e1', 5000);

    // Then: 234 tokens over at 0.001 = 0.234, from p1 only.
    const data = await overview(trpc);
    expect(data.as_of).toBe(HALF_JUNE.toISOString());
    expect(data.customers_count).toBe(4);
    expect(data.meters).toEqual([
      expect.objectContaining({
        meter_id: tokens,
        event_name: 'tokens',
        projection: 'run_rate',
        billing_plans: 1,
        customers_in_overage: 1,
        quantity_so_far: '234',
        amount_so_far: '0.234',
        // Halfway through June: p1 runs at 2,468 (1,468 over), p2 at 1,800 (800 over).
        customers_projected: 2,
        quantity_projected: '2268',
        amount_projected: '2.268',
      }),
    ]);
    expect(data.plan_meters).toEqual([
      expect.objectContaining({ plan_name: 'pro', event_name: 'tokens', limit_value: '1000', overage_price: '0.001', amount_so_far: '0.234', amount_projected: '2.268' }),
    ]);
    expect(data.plans).toEqual([{ plan_name: 'pro', customers_in_overage: 1, amount_so_far: '0.234', customers_projected: 2, amount_projected: '2.268' }]);
    expect(data.totals).toEqual({ customers_in_overage: 1, amount_so_far: '0.234', customers_projected: 2, amount_projected: '2.268' });

    // The customer's own usage answer prices the same counter the same way.
    const p1 = await call('GET', '/api/usage/customers/p1/usage');
    expect(p1.json.meters[0]).toMatchObject({ used: '1234', overage_quantity: '234', overage_amount: '0.234' });
    const f1 = await call('GET', '/api/usage/customers/f1/usage');
    expect(f1.json.meters[0]).toMatchObject({ used: '1000', overage_quantity: '0', overage_amount: '0' });
  });

  it('converts duration to the meter unit and keeps max meters at their current value when projecting', async () => {
    clock = HALF_JUNE;
    const { call, trpc } = await creator();
    await meter(call, {
      event_name: 'render_time',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: '0.5' }],
    });
    await meter(call, { event_name: 'seats', aggregation_type: 'max', unit_name: 'seats', plan_limits: [{ plan_name: 'pro', limit_value: 5, overage_price: 2 }] });
    await customer(call, 'u1', 'pro');
    await track(call, 'render_time', 'u1', 900); // 15 minutes: 5 over → 2.5; projected 30 → 20 over → 10
    await track(call, 'seats', 'u1', 8); // 3 over → 6, and still 6 at the period's end
    const data = await overview(trpc);
    const byName = Object.fromEntries(data.meters.map((m: { event_name: string }) => [m.event_name, m]));
    expect(byName.render_time).toMatchObject({ projection: 'run_rate', quantity_so_far: '5', amount_so_far: '2.5', quantity_projected: '20', amount_projected: '10' });
    expect(byName.seats).toMatchObject({ projection: 'current', quantity_so_far: '3', amount_so_far: '6', quantity_projected: '3', amount_projected: '6' });
    expect(data.totals).toMatchObject({ amount_so_far: '8.5', amount_projected: '16' });
    // u1 is beyond both meters' limits: one customer in overage, not one per meter.
    expect(data.plans).toEqual([{ plan_name: 'pro', customers_in_overage: 1, amount_so_far: '8.5', customers_projected: 1, amount_projected: '16' }]);
    expect(data.totals).toMatchObject({ customers_in_overage: 1, customers_projected: 1 });
  });

  it('counts each customer beyond a limit once, also under a limit without an overage price, as the live overview does', async () => {
    clock = HALF_JUNE;
    const { call, trpc } = await creator();
    // Given: calls bills 0.01 beyond 10 on pro; seats has a limit of 2 on pro and on team with no price.
    await meter(call, { event_name: 'calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: '0.01' }] });
    await meter(call, {
      event_name: 'seats',
      aggregation_type: 'max',
      unit_name: 'seats',
      plan_limits: [
        { plan_name: 'pro', limit_value: 2, overage_price: '0' },
        { plan_name: 'team', limit_value: 2 },
      ],
    });
    for (const [user, plan] of [
      ['both', 'pro'],
      ['calls-only', 'pro'],
      ['seats-only', 'team'],
      ['within', 'pro'],
    ] as const)
      await customer(call, user, plan);
    // When: "both" passes both pro limits, "calls-only" the calls limit, "seats-only" the unpriced team seat limit.
    for (let i = 0; i < 12; i++) await track(call, 'calls', 'both', 1);
    await track(call, 'seats', 'both', 3);
    for (let i = 0; i < 11; i++) await track(call, 'calls', 'calls-only', 1);
    await track(call, 'seats', 'seats-only', 5);
    await track(call, 'calls', 'within', 1);

    // Then: three customers are beyond a limit; "both" counts once in pro and in the total.
    const data = await overview(trpc);
    expect(data.plans).toEqual([
      expect.objectContaining({ plan_name: 'pro', customers_in_overage: 2, amount_so_far: '0.03' }),
      expect.objectContaining({ plan_name: 'team', customers_in_overage: 1, amount_so_far: '0' }),
    ]);
    expect(data.totals).toMatchObject({ customers_in_overage: 3, amount_so_far: '0.03' });
    const byName = Object.fromEntries(data.meters.map((m: { event_name: string }) => [m.event_name, m]));
    expect(byName.calls).toMatchObject({ customers_in_overage: 2 });
    expect(byName.seats).toMatchObject({ customers_in_overage: 2, amount_so_far: '0' });
    // The live overview says the same of this period.
    const live = await call('GET', `/api/trpc/insights.overview`);
    expect(live.status).toBe(200);
    expect(live.json.result.data.overage).toEqual({ amount: '0.03', customers: 3 });
  });

  it('uses the limit in force now after a mid-period change, and each customer’s plan now after a plan change', async () => {
    clock = new Date('2026-06-05T00:00:00Z');
    const { call, trpc } = await creator();
    const id = await meter(call, { event_name: 'calls', aggregation_type: 'sum', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 1000, overage_price: '0.001' }] });
    await customer(call, 'a', 'pro');
    await customer(call, 'b', 'basic');
    await track(call, 'calls', 'a', 1234);
    await track(call, 'calls', 'b', 1500);
    expect((await overview(trpc)).totals.amount_so_far).toBe('0.234');

    // When: mid-period the pro limit rises to 1,200, and b moves from basic (no limit) to pro.
    clock = HALF_JUNE;
    const patched = await call('PATCH', `/api/usage/meters/${id}`, { plan_limits: [{ plan_name: 'pro', limit_value: 1200, overage_price: '0.001' }] });
    expect(patched.status).toBe(200);
    await customer(call, 'b', 'pro');

    // Then: a owes 34 × 0.001, b 300 × 0.001.
    const data = await overview(trpc);
    expect(data.plan_meters).toEqual([expect.objectContaining({ plan_name: 'pro', limit_value: '1200', customers_in_overage: 2, quantity_so_far: '334', amount_so_far: '0.334' })]);
    for (const [user, amount] of [
      ['a', '0.034'],
      ['b', '0.3'],
    ] as const) {
      expect((await call('GET', `/api/usage/customers/${user}/usage`)).json.meters[0].overage_amount).toBe(amount);
    }
  });

  it('a period an hour old is projected at its run rate over a day, not over its first hour (12 calls made 8,640)', async () => {
    clock = new Date('2026-06-01T01:00:00Z');
    const { call, trpc } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 100, overage_price: '0.5' }] });
    await customer(call, 'early', 'pro');
    for (let i = 0; i < 12; i++) await track(call, 'calls', 'early', 1);
    // 12 calls in the first hour of a 30-day June: 12 × 30 = 360 by the end (over a day), 260 over the limit.
    // Over the first hour alone it was 12 × 720 = 8,640, 8,540 over: 4,270 projected from 12 calls.
    const early = await overview(trpc);
    expect(early.meters[0]).toMatchObject({ quantity_so_far: '0', quantity_projected: '260', amount_projected: '130' });
    // A day and more in, the run rate is the period's so far: 12 calls by the 16th → 24 in all, within the limit.
    clock = HALF_JUNE;
    expect((await overview(trpc)).meters[0]).toMatchObject({ quantity_projected: '0', amount_projected: '0' });
  });

  it('answers empty figures for a creator with no meters or no usage', async () => {
    clock = HALF_JUNE;
    const { call, trpc } = await creator();
    expect(await overview(trpc)).toMatchObject({ meters_count: 0, customers_count: 0, meters: [], plans: [], plan_meters: [], totals: { amount_so_far: '0' } });
    await meter(call, { event_name: 'calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: 1 }] });
    const data = await overview(trpc);
    expect(data).toMatchObject({ meters_count: 1, customers_count: 0, totals: { customers_in_overage: 0, amount_so_far: '0', amount_projected: '0' } });
    expect(data.meters[0]).toMatchObject({ event_name: 'calls', billing_plans: 1, amount_so_far: '0' });
  });
});

describe('large accounts', () => {
  it('read a snapshot that is at most 30 s old (then refreshed in the background), and say as of when', async () => {
    clock = HALF_JUNE;
    const { call, trpc, creator: owner } = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'sum', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: 1 }] });
    // Given 20,000 customers on a plan that bills overage (a snapshot account)
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await admin`
        insert into customers (creator_id, customer_id, user_id, plan_name, created_at, updated_at)
        select ${owner.id}::uuid, gen_random_uuid(), 'bulk_' || i, 'pro', now(), now() from generate_series(1, 20000) i`;
    } finally {
      await admin.end();
    }
    await customer(call, 'big', 'pro');
    await track(call, 'calls', 'big', 15);
    const first = await overview(trpc);
    expect(first).toMatchObject({ as_of: HALF_JUNE.toISOString(), totals: { amount_so_far: '5' } });

    // When more usage arrives 10 s later, the page still shows the snapshot, as of its time
    clock = new Date(HALF_JUNE.getTime() + 10_000);
    await track(call, 'calls', 'big', 5);
    expect(await overview(trpc)).toMatchObject({ as_of: HALF_JUNE.toISOString(), totals: { amount_so_far: '5' } });

    // Past 30 s the stale snapshot answers once more while a new one is computed
    clock = new Date(HALF_JUNE.getTime() + 40_000);
    expect((await overview(trpc)).totals.amount_so_far).toBe('5');
    await expect.poll(async () => (await overview(trpc)).totals.amount_so_far).toBe('10');
    expect((await overview(trpc)).as_of).toBe(clock.toISOString());

    // Past 5 minutes the page waits for a fresh one
    await track(call, 'calls', 'big', 1);
    clock = new Date(HALF_JUNE.getTime() + 10 * 60_000);
    expect((await overview(trpc)).totals.amount_so_far).toBe('11');
  });
});

describe('what-if on last period’s usage', () => {
  async function lastPeriod() {
    const c = await creator();
    clock = MAY;
    const id = await meter(c.call, {
      event_name: 'tokens',
      aggregation_type: 'sum',
      unit_name: 'tokens',
      plan_limits: [
        { plan_name: 'pro', limit_value: 1000, overage_price: '0.001' },
        { plan_name: 'free', limit_value: 100, hard_cap: true },
      ],
    });
    await customer(c.call, 'p1', 'pro');
    await customer(c.call, 'p2', 'pro');
    await customer(c.call, 'p3', 'pro');
    await customer(c.call, 'mover', 'pro');
    await track(c.call, 'tokens', 'p1', 1234);
    await track(c.call, 'tokens', 'p2', 900);
    await track(c.call, 'tokens', 'p3', 100);
    await track(c.call, 'tokens', 'mover', 2000);
    // A customer first seen just after May closed, with May usage sent late (within the
    // grace): judged on the plan they were created on.
    clock = new Date('2026-06-01T01:00:00Z');
    await customer(c.call, 'late', 'pro');
    const late = await c.call('POST', '/api/usage/track', { event_name: 'tokens', user_id: 'late', value: 1500, timestamp: '2026-05-31T12:00:00Z' });
    expect(late.status).toBe(201);
    clock = HALF_JUNE;
    // This period's usage is not last period's: it must not count.
    await track(c.call, 'tokens', 'p3', 5000);
    // mover ended May on pro; moving to free in June does not change what May was billed on.
    await customer(c.call, 'mover', 'free');
    return { ...c, id };
  }

  it('a lower limit: revenue before and after, the delta, and who newly goes into overage', async () => {
    const { trpc, id } = await lastPeriod();
    const answer = await trpc('whatIf', { meter_id: id, plan_name: 'pro', limit_value: '500', overage_price: '0.001' });
    expect(answer.status).toBe(200);
    const r = answer.json.result.data;
    expect(r).toMatchObject({
      plan_name: 'pro',
      current_terms: { limit_value: '1000', overage_price: '0.001', hard_cap: false },
      new_terms: { limit_value: '500', overage_price: '0.001', hard_cap: false },
      // p1 1,234 · p2 900 · mover 2,000 · late 1,500 (p3's 100 is under both limits)
      customers_considered: 4,
      before: { revenue: '1.734', overage_quantity: '1734', customers_in_overage: 3, customers_capped: 0 },
      after: { revenue: '3.634', overage_quantity: '3634', customers_in_overage: 4, customers_capped: 0 },
      delta: '1.9',
      customers_newly_capped: 0,
      customers_newly_in_overage: 1,
      customers_no_longer_in_overage: 0,
      affected_count: 4,
    });
    expect(r.affected.map((a: { user_id: string; delta: string }) => [a.user_id, a.delta])).toEqual([
      ['late', '0.5'],
      ['mover', '0.5'],
      ['p1', '0.5'],
      ['p2', '0.4'],
    ]);
    expect(r.affected[3]).toMatchObject({ user_id: 'p2', used: '900', before: 'within', after: 'overage', revenue_before: '0', revenue_after: '0.4', period_start: '2026-05-01T00:00:00.000Z' });
  });

  it('a hard cap at the limit: customers at or over it are newly capped and bill nothing; nothing is saved', async () => {
    const { call, trpc, id } = await lastPeriod();
    const r = (await trpc('whatIf', { meter_id: id, plan_name: 'pro', limit_value: 1000, hard_cap: true })).json.result.data;
    expect(r).toMatchObject({
      before: { revenue: '1.734', customers_in_overage: 3, customers_capped: 0 },
      after: { revenue: '0', customers_in_overage: 0, customers_capped: 3 },
      delta: '-1.734',
      customers_newly_capped: 3,
      customers_newly_in_overage: 0,
      customers_no_longer_in_overage: 3,
    });
    // Unlimited (no limit): nobody pays overage.
    const unlimited = (await trpc('whatIf', { meter_id: id, plan_name: 'pro', limit_value: null, overage_price: '0.001' })).json.result.data;
    expect(unlimited).toMatchObject({ after: { revenue: '0' }, delta: '-1.734', customers_no_longer_in_overage: 3, new_terms: { limit_value: null } });
    // The meter's terms are untouched.
    const current = await call('GET', `/api/usage/meters/${id}`);
    expect(current.json.plan_limits.find((l: { plan_name: string }) => l.plan_name === 'pro')).toMatchObject({ limit_value: '1000', overage_price: '0.001', hard_cap: false });
  });

  it('refuses bad numbers, an unknown plan and another creator’s meter, naming the field', async () => {
    const { trpc, id } = await lastPeriod();
    const field = (answer: Awaited<ReturnType<typeof trpc>>) => answer.json.error.data.problem.errors.map((e: { field: string }) => e.field);

    const badLimit = await trpc('whatIf', { meter_id: id, plan_name: 'pro', limit_value: 'abc' });
    expect(badLimit.status).toBe(422);
    expect(field(badLimit)).toEqual(['limit_value']);
    const negative = await trpc('whatIf', { meter_id: id, plan_name: 'pro', limit_value: '10', overage_price: '-1' });
    expect(negative.status).toBe(422);
    expect(field(negative)).toEqual(['overage_price']);
    const notUuid = await trpc('whatIf', { meter_id: 'nope', plan_name: 'pro' });
    expect(notUuid.status).toBe(422);
    expect(field(notUuid)).toEqual(['meter_id']);
    const unknownPlan = await trpc('whatIf', { meter_id: id, plan_name: 'gold' });
    expect(unknownPlan.status).toBe(422);
    expect(field(unknownPlan)).toEqual(['plan_name']);
    expect(unknownPlan.json.error.data.problem.errors[0].message).toContain('free, pro');

    // Another creator: the meter does not exist for them, and their overview is empty.
    const other = await creator();
    const foreign = await other.trpc('whatIf', { meter_id: id, plan_name: 'pro', limit_value: '1' });
    expect(foreign.status).toBe(404);
    expect(foreign.json.error.data.problem).toMatchObject({ status: 404, title: 'Not found', detail: 'Meter was not found.' });
    expect(field(foreign)).toEqual(['meter_id']);
    expect((await overview(other.trpc)).meters).toEqual([]);
    // A browser token, or no key at all, cannot read revenue.
    expect((await api(server.url)('GET', '/api/trpc/revenue.overview')).status).toBe(401);
  });
});

/**
 * The scale target: 10k customers × 20 meters of current period counters (and as many of
 * the previous period). Run with REVENUE_BENCH=1; prints EXPLAIN ANALYZE and the p95 of
 * the whole overview (service, both queries, money arithmetic).
 */
describe.runIf(process.env.REVENUE_BENCH === '1')('benchmark', () => {
  // Uniform usage 0–1,500 against limits of 1,000 is the worst case (a third of pro customers over,
  // two thirds on course to be); usual usage is skewed: most customers far below their limit.
  it.each([
    ['uniform', false],
    ['skewed', true],
  ])('overview of 200k period counters, %s usage', { timeout: 600_000 }, async (distribution, skewed) => {
    clock = HALF_JUNE;
    const { call, creator: owner } = await creator();
    for (let m = 0; m < 20; m++) {
      await meter(call, {
        event_name: `meter_${m}`,
        aggregation_type: m % 5 === 4 ? 'max' : 'count',
        unit_name: 'units',
        plan_limits: [
          { plan_name: 'pro', limit_value: 1000, overage_price: '0.001' },
          { plan_name: 'team', limit_value: 5000, overage_price: '0.0005' },
          { plan_name: 'free', limit_value: 100, hard_cap: true },
        ],
      });
    }
    const admin = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await admin`
        insert into customers (creator_id, customer_id, user_id, plan_name, created_at, updated_at)
        select ${owner.id}::uuid, gen_random_uuid(), 'user_' || i, (array['pro','team','free'])[1 + i % 3], now(), now()
        from generate_series(1, 10000) i`;
      for (const [start, end] of [
        ['2026-06-01', '2026-07-01'],
        ['2026-05-01', '2026-06-01'],
      ] as const) {
        await admin`
          insert into usage_aggregates (creator_id, meter_id, customer_id, "window", window_start, window_end, value, event_count, updated_at)
          select ${owner.id}::uuid, m.meter_id, c.customer_id, 'period', ${start}::timestamptz, ${end}::timestamptz, v.value, v.value, now()
          from usage_meters m
          cross join customers c
          cross join lateral (select (abs(hashtext(c.customer_id::text || m.meter_id::text || ${start})) % 1500)::numeric as u) h
          cross join lateral (select case when ${skewed} then floor(power(h.u / 1500, 4) * 1500) else h.u end as value) v
          where m.creator_id = ${owner.id}::uuid and c.creator_id = ${owner.id}::uuid`;
      }
      // Hour rollups of the period as well, so the index must keep them out of the scan.
      await admin`
        insert into usage_aggregates (creator_id, meter_id, customer_id, "window", window_start, window_end, value, event_count, updated_at)
        select a.creator_id, a.meter_id, a.customer_id, 'hour', a.window_start + h * interval '1 hour', a.window_start + (h + 1) * interval '1 hour', 1, 1, now()
        from usage_aggregates a cross join generate_series(0, 4) h
        where a.creator_id = ${owner.id}::uuid and a.window = 'period'`;
      // Steady state: autovacuum has set the visibility map, so the covering index answers alone.
      await admin`vacuum analyze usage_aggregates`;
      await admin`vacuum analyze customers`;
    } finally {
      await admin.end();
    }

    const plan = await withCreator(server.rt.db, owner.id, async (tx) => {
      const meters = await listMeters(tx, { includeArchived: true });
      const groups = overageGroups(meters);
      await tx.execute(sql`set local work_mem = '32MB'`);
      return tx.execute<{ 'QUERY PLAN': string }>(sql`explain (analyze, buffers) ${currentOverageQuery(owner.id, HALF_JUNE, groups)}`);
    });
    console.log(plan.map((r) => r['QUERY PLAN']).join('\n'));

    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const data = await sumRevenueOverview(server.rt, owner.id, HALF_JUNE);
      times.push(performance.now() - t0);
      if (i === 0) console.log(JSON.stringify(data.totals));
      expect(new D(data.totals.amount_so_far).greaterThan(0)).toBe(true);
    }
    times.sort((a, b) => a - b);
    const p95 = times[Math.ceil(times.length * 0.95) - 1]!;
    // What a page load costs: the snapshot, recomputed in the background every 30 s.
    const first = performance.now();
    await getRevenueOverview(server.rt, owner.id);
    const firstMs = performance.now() - first;
    const pages: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      await getRevenueOverview(server.rt, owner.id);
      pages.push(performance.now() - t0);
    }
    pages.sort((a, b) => a - b);
    console.log(`page path (snapshot): first ${firstMs.toFixed(1)} ms, then p50 ${pages[15]!.toFixed(2)} ms, p95 ${pages[28]!.toFixed(2)} ms`);
    // The floor on this machine right now: reading the same 200k counters and nothing else.
    const scans: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      await withCreator(server.rt.db, owner.id, (tx) =>
        tx.execute(sql`select count(*), sum(value) from usage_aggregates where creator_id = ${owner.id}::uuid and "window" = 'period' and window_end > ${HALF_JUNE.toISOString()}::timestamptz`),
      );
      scans.push(performance.now() - t0);
    }
    scans.sort((a, b) => a - b);
    const whatIfs: number[] = [];
    const meterId = (await withCreator(server.rt.db, owner.id, (tx) => listMeters(tx, { includeArchived: false })))[0]!.id;
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await simulateWhatIf(server.rt, owner.id, { meter_id: meterId, plan_name: 'pro', limit_value: '500', overage_price: '0.001', hard_cap: false });
      whatIfs.push(performance.now() - t0);
    }
    whatIfs.sort((a, b) => a - b);
    console.log(`what-if on one meter × plan (10k previous-period counters): p50 ${whatIfs[10]!.toFixed(1)} ms, p95 ${whatIfs[18]!.toFixed(1)} ms`);
    console.log(`bare scan of the 200k counters: p50 ${scans[15]!.toFixed(1)} ms, p95 ${scans[28]!.toFixed(1)} ms`);
    console.log(`revenue overview computed live, 200k current counters, ${distribution} usage: p50 ${times[15]!.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
  });
});
