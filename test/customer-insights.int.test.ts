import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { applyRollupJobs } from './harness/rollups.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Top users, the customer page and its events explorer, over tRPC as the dashboard and the
 * SDK call them: ranking, % of limit and overage $ per period, keyset pages, search,
 * property filters, tenant isolation and field errors.
 */
const { url } = await useTestDatabase();
let server: TestServer;
// A clock we move: last month's events are sent "last month", so both periods have counters.
let now = new Date('2026-10-20T12:00:00.000Z');
beforeAll(async () => {
  server = await startTestServer(url, { now: () => now });
});
afterAll(() => server.close());

type Call = ReturnType<typeof api>;

const query = async (call: Call, procedure: string, input: unknown) => {
  const response = await call('GET', `/api/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify(input))}`);
  return { status: response.status, data: response.json?.result?.data, error: response.json?.error };
};
const mutate = async (call: Call, procedure: string, input: unknown) => {
  const response = await call('POST', `/api/trpc/${procedure}`, input);
  expect(response.status, response.text).toBe(200);
  return response.json.result.data;
};
/** The field errors of a failed call, as { field: message }. */
const fieldsOf = (error: { data?: { problem?: { errors?: Array<{ field: string; message: string }> } } }) =>
  Object.fromEntries((error.data?.problem?.errors ?? []).map((e) => [e.field, e.message]));

async function track(call: Call, events: Array<Record<string, unknown>>): Promise<string[]> {
  const response = await call('POST', '/api/usage/track', events);
  expect(response.status, response.text).toBe(200);
  const results = response.json.results as Array<{ status: number; id: string; error?: unknown }>;
  expect(results.filter((r) => r.status !== 201), JSON.stringify(results.find((r) => r.status !== 201))).toEqual([]);
  return results.map((r) => r.id);
}


const times = (n: number, event: Record<string, unknown>, at: (i: number) => string) => Array.from({ length: n }, (_, i) => ({ ...event, timestamp: at(i) }));

