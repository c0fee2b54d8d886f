import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * meters.preview: what a meter definition would have measured on the last 30 days of
 * raw events — per plan, per day — with exact figures on known events.
 */

const { url } = await useTestDatabase();
let clock = new Date('2026-03-02T10:00:00Z');
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url, { now: () => clock });
});
afterAll(() => server.close());

type Call = ReturnType<typeof api>;
const query = (call: Call, procedure: string, input?: unknown) =>
  call('GET', `/api/trpc/${procedure}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`);

const event = (user_id: string, timestamp: string, value = 1, properties: Record<string, unknown> = {}) => ({ event_name: 'api_calls', user_id, value, timestamp, properties });

const definition = (overrides: Record<string, unknown> = {}) => ({
  event_name: 'api_calls',
  display_name: 'API calls',
  aggregation_type: 'count',
  unit_name: 'calls',
  plan_limits: [
    { plan_name: 'free', limit_value: 3, hard_cap: true },
    { plan_name: 'pro', limit_value: 5, overage_price: '0.5' },
  ],
  ...overrides,
});

let call: Call;
let meterId: string;

beforeAll(async () => {
  const { apiKey } = await createCreatorWithKey(server.rt);
  call = api(server.url, apiKey);
  const created = await call('POST', '/api/usage/meters', definition());
  expect(created.status).toBe(201);
  meterId = created.json.id;
  await call('PUT', '/api/usage/customers/pro-user', { plan_name: 'pro' });
  await call('PUT', '/api/usage/customers/free-user', { plan_name: 'free' });
  await call('PUT', '/api/usage/customers/team-user', { plan_name: 'team' });

  // Given an event on 2 March that will be outside the window once the clock moves on…
  expect((await call('POST', '/api/usage/track', event('pro-user', '2026-03-02T09:00:00Z', 100))).status).toBe(201);
  clock = new Date('2026-03-20T12:00:00Z');
  // …and, inside it: pro-user sends values 1…7 on 18 March (endpoints /a and /b, seconds),
  const pro = [1, 2, 3, 4, 5, 6, 7].map((v, i) => event('pro-user', `2026-03-18T0${i}:00:00Z`, v, { endpoint: i % 2 === 0 ? '/a' : '/b' }));
  // free-user 3 events of 10 on 19 March (all the same endpoint), team-user and an unknown user one each today.
  const free = [0, 1, 2].map((i) => event('free-user', `2026-03-19T1${i}:00:00Z`, 10, { endpoint: '/a' }));
  const rest = [event('team-user', '2026-03-20T08:00:00Z', 60, { endpoint: '/c' }), event('walk-in', '2026-03-20T09:00:00Z', 30)];
  const batch = await call('POST', '/api/usage/track', [...pro, ...free, ...rest]);
  expect(batch.status).toBe(200);
  expect(batch.json.results.map((r: { status: number }) => r.status)).toEqual(Array(12).fill(201));
  // The clock moves to 5 April: the window is 7 March … 5 April, so the 2 March event is out.
  clock = new Date('2026-04-05T15:00:00Z');
});

const planOf = (preview: { plans: Array<{ plan_name: string | null }> }, name: string | null) => preview.plans.find((p) => p.plan_name === name);

