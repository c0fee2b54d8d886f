import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * Review: how limits and plans change over time, and what the product then says a
 * customer owes (usage endpoint, Top users, limit history, revenue page, what-if).
 */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-10-10T12:00:00.000Z'));

type Call = ReturnType<typeof api>;

async function newCreator() {
  return api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
}

async function put(call: Call, userId: string, body: Record<string, unknown>) {
  const answer = await call('PUT', `/api/usage/customers/${encodeURIComponent(userId)}`, body);
  expect([200, 201], answer.text).toContain(answer.status);
  return answer;
}

async function track(call: Call, eventName: string, userId: string, value: number | string, extra: Record<string, unknown> = {}) {
  const answer = await call('POST', '/api/usage/track', { event_name: eventName, user_id: userId, value, ...extra });
  expect(answer.status, answer.text).toBe(201);
  return answer.json;
}

async function patch(call: Call, meterId: string, body: Record<string, unknown>) {
  const answer = await call('PATCH', `/api/usage/meters/${meterId}`, body);
  expect(answer.status, answer.text).toBe(200);
  return answer.json;
}

/** A count meter `calls` with these plan limits. */
const callsMeter = (call: ReturnType<typeof api>, planLimits: Array<Record<string, unknown>>) =>
  createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: planLimits });

describe('limit changes next to a period boundary', () => {
  it('a closed period is billed by the last limit in force in it: a change in its last millisecond counts, one at the boundary does not', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const meter = await createMeter(call, {
      event_name: 'storage',
      display_name: 'Storage',
      aggregation_type: 'sum',
      unit_name: 'gb',
      plan_limits: [{ plan_name: 'gold', limit_value: 10, overage_price: 2 }],
    });
    await put(call, 'ann', { plan_name: 'gold' });
    await track(call, 'storage', 'ann', 15);
    // Two changes in October, the last in its last millisecond
    setNow(new Date('2026-10-20T00:00:00.000Z'));
    await patch(call, meter.id, { plan_limits: [{ plan_name: 'gold', limit_value: 11, overage_price: 5 }] });
    setNow(new Date('2026-10-31T23:59:59.999Z'));
    await patch(call, meter.id, { plan_limits: [{ plan_name: 'gold', limit_value: 12, overage_price: 3 }] });
    // One exactly when November starts
    setNow(new Date('2026-11-01T00:00:00.000Z'));
    await patch(call, meter.id, { plan_limits: [{ plan_name: 'gold', limit_value: 20, overage_price: 1 }] });
    // And a late October event judged by October's last limit
    setNow(new Date('2026-11-01T01:00:00.000Z'));
    const late = await track(call, 'storage', 'ann', 1, { timestamp: '2026-10-31T23:00:00Z' });
    expect(late.usage).toMatchObject({ used: '16', limit: '12', remaining: '-4', period_start: '2026-10-01T00:00:00.000Z' });

    setNow(new Date('2026-11-05T00:00:00.000Z'));
    const previous = await call('GET', '/api/usage/customers/ann/usage?period=previous');
    expect(previous.json.meters[0]).toMatchObject({ used: '16', limit: '12', remaining: '-4', overage_quantity: '4', overage_amount: '12' });
    const top = await trpcQuery(call, 'customers.top', { meter_id: meter.id, period: 'previous' });
    expect(top.customers[0]).toMatchObject({ user_id: 'ann', limit: '12', overage_quantity: '4', overage_amount: '12' });
    const history = (await trpcQuery(call, 'meters.limitHistory', { id: meter.id })).history;
    expect(history.map((h: { limit_value: string }) => h.limit_value)).toEqual(['20', '12', '11', '10']);
  });

  it('a plan change and a limit change in the same millisecond at the boundary: the closed period keeps the plan and limit it ended on', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const meter = await callsMeter(call, [
        { plan_name: 'gold', limit_value: 2, overage_price: '0.5' },
        { plan_name: 'silver', limit_value: 1, overage_price: 9 },
      ]);
    await put(call, 'bob', { plan_name: 'gold' });
    for (let i = 0; i < 5; i++) await track(call, 'calls', 'bob', 1);
    setNow(new Date('2026-11-01T00:00:00.000Z'));
    await patch(call, meter.id, { plan_limits: [{ plan_name: 'gold', limit_value: 100, overage_price: 1 }] });
    await put(call, 'bob', { plan_name: 'silver' });
    setNow(new Date('2026-11-03T00:00:00.000Z'));
    const previous = await call('GET', '/api/usage/customers/bob/usage?period=previous');
    expect(previous.json).toMatchObject({ plan_name: 'gold' });
    expect(previous.json.meters[0]).toMatchObject({ used: '5', limit: '2', overage_quantity: '3', overage_amount: '1.5' });
    const whatIf = await trpcQuery(call, 'revenue.whatIf', { meter_id: meter.id, plan_name: 'gold', limit_value: '2', overage_price: '0.5' });
    expect(whatIf).toMatchObject({ customers_considered: 1, after: { revenue: '1.5', customers_in_overage: 1 } });
  });
});