describe('Top users and the customer page', () => {
  let call: Call;
  let creatorId: string;
  let calls: string;
  let watch: string;
  let other: Call;

  beforeAll(async () => {
    const a = await createCreatorWithKey(server.rt);
    call = api(server.url, a.apiKey);
    creatorId = a.creator.id;
    other = api(server.url, (await createCreatorWithKey(server.rt)).apiKey);
    const meter = async (body: Record<string, unknown>) => {
      const created = await call('POST', '/api/usage/meters', body);
      expect(created.status, created.text).toBe(201);
      return created.json.id as string;
    };
    calls = await meter({
      event_name: 'calls',
      display_name: 'API calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [
        { plan_name: 'starter', limit_value: '10', overage_price: '0.25', soft_limit_threshold: '0.8' },
        { plan_name: 'pro', limit_value: '100', overage_price: '0.1' },
      ],
    });
    watch = await meter({
      event_name: 'watch',
      display_name: 'Watch time',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'starter', limit_value: '2', overage_price: '1.5', hard_cap: false }],
    });
    const customer = async (userId: string, fields: Record<string, unknown>) => {
      const response = await call('PUT', `/api/usage/customers/${encodeURIComponent(userId)}`, fields);
      expect(response.status, response.text).toBe(201);
    };
    await customer('alice', { plan_name: 'starter', email: 'alice@acme.test', name: 'Alice Liddell' });
    await customer('bob', { plan_name: 'pro', email: 'robert@example.com', name: 'Bob' });
    await customer('carol', { plan_name: 'starter', name: 'Carol Danvers' });
    await customer('dave/with space?', { plan_name: null });
    // Periods from the 31st at 15:30, on the last day of shorter months (Sep 30, Nov 30).
    await customer('fran', { billing_anchor: '2026-01-31T15:30:00Z' });

    // October (the previous period by the end): alice 5 calls, bob 1.
    await track(call, [
      ...times(5, { event_name: 'calls', user_id: 'alice' }, (i) => `2026-10-0${i + 1}T10:00:00Z`),
      { event_name: 'calls', user_id: 'bob', timestamp: '2026-10-03T10:00:00Z' },
      ...times(2, { event_name: 'calls', user_id: 'fran' }, () => '2026-10-10T10:00:00Z'),
    ]);
    now = new Date('2026-11-20T12:00:00.000Z');
    // November: alice 15 calls + 150 s of watch time, bob 40, carol 8, dave 3.
    await track(call, [
      ...times(15, { event_name: 'calls', user_id: 'alice', properties: { endpoint: '/a' } }, (i) => `2026-11-${String(i + 1).padStart(2, '0')}T09:00:00Z`),
      ...times(40, { event_name: 'calls', user_id: 'bob' }, (i) => `2026-11-1${i % 10}T08:00:00Z`),
      ...times(8, { event_name: 'calls', user_id: 'carol' }, () => '2026-11-02T08:00:00Z'),
      ...times(3, { event_name: 'calls', user_id: 'dave/with space?' }, () => '2026-11-03T08:00:00Z'),
      { event_name: 'watch', user_id: 'alice', value: '150', timestamp: '2026-11-05T10:00:00Z' },
      { event_name: 'calls', user_id: 'fran', timestamp: '2026-11-02T10:00:00Z' },
    ]);
  });

  const top = (input: Record<string, unknown>) => query(call, 'customers.top', { meter_id: calls, ...input });
  const ids = (data: { customers: Array<{ user_id: string }> }) => data.customers.map((c) => c.user_id);

  it('ranks customers by usage, % of limit, overage $ and user id, with exact figures', async () => {
    const byUsage = await top({});
    expect(byUsage.status).toBe(200);
    expect(byUsage.data.total).toBe(5);
    expect(ids(byUsage.data)).toEqual(['bob', 'alice', 'carol', 'dave/with space?', 'fran']);
    expect(byUsage.data.customers[1]).toEqual({
      user_id: 'alice',
      email: 'alice@acme.test',
      name: 'Alice Liddell',
      plan_name: 'starter',
      period_start: '2026-11-01T00:00:00.000Z',
      period_end: '2026-12-01T00:00:00.000Z',
      used: '15',
      limit: '10',
      percent_of_limit: '150',
      overage_quantity: '5',
      overage_amount: '1.25',
      event_count: 15,
    });
    expect(byUsage.data.customers[0]).toMatchObject({ used: '40', limit: '100', percent_of_limit: '40', overage_quantity: '0', overage_amount: '0' });
    expect(byUsage.data.customers[3]).toMatchObject({ used: '3', limit: null, percent_of_limit: null, plan_name: null });

    expect(byUsage.data.customers[4]).toMatchObject({ used: '1', period_start: '2026-10-31T15:30:00.000Z', period_end: '2026-11-30T15:30:00.000Z' });
    // Unlimited customers come last by % of limit; no overage ties are in user id order.
    expect(ids((await top({ sort: 'percent' })).data)).toEqual(['alice', 'carol', 'bob', 'dave/with space?', 'fran']);
    expect(ids((await top({ sort: 'overage' })).data)).toEqual(['alice', 'bob', 'carol', 'dave/with space?', 'fran']);
    expect(ids((await top({ sort: 'user_id' })).data)).toEqual(['alice', 'bob', 'carol', 'dave/with space?', 'fran']);

    // Durations are kept in seconds and shown in the meter's unit: 150 s = 2.5 minutes of 2.
    const watched = await query(call, 'customers.top', { meter_id: watch });
    expect(watched.data.customers).toEqual([expect.objectContaining({ user_id: 'alice', used: '2.5', limit: '2', percent_of_limit: '125', overage_quantity: '0.5', overage_amount: '0.75' })]);
  });

  it('pages by keyset: every customer exactly once, in order, for every sort', async () => {
    for (const sort of ['usage', 'percent', 'overage', 'user_id']) {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const result = await top({ sort, limit: 1, ...(cursor ? { cursor } : {}) });
        expect(result.status).toBe(200);
        expect(result.data.total).toBe(5);
        seen.push(...ids(result.data));
        cursor = result.data.next_cursor ?? undefined;
        if (!cursor) break;
      }
      expect(seen).toEqual(ids((await top({ sort })).data));
    }
  });

  it('a page cursor pages only the list it came from: another meter or period refuses it (422 naming cursor)', async () => {
    const first = await top({ sort: 'usage', limit: 1 });
    const cursor = first.data.next_cursor as string;
    expect(cursor).toEqual(expect.any(String));
    for (const other of [{ meter_id: watch }, { period: 'previous' }, { sort: 'overage' }]) {
      const refused = await top({ sort: 'usage', limit: 1, cursor, ...other });
      expect(refused.status, JSON.stringify(other)).toBe(422);
      expect(refused.error.data.problem.errors, JSON.stringify(other)).toEqual([expect.objectContaining({ field: 'cursor' })]);
    }
    expect((await top({ sort: 'usage', limit: 1, cursor })).status).toBe(200);
  });

  it('searches user id, email and name by case-insensitive prefix; wildcards are literal', async () => {
    expect(ids((await top({ search: 'ALI' })).data)).toEqual(['alice']);
    expect(ids((await top({ search: 'robert@' })).data)).toEqual(['bob']);
    expect(ids((await top({ search: 'carol d' })).data)).toEqual(['carol']);
    const none = await top({ search: '%' });
    expect(none.data).toMatchObject({ total: 0, customers: [], next_cursor: null });
  });

  it('the previous period is judged by the plan and limit it ended on', async () => {
    // alice moves to pro now: this period is judged by pro's limit, October by starter's.
    await mutate(call, 'customers.upsert', { user_id: 'alice', customer: { plan_name: 'pro' } });
    const previous = await top({ period: 'previous' });
    // Each customer's own previous period: fran's ran from Sep 30 15:30 to Oct 31 15:30.
    expect(ids(previous.data)).toEqual(['alice', 'fran', 'bob']);
    expect(previous.data.customers[0]).toMatchObject({ plan_name: 'starter', used: '5', limit: '10', percent_of_limit: '50', period_start: '2026-10-01T00:00:00.000Z' });
    expect(previous.data.customers[1]).toMatchObject({ used: '2', period_start: '2026-09-30T15:30:00.000Z', period_end: '2026-10-31T15:30:00.000Z' });
    const current = await top({});
    expect(current.data.customers[1]).toMatchObject({ user_id: 'alice', plan_name: 'pro', limit: '100', percent_of_limit: '15', overage_amount: '0' });
    await mutate(call, 'customers.upsert', { user_id: 'alice', customer: { plan_name: 'starter' } });
  });

  it('the customer page: profile, usage against each limit, earlier periods and this period’s days', async () => {
    await applyRollupJobs(server.rt, creatorId);
    const { status, data } = await query(call, 'customers.get', { user_id: 'alice' });
    expect(status).toBe(200);
    expect(data.customer).toMatchObject({ user_id: 'alice', email: 'alice@acme.test', plan_name: 'starter' });
    expect(data.period_start).toBe('2026-11-01T00:00:00.000Z');
    const byEvent = Object.fromEntries(data.meters.map((m: { event_name: string }) => [m.event_name, m]));
    expect(byEvent.calls).toMatchObject({
      used: '15',
      limit: '10',
      remaining: '-5',
      percent_of_limit: '150',
      soft_limit_threshold: '0.8',
      hard_cap: false,
      overage_quantity: '5',
      overage_amount: '1.25',
      event_count: 15,
    });
    expect(byEvent.watch).toMatchObject({ used: '2.5', unit_name: 'minutes', overage_amount: '0.75', event_count: 1 });
    expect(data.history).toEqual([{ meter_id: calls, period_start: '2026-10-01T00:00:00.000Z', period_end: '2026-11-01T00:00:00.000Z', used: '5', event_count: 5 }]);
    const days = data.daily.filter((d: { meter_id: string }) => d.meter_id === calls);
    expect(days).toHaveLength(15);
    expect(days[0]).toEqual({ meter_id: calls, day: '2026-11-01T00:00:00.000Z', used: '1', event_count: 1 });

    // A user id with spaces and slashes is one customer like any other.
    expect((await query(call, 'customers.get', { user_id: 'dave/with space?' })).data.customer.user_id).toBe('dave/with space?');
    const missing = await query(call, 'customers.get', { user_id: 'nobody' });
    expect(missing.status).toBe(404);
  });

  describe('events explorer', () => {
    let erin: string[];
    beforeAll(async () => {
      // Seven events in the same millisecond: the keyset must still page them exactly once.
      const at = '2026-11-19T10:00:00.000Z';
      erin = await track(call, [
        ...times(3, { event_name: 'calls', user_id: 'erin', properties: { endpoint: '/a' } }, () => at),
        ...times(2, { event_name: 'calls', user_id: 'erin', properties: { endpoint: '/b', n: 42 } }, () => at),
        { event_name: 'calls', user_id: 'erin', properties: { n: '42' }, idempotency_key: 'erin-6', timestamp: '2026-11-18T10:00:00Z' },
        { event_name: 'watch', user_id: 'erin', value: '90', properties: {}, timestamp: '2026-11-17T10:00:00Z' },
      ]);
    });
    const events = (input: Record<string, unknown>) => query(call, 'customers.events', { user_id: 'erin', ...input });

    it('pages newest first by (occurred_at, id): every event exactly once across pages, even with equal timestamps', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      const sizes: number[] = [];
      for (let page = 0; page < 10; page++) {
        const result = await events({ limit: 2, ...(cursor ? { cursor } : {}) });
        expect(result.status).toBe(200);
        sizes.push(result.data.events.length);
        seen.push(...result.data.events.map((e: { id: string }) => e.id));
        cursor = result.data.next_cursor ?? undefined;
        if (!cursor) break;
      }
      expect(sizes).toEqual([2, 2, 2, 1]);
      expect(new Set(seen).size).toBe(7);
      expect([...seen].sort()).toEqual([...erin].sort());
      // The five simultaneous events come first, by id descending; then the older two.
      expect(seen.slice(0, 5)).toEqual([...erin.slice(0, 5)].sort().reverse());
      expect(seen.slice(5)).toEqual([erin[5], erin[6]]);
    });

    it('shows what each event counted for, in the meter’s unit', async () => {
      const all = (await events({})).data.events as Array<Record<string, unknown>>;
      expect(all.find((e) => e.event_name === 'watch')).toMatchObject({ value: '90', counted: '1.5', meter_id: watch, occurred_at: '2026-11-17T10:00:00.000Z' });
      expect(all.find((e) => e.idempotency_key === 'erin-6')).toMatchObject({ value: '1', counted: '1', properties: { n: '42' } });
    });

    it('filters by property (string, or the number it reads as), meter and time range', async () => {
      const count = async (input: Record<string, unknown>) => (await events(input)).data.events.length;
      expect(await count({ property_key: 'endpoint', property_value: '/a' })).toBe(3);
      expect(await count({ property_key: 'n', property_value: '42' })).toBe(3);
      expect(await count({ property_key: 'endpoint', property_value: '/c' })).toBe(0);
      expect(await count({ meter_id: watch })).toBe(1);
      expect(await count({ meter_id: calls, from: '2026-11-18T00:00:00Z', to: '2026-11-18T23:59:59Z' })).toBe(1);
      expect(await count({ from: '2026-11-19T10:00:00Z' })).toBe(5);
      // A filtered list pages too.
      const first = await events({ property_key: 'endpoint', property_value: '/a', limit: 2 });
      const second = await events({ property_key: 'endpoint', property_value: '/a', limit: 2, cursor: first.data.next_cursor });
      expect(second.data.events).toHaveLength(1);
      expect(second.data.next_cursor).toBeNull();
    });
  });

  it('another creator gets NOT_FOUND for these customers and for these meters; nothing leaks', async () => {
    for (const [procedure, input] of [
      ['customers.get', { user_id: 'alice' }],
      ['customers.events', { user_id: 'alice' }],
    ] as const) {
      const result = await query(other, procedure, input);
      expect(result.status, procedure).toBe(404);
      expect(result.error.data.problem).toMatchObject({ status: 404, detail: 'Customer was not found.' });
    }
    // The report's meter is its subject, as the trends' is: not found, not a bad field.
    const theirTop = await query(other, 'customers.top', { meter_id: calls });
    expect(theirTop.status).toBe(404);
    expect(theirTop.error.data.problem).toMatchObject({ status: 404, detail: 'Meter was not found.' });
  });

  it('bad inputs name their field', async () => {
    const errors = async (procedure: string, input: unknown) => {
      const result = await query(call, procedure, input);
      expect(result.status, JSON.stringify(result.error)).toBe(422);
      return fieldsOf(result.error);
    };
    expect(await errors('customers.top', { meter_id: calls, cursor: 'not a cursor' })).toHaveProperty('cursor');
    expect(await errors('customers.top', { meter_id: calls, cursor: Buffer.from('["usage"]').toString('base64url') })).toHaveProperty('cursor');
    expect(await errors('customers.top', { meter_id: calls, sort: 'user_id', cursor: (await top({ limit: 1 })).data.next_cursor })).toHaveProperty('cursor');
    expect((await query(call, 'customers.top', { meter_id: crypto.randomUUID() })).status).toBe(404);
    expect(await errors('customers.top', { meter_id: 'calls' })).toEqual({ meter_id: 'must be a UUID' });
    expect(await errors('customers.top', { meter_id: calls, sort: 'money', period: 'next' })).toEqual({
      sort: 'must be one of usage, percent, overage, user_id',
      period: 'must be current or previous',
    });
    expect(await errors('customers.top', { meter_id: calls, limit: 1000 })).toEqual({ limit: 'must be at most 100' });
    expect(await errors('customers.events', { user_id: 'erin', from: '2026-11-20T00:00:00Z', to: '2026-11-19T00:00:00Z' })).toEqual({ to: 'must not be before from' });
    expect(await errors('customers.events', { user_id: 'erin', from: 'yesterday' })).toHaveProperty('from');
    expect(await errors('customers.events', { user_id: 'erin', property_key: 'endpoint' })).toEqual({ property_value: 'is required with a property key' });
    expect(await errors('customers.events', { user_id: 'erin', meter_id: crypto.randomUUID() })).toEqual({ meter_id: 'is not one of your meters' });
    expect(await errors('customers.events', { user_id: 'erin', cursor: Buffer.from('["x","y"]').toString('base64url') })).toHaveProperty('cursor');
    expect(await errors('customers.get', { user_id: '' })).toEqual({ user_id: 'must not be empty' });
  });
});