describe('meters.preview', () => {
  it('counts per plan on the last 30 days: customers, quantity, over the limit, capped and overage', async () => {
    const res = await query(call, 'meters.preview', { ...definition(), meter_id: meterId });
    expect(res.status).toBe(200);
    const preview = res.json.result.data;
    expect(preview).toMatchObject({ event_name: 'api_calls', from: '2026-03-07T00:00:00.000Z', to: '2026-04-05T15:00:00.000Z', events: 12, customers: 4, quantity: '12', overage_amount: '1' });
    expect(preview.plans.map((p: { plan_name: string | null }) => p.plan_name)).toEqual(['free', 'pro', 'team', null]);
    expect(planOf(preview, 'pro')).toEqual({
      plan_name: 'pro',
      in_definition: true,
      limit_value: '5',
      hard_cap: false,
      overage_price: '0.5',
      soft_limit_threshold: null,
      customers_over_soft_limit: 0,
      customers: 1,
      events: 7,
      quantity: '7',
      customers_over_limit: 1,
      customers_capped: 0,
      quantity_over_limit: '2',
      overage_amount: '1',
    });
    // 3 of a limit of 3 is at the limit, not over it.
    expect(planOf(preview, 'free')).toMatchObject({ customers: 1, quantity: '3', customers_over_limit: 0, customers_capped: 0, overage_amount: '0' });
    // A plan the definition does not list, and customers without a plan, are unlimited.
    expect(planOf(preview, 'team')).toMatchObject({ in_definition: false, limit_value: null, customers: 1, quantity: '1', customers_over_limit: 0 });
    expect(planOf(preview, null)).toMatchObject({ in_definition: false, customers: 1, quantity: '1' });

    expect(preview.daily).toHaveLength(30);
    expect(preview.daily[0].date).toBe('2026-03-07');
    expect(preview.daily.at(-1).date).toBe('2026-04-05');
    const day = (date: string) => preview.daily.find((d: { date: string }) => d.date === date);
    expect(day('2026-03-18')).toEqual({ date: '2026-03-18', events: 7, quantity: '7' });
    expect(day('2026-03-19')).toEqual({ date: '2026-03-19', events: 3, quantity: '3' });
    expect(day('2026-03-20')).toEqual({ date: '2026-03-20', events: 2, quantity: '2' });
    expect(day('2026-03-21')).toEqual({ date: '2026-03-21', events: 0, quantity: '0' });
  });

  it('previews an edited limit: a lower hard cap would have capped, and bills no overage', async () => {
    const res = await query(call, 'meters.preview', {
      ...definition({ plan_limits: [{ plan_name: 'free', limit_value: 2, hard_cap: true }, { plan_name: 'pro', limit_value: 6, overage_price: '0.25' }] }),
      meter_id: meterId,
    });
    expect(res.status).toBe(200);
    const preview = res.json.result.data;
    expect(planOf(preview, 'free')).toMatchObject({ customers_over_limit: 1, customers_capped: 1, quantity_over_limit: '1', overage_amount: '0' });
    expect(planOf(preview, 'pro')).toMatchObject({ customers_over_limit: 1, customers_capped: 0, quantity_over_limit: '1', overage_amount: '0.25' });
    expect(preview.overage_amount).toBe('0.25');
  });

  it('soft limits: customers who reached threshold × limit (a soft-limit alert each)', async () => {
    const res = await query(call, 'meters.preview', {
      ...definition({ plan_limits: [{ plan_name: 'free', limit_value: 3, soft_limit_threshold: '0.9', hard_cap: true }, { plan_name: 'pro', limit_value: 20, soft_limit_threshold: 0.5 }] }),
      meter_id: meterId,
    });
    const preview = res.json.result.data;
    // free: 3 ≥ 2.7; pro: 7 < 10.
    expect(planOf(preview, 'free')).toMatchObject({ soft_limit_threshold: '0.9', customers_over_soft_limit: 1, customers_over_limit: 0 });
    expect(planOf(preview, 'pro')).toMatchObject({ soft_limit_threshold: '0.5', customers_over_soft_limit: 0, customers_over_limit: 0 });
  });

  it('soft limits of a zero limit: none, as ingestion raises none (only the limit itself is reached)', async () => {
    const res = await query(call, 'meters.preview', {
      ...definition({ plan_limits: [{ plan_name: 'free', limit_value: 0, soft_limit_threshold: '0.8', hard_cap: true }, { plan_name: 'pro', limit_value: 0, soft_limit_threshold: '0.8' }] }),
      meter_id: meterId,
    });
    const preview = res.json.result.data;
    expect(planOf(preview, 'free')).toMatchObject({ customers_over_soft_limit: 0, customers_over_limit: 1 });
    expect(planOf(preview, 'pro')).toMatchObject({ customers_over_soft_limit: 0, customers_over_limit: 1 });
  });

  it('sum: values add up (pro 1+…+7 = 28, over a limit of 20 by 8 at 0.1 = 0.8)', async () => {
    const res = await query(call, 'meters.preview', definition({ aggregation_type: 'sum', unit_name: 'credits', plan_limits: [{ plan_name: 'pro', limit_value: 20, overage_price: '0.1' }] }));
    const preview = res.json.result.data;
    expect(planOf(preview, 'pro')).toMatchObject({ quantity: '28', quantity_over_limit: '8', overage_amount: '0.8' });
    expect(planOf(preview, 'free')).toMatchObject({ quantity: '30', in_definition: false });
    expect(preview.quantity).toBe('148'); // 28 + 30 + 60 + 30
    expect(preview.daily.find((d: { date: string }) => d.date === '2026-03-20').quantity).toBe('90');
  });

  it('max: the largest value per customer and period; the day’s largest in the chart', async () => {
    const res = await query(call, 'meters.preview', definition({ aggregation_type: 'max', unit_name: 'seats', plan_limits: [{ plan_name: 'pro', limit_value: 5, overage_price: 2 }] }));
    const preview = res.json.result.data;
    expect(planOf(preview, 'pro')).toMatchObject({ quantity: '7', customers_over_limit: 1, quantity_over_limit: '2', overage_amount: '4' });
    expect(planOf(preview, 'free')).toMatchObject({ quantity: '10' });
    expect(preview.daily.find((d: { date: string }) => d.date === '2026-03-20').quantity).toBe('60');
  });

  it('unique: distinct values of the unique property; events without it count for nothing', async () => {
    const res = await query(call, 'meters.preview', definition({ aggregation_type: 'unique', unit_name: 'endpoints', unique_property: 'endpoint', plan_limits: [{ plan_name: 'pro', limit_value: 1, overage_price: 3 }] }));
    const preview = res.json.result.data;
    expect(planOf(preview, 'pro')).toMatchObject({ events: 7, quantity: '2', customers_over_limit: 1, quantity_over_limit: '1', overage_amount: '3' });
    expect(planOf(preview, 'free')).toMatchObject({ quantity: '1' });
    expect(planOf(preview, null)).toMatchObject({ events: 1, quantity: '0' });
    // Without a property: distinct values (pro-user's 7 values are all different).
    const byValue = (await query(call, 'meters.preview', definition({ aggregation_type: 'unique', unit_name: 'values', plan_limits: [] }))).json.result.data;
    expect(planOf(byValue, 'pro')).toMatchObject({ quantity: '7' });
    expect(planOf(byValue, 'free')).toMatchObject({ quantity: '1' });
  });

  it('duration: seconds converted to the meter’s unit (pro 28 s = 0.466666667 minutes; team 60 s = 1)', async () => {
    const res = await query(call, 'meters.preview', definition({ aggregation_type: 'duration', unit_name: 'minutes', plan_limits: [{ plan_name: 'team', limit_value: '0.5', overage_price: 10 }] }));
    const preview = res.json.result.data;
    expect(preview.unit_name).toBe('minutes');
    expect(planOf(preview, 'pro')).toMatchObject({ quantity: '0.466666667' });
    expect(planOf(preview, 'team')).toMatchObject({ in_definition: true, quantity: '1', quantity_over_limit: '0.5', overage_amount: '5' });
    expect(planOf(preview, 'free')).toMatchObject({ quantity: '0.5' });
  });

  it('a brand-new event name has no events yet: zeros, with the definition’s plans listed', async () => {
    const res = await query(call, 'meters.preview', definition({ event_name: 'exports' }));
    expect(res.status).toBe(200);
    const preview = res.json.result.data;
    expect(preview).toMatchObject({ events: 0, customers: 0, quantity: '0', overage_amount: '0' });
    expect(preview.plans.map((p: { plan_name: string; customers: number }) => [p.plan_name, p.customers])).toEqual([
      ['free', 0],
      ['pro', 0],
    ]);
    expect(preview.daily.every((d: { events: number; quantity: string }) => d.events === 0 && d.quantity === '0')).toBe(true);
  });

  it('bad input answers 422 naming each field', async () => {
    const res = await query(
      call,
      'meters.preview',
      definition({ plan_limits: [{ plan_name: 'pro', limit_value: -1, soft_limit_threshold: 2 }, { plan_name: 'pro' }] }),
    );
    expect(res.status).toBe(422);
    const fields = res.json.error.data.problem.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(['plan_limits[0].limit_value', 'plan_limits[0].soft_limit_threshold']);
    // Rules across fields are checked once every field parses (zod refinements).
    const unit = await query(call, 'meters.preview', definition({ aggregation_type: 'duration', unit_name: 'weeks', plan_limits: [{ plan_name: 'pro' }, { plan_name: 'pro' }] }));
    expect(unit.status).toBe(422);
    expect(unit.json.error.data.problem.errors).toEqual([
      { field: 'plan_limits[1].plan_name', message: 'appears twice' },
      { field: 'unit_name', message: 'must be one of ms, seconds, minutes, hours for a duration meter' },
    ]);
    const badId = await query(call, 'meters.preview', { ...definition(), meter_id: 'not-a-uuid' });
    expect(badId.status).toBe(422);
    expect(badId.json.error.data.problem.errors).toEqual([{ field: 'meter_id', message: 'must be a UUID' }]);
  });

  it('another creator’s meter id answers NOT_FOUND and reads nothing of theirs', async () => {
    const other = createCreatorWithKey(server.rt).then(({ apiKey }) => api(server.url, apiKey));
    const otherCall = await other;
    const res = await query(otherCall, 'meters.preview', { ...definition(), meter_id: meterId });
    expect(res.status).toBe(404);
    expect(res.json.error.data.problem).toMatchObject({ status: 404, type: expect.stringContaining('not-found'), detail: 'Meter was not found.' });
    // By event name, creator B sees only their own (no) events.
    const byName = await query(otherCall, 'meters.preview', definition());
    expect(byName.json.result.data).toMatchObject({ events: 0, customers: 0 });
    expect((await query(otherCall, 'meters.limitHistory', { id: meterId })).status).toBe(404);
  });
});