describe('PATCH of plan limits', () => {
  it('sending the same limits again (written differently) keeps the history as it is', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const meter = await callsMeter(call, [{ plan_name: 'pro', limit_value: 10, overage_price: '0.25', soft_limit_threshold: 0.8 }]);
    setNow(new Date('2026-10-11T12:00:00.000Z'));
    await patch(call, meter.id, { plan_limits: [{ plan_name: ' pro ', limit_value: '10.0', overage_price: '0.250', soft_limit_threshold: '0.80' }] });
    const history = (await trpcQuery(call, 'meters.limitHistory', { id: meter.id })).history;
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ effective_from: '2026-10-10T12:00:00.000Z', effective_to: null });
  });

  it('removing a plan’s limit: unlimited from then on, last period still billed by the limit it had', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const meter = await callsMeter(call, [{ plan_name: 'pro', limit_value: 1, overage_price: 2 }]);
    await put(call, 'cy', { plan_name: ' pro ' });
    await track(call, 'calls', 'cy', 1);
    await track(call, 'calls', 'cy', 1);
    setNow(new Date('2026-11-02T12:00:00.000Z'));
    await track(call, 'calls', 'cy', 1);
    await track(call, 'calls', 'cy', 1);
    await patch(call, meter.id, { remove_plans: ['pro'] });
    const current = await call('GET', '/api/usage/customers/cy/usage');
    expect(current.json.meters[0]).toMatchObject({ used: '2', limit: null, remaining: null, overage_amount: '0' });
    const previous = await call('GET', '/api/usage/customers/cy/usage?period=previous');
    expect(previous.json.meters[0]).toMatchObject({ used: '2', limit: '1', overage_quantity: '1', overage_amount: '2' });
    const check = await call('GET', '/api/usage/check?user_id=cy&event_name=calls');
    expect(check.json).toMatchObject({ allowed: true, limit: null, hard_cap: false });
  });

  it('a hard cap turned on for a customer already past the limit: track refuses, check says so, the usage answer agrees', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const meter = await callsMeter(call, [{ plan_name: 'free', limit_value: 2, overage_price: 1 }]);
    await put(call, 'dee', { plan_name: 'free' });
    for (let i = 0; i < 4; i++) await track(call, 'calls', 'dee', 1);
    await patch(call, meter.id, { plan_limits: [{ plan_name: 'free', limit_value: 2, hard_cap: true }] });
    const refused = await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'dee' });
    expect(refused.status).toBe(402);
    expect(refused.json).toMatchObject({ used: '4', limit: '2', remaining: '-2' });
    const check = await call('GET', '/api/usage/check?user_id=dee&event_name=calls');
    expect(check.json).toMatchObject({ allowed: false, used: '4', limit: '2', remaining: '-2', hard_cap: true });
    const usage = await call('GET', '/api/usage/customers/dee/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '4', limit: '2', remaining: '-2' });
  });
});

describe('meters.limitHistory with many changes', () => {
  it('lists every plan’s current limit, however long the history of the plans before it', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const plans = Array.from({ length: 100 }, (_, i) => `p${String(i).padStart(3, '0')}`);
    const meter = await callsMeter(call, plans.map((plan_name) => ({ plan_name, limit_value: 0 })));
    for (let round = 1; round <= 10; round++) {
      setNow(new Date(Date.UTC(2026, 9, 10, 12, round)));
      await patch(call, meter.id, { plan_limits: plans.map((plan_name) => ({ plan_name, limit_value: round })) });
    }
    const history = (await trpcQuery(call, 'meters.limitHistory', { id: meter.id })).history as Array<{ plan_name: string; limit_value: string; effective_to: string | null }>;
    const current = history.filter((h) => h.effective_to === null);
    // Every plan has a current limit of 10 (the meter's GET says so)
    const got = (await call('GET', `/api/usage/meters/${meter.id}`)).json.plan_limits as unknown[];
    expect(got).toHaveLength(100);
    expect(current.map((h) => h.plan_name)).toEqual(plans);
    expect(history).toHaveLength(1100);
  });
});