describe('Top users by overage $ with a hard-capped plan', () => {
  it('ranks a hard-capped customer past its (lowered) limit at $0, after those who owe overage', async () => {
    const a = await createCreatorWithKey(server.rt);
    const call = api(server.url, a.apiKey);
    const limits = (cappedLimit: number) => [
      { plan_name: 'metered', limit_value: 1, overage_price: '0.3' },
      { plan_name: 'capped', limit_value: cappedLimit, overage_price: '1', hard_cap: true },
    ];
    const created = await call('POST', '/api/usage/meters', { event_name: 'jobs', display_name: 'Jobs', aggregation_type: 'count', unit_name: 'jobs', plan_limits: limits(10) });
    expect(created.status, created.text).toBe(201);
    for (const [userId, plan] of [['metered-1', 'metered'], ['capped-1', 'capped']] as const) {
      expect((await call('PUT', `/api/usage/customers/${userId}`, { plan_name: plan })).status).toBe(201);
    }
    await track(call, [
      ...times(2, { event_name: 'jobs', user_id: 'metered-1' }, () => now.toISOString()),
      ...times(5, { event_name: 'jobs', user_id: 'capped-1' }, () => now.toISOString()),
    ]);
    // The capped plan's limit is lowered below what its customer has used: 5 of 2.
    const lowered = await call('PATCH', `/api/usage/meters/${created.json.id}`, { plan_limits: limits(2) });
    expect(lowered.status, lowered.text).toBe(200);

    const ranked = await query(call, 'customers.top', { meter_id: created.json.id, sort: 'overage' });
    expect(ranked.status).toBe(200);
    expect(ranked.data.customers.map((c: { user_id: string; overage_amount: string }) => [c.user_id, c.overage_amount])).toEqual([
      ['metered-1', '0.3'],
      ['capped-1', '0'],
    ]);
  });
});