describe('meters.limitHistory', () => {
  it('a changed limit keeps the old one in the history, closed when the new one starts', async () => {
    const changedAt = clock.toISOString();
    const updated = await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: [{ plan_name: 'pro', limit_value: 8, overage_price: '0.5' }] });
    expect(updated.status).toBe(200);
    const res = await query(call, 'meters.limitHistory', { id: meterId });
    expect(res.status).toBe(200);
    const pro = res.json.result.data.history.filter((h: { plan_name: string }) => h.plan_name === 'pro');
    expect(pro).toEqual([
      expect.objectContaining({ limit_value: '8', effective_from: changedAt, effective_to: null }),
      expect.objectContaining({ limit_value: '5', effective_from: '2026-03-02T10:00:00.000Z', effective_to: changedAt }),
    ]);
    expect((await query(call, 'meters.limitHistory', { id: 'nope' })).status).toBe(422);
  });


  it('a new definition for an archived meter’s event name previews the events recorded under it', async () => {
    const archived = await call('DELETE', `/api/usage/meters/${meterId}`);
    expect(archived.status).toBeLessThan(300);
    const preview = (await query(call, 'meters.preview', definition())).json.result.data;
    expect(preview).toMatchObject({ events: 12, customers: 4, quantity: '12' });
  });
});