describe('revenue page: overage quantity so far', () => {
  it('equals the sum of what each customer’s usage answer says (duration, minutes: rounded per customer)', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    await createMeter(call, {
      event_name: 'talk',
      display_name: 'Talk',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'pro', limit_value: 1, overage_price: 3 }],
    });
    const users = ['t1', 't2'];
    for (const u of users) {
      await put(call, u, { plan_name: 'pro' });
      await track(call, 'talk', u, 80); // 1.333… minutes: 0.333333333 beyond the limit
    }
    let quantity = 0n;
    for (const u of users) {
      const row = (await call('GET', `/api/usage/customers/${u}/usage`)).json.meters[0];
      expect(row.overage_quantity).toBe('0.333333333');
      quantity += BigInt(row.overage_quantity.replace('.', ''));
    }
    expect(quantity).toBe(666666666n);
    const revenue = await trpcQuery(call, 'revenue.overview');
    expect(revenue.meters[0].quantity_so_far).toBe('0.666666666');
    expect(revenue.plan_meters[0].quantity_so_far).toBe('0.666666666');
  });
});

describe('what-if on other aggregations', () => {
  it('max, unique and duration meters, with customers on another plan left out', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const max = await createMeter(call, {
      event_name: 'seats',
      display_name: 'Seats',
      aggregation_type: 'max',
      unit_name: 'seats',
      plan_limits: [
        { plan_name: 'team', limit_value: 5, overage_price: 10 },
        { plan_name: 'solo', limit_value: 1, overage_price: 10 },
      ],
    });
    const uniq = await createMeter(call, {
      event_name: 'users',
      display_name: 'Users',
      aggregation_type: 'unique',
      unit_name: 'users',
      unique_property: 'uid',
      plan_limits: [{ plan_name: 'team', limit_value: 2, overage_price: '1.5' }],
    });
    const dur = await createMeter(call, {
      event_name: 'talk',
      display_name: 'Talk',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'team', limit_value: 2, overage_price: 3 }],
    });
    await put(call, 'a', { plan_name: 'team' });
    await put(call, 'b', { plan_name: 'solo' });
    for (const v of [3, 8, 6]) await track(call, 'seats', 'a', v);
    await track(call, 'seats', 'b', 9);
    for (const uid of ['x', 'y', 'z', 'x']) await track(call, 'users', 'a', 1, { properties: { uid } });
    await track(call, 'talk', 'a', 150); // 2.5 minutes

    setNow(new Date('2026-11-10T12:00:00.000Z'));
    // Max: 8 against 5 → 3 × 10 = 30; a lower limit of 4 → 40; b (solo) is not considered
    const m = await trpcQuery(call, 'revenue.whatIf', { meter_id: max.id, plan_name: 'team', limit_value: 4, overage_price: 10 });
    expect(m).toMatchObject({ customers_considered: 1, before: { revenue: '30', overage_quantity: '3' }, after: { revenue: '40', overage_quantity: '4' }, delta: '10' });
    // A hard cap of 7 on a max meter: a was capped (8 would have been refused), bills nothing
    const mc = await trpcQuery(call, 'revenue.whatIf', { meter_id: max.id, plan_name: 'team', limit_value: 7, hard_cap: true });
    expect(mc).toMatchObject({ after: { revenue: '0', customers_capped: 1 }, customers_newly_capped: 1, delta: '-30' });
    // Unique: 3 distinct against 2 → 1.5; against 1 at 2 → 4
    const u = await trpcQuery(call, 'revenue.whatIf', { meter_id: uniq.id, plan_name: 'team', limit_value: 1, overage_price: 2 });
    expect(u).toMatchObject({ customers_considered: 1, before: { revenue: '1.5' }, after: { revenue: '4' }, delta: '2.5' });
    // Duration: 2.5 minutes against 2 → 0.5 × 3 = 1.5; against 1 minute → 4.5
    const d = await trpcQuery(call, 'revenue.whatIf', { meter_id: dur.id, plan_name: 'team', limit_value: 1, overage_price: 3 });
    expect(d).toMatchObject({ customers_considered: 1, before: { revenue: '1.5', overage_quantity: '0.5' }, after: { revenue: '4.5', overage_quantity: '1.5' } });
  });

  it('with no closed period yet: nothing considered, zeros', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const meter = await callsMeter(call, [{ plan_name: 'pro', limit_value: 1, overage_price: 1 }]);
    await put(call, 'e', { plan_name: 'pro' });
    for (let i = 0; i < 3; i++) await track(call, 'calls', 'e', 1);
    const w = await trpcQuery(call, 'revenue.whatIf', { meter_id: meter.id, plan_name: 'pro', limit_value: 0, overage_price: 1 });
    expect(w).toMatchObject({ customers_considered: 0, before: { revenue: '0' }, after: { revenue: '0' }, delta: '0', affected_count: 0 });
  });
});