describe('The customer page of a customer whose periods start at a time of day', () => {
  it('this period’s first day counts this period’s events only, for every kind of meter', async () => {
    const a = await createCreatorWithKey(server.rt);
    const call = api(server.url, a.apiKey);
    expect((await call('PUT', '/api/usage/settings', { late_event_grace_hours: 840 })).status).toBe(200);
    const meter = async (body: Record<string, unknown>) => {
      const created = await call('POST', '/api/usage/meters', { display_name: String(body.event_name), ...body });
      expect(created.status, created.text).toBe(201);
      return created.json.id as string;
    };
    const ids = {
      calls: await meter({ event_name: 'calls', aggregation_type: 'count', unit_name: 'calls' }),
      bytes: await meter({ event_name: 'bytes', aggregation_type: 'sum', unit_name: 'bytes' }),
      peak: await meter({ event_name: 'peak', aggregation_type: 'max', unit_name: 'seats' }),
      seen: await meter({ event_name: 'seen', aggregation_type: 'unique', unit_name: 'pages', unique_property: 'page' }),
    };
    // Periods from the 10th at 15:30 UTC: this one began 2026-11-10T15:30.
    expect((await call('PUT', '/api/usage/customers/gus', { billing_anchor: '2026-01-10T15:30:00Z' })).status).toBe(201);
    now = new Date('2026-11-12T12:00:00.000Z');
    const at = (time: string) => `2026-11-10T${time}Z`;
    const each = (time: string, values: { bytes: string; peak: string; page: string }) => [
      { event_name: 'calls', user_id: 'gus', timestamp: at(time) },
      { event_name: 'bytes', user_id: 'gus', value: values.bytes, timestamp: at(time) },
      { event_name: 'peak', user_id: 'gus', value: values.peak, timestamp: at(time) },
      { event_name: 'seen', user_id: 'gus', properties: { page: values.page }, timestamp: at(time) },
    ];
    await track(call, [
      // The previous period's end, the same UTC day: not this period's.
      ...each('09:00:00', { bytes: '100', peak: '50', page: '/a' }),
      ...each('15:29:59.999', { bytes: '100', peak: '40', page: '/b' }),
      // This period: before its first whole hour (15:30–16:00), then after it.
      ...each('15:30:00', { bytes: '0.1', peak: '3', page: '/a' }),
      ...each('15:45:00', { bytes: '0.2', peak: '7', page: '/a' }),
      ...each('17:00:00', { bytes: '0.3', peak: '5', page: '/c' }),
      { event_name: 'calls', user_id: 'gus', timestamp: '2026-11-11T08:00:00Z' },
    ]);
    await applyRollupJobs(server.rt, a.creator.id);

    const { status, data } = await query(call, 'customers.get', { user_id: 'gus' });
    expect(status).toBe(200);
    expect(data.period_start).toBe('2026-11-10T15:30:00.000Z');
    const dayOf = (meterId: string, day: string) => data.daily.find((d: { meter_id: string; day: string }) => d.meter_id === meterId && d.day === day);
    const first = '2026-11-10T00:00:00.000Z';
    expect(dayOf(ids.calls, first)).toMatchObject({ used: '3', event_count: 3 });
    expect(dayOf(ids.bytes, first)).toMatchObject({ used: '0.6', event_count: 3 });
    expect(dayOf(ids.peak, first)).toMatchObject({ used: '7', event_count: 3 });
    // /a and /c are new to this period (/a was seen in the previous one too).
    expect(dayOf(ids.seen, first)).toMatchObject({ used: '2', event_count: 3 });
    expect(dayOf(ids.calls, '2026-11-11T00:00:00.000Z')).toMatchObject({ used: '1', event_count: 1 });
    // The days add up to the period's usage shown above them.
    const used = Object.fromEntries(data.meters.map((m: { meter_id: string; used: string }) => [m.meter_id, m.used]));
    expect(used[ids.calls]).toBe('4');
    expect(used[ids.bytes]).toBe('0.6');
  });
});