describe('revenue page: a max meter projects at its current value', () => {
  it('its projected overage amount equals its overage so far when customers’ amounts round at 9 decimals', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    await createMeter(call, {
      event_name: 'peak',
      display_name: 'Peak',
      aggregation_type: 'max',
      unit_name: 'gb',
      plan_limits: [{ plan_name: 'pro', limit_value: 0, overage_price: '0.000000001' }],
    });
    let owed = 0n;
    for (const u of ['m1', 'm2', 'm3']) {
      await put(call, u, { plan_name: 'pro' });
      await track(call, 'peak', u, '0.5');
      const row = (await call('GET', `/api/usage/customers/${u}/usage`)).json.meters[0];
      // 0.5 × 0.000000001 = 0.0000000005 → half-even at 9 decimals: 0
      expect(row).toMatchObject({ overage_quantity: '0.5', overage_amount: '0' });
      owed += BigInt(row.overage_amount);
    }
    expect(owed).toBe(0n);
    const revenue = await trpcQuery(call, 'revenue.overview');
    expect(revenue.meters[0]).toMatchObject({ projection: 'current', amount_so_far: '0', quantity_so_far: '1.5', quantity_projected: '1.5' });
    expect(revenue.meters[0].amount_projected).toBe(revenue.meters[0].amount_so_far);
    expect(revenue.totals.amount_projected).toBe(revenue.totals.amount_so_far);
  });
});

describe('the default plan changing, and archived meters', () => {
  it('a new default applies to customers first seen after it; those seen before keep theirs', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    await callsMeter(call, [
        { plan_name: 'free', limit_value: 1, hard_cap: true },
        { plan_name: 'pro', limit_value: 100, overage_price: 1 },
      ]);
    expect((await call('PUT', '/api/usage/settings', { default_plan: ' free ' })).status).toBe(200);
    await track(call, 'calls', 'early', 1);
    expect((await call('PUT', '/api/usage/settings', { default_plan: 'pro' })).status).toBe(200);
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'early' })).status).toBe(402);
    expect((await call('GET', '/api/usage/check?user_id=late&event_name=calls')).json).toMatchObject({ allowed: true, limit: '100', hard_cap: false });
    await track(call, 'calls', 'late', 1);
    expect((await call('GET', '/api/usage/customers/late/usage')).json).toMatchObject({ plan_name: 'pro' });
    expect((await call('GET', '/api/usage/customers/early/usage')).json).toMatchObject({ plan_name: 'free' });
  });

  it('an archived meter: last period still billed by its limit, the what-if still answers, PATCH refused', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const meter = await callsMeter(call, [{ plan_name: 'pro', limit_value: 1, overage_price: 2 }]);
    await put(call, 'f', { plan_name: 'pro' });
    for (let i = 0; i < 3; i++) await track(call, 'calls', 'f', 1);
    setNow(new Date('2026-11-10T12:00:00.000Z'));
    expect((await call('DELETE', `/api/usage/meters/${meter.id}`)).status).toBe(200);
    expect((await call('PATCH', `/api/usage/meters/${meter.id}`, { plan_limits: [{ plan_name: 'pro', limit_value: 5 }] })).status).toBe(409);
    const previous = await call('GET', '/api/usage/customers/f/usage?period=previous');
    expect(previous.json.meters).toEqual([expect.objectContaining({ meter_id: meter.id, used: '3', limit: '1', overage_amount: '4' })]);
    expect((await call('GET', '/api/usage/customers/f/usage')).json.meters).toEqual([]);
    const w = await trpcQuery(call, 'revenue.whatIf', { meter_id: meter.id, plan_name: 'pro', limit_value: 2, overage_price: 2 });
    expect(w).toMatchObject({ before: { revenue: '4' }, after: { revenue: '2' }, delta: '-2' });
  });

  it('a soft threshold lowered below usage raises the soft-limit alert at once; a later change raises no second one', async () => {
    setNow(new Date('2026-10-10T12:00:00.000Z'));
    const call = await newCreator();
    const meter = await callsMeter(call, [{ plan_name: 'pro', limit_value: 10, overage_price: 1, soft_limit_threshold: 0.9 }]);
    await put(call, 'g', { plan_name: 'pro' });
    for (let i = 0; i < 6; i++) await track(call, 'calls', 'g', 1);
    await patch(call, meter.id, { plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: 1, soft_limit_threshold: 0.5 }] });
    await patch(call, meter.id, { plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: 1, soft_limit_threshold: 0.4 }] });
    const alerts = (await call('GET', '/api/usage/alerts?user_id=g&kind=soft_limit_reached')).json.alerts;
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ used: '6', limit: '10' });
  });
});
