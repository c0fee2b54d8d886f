import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url);
});
afterAll(() => server.close());

async function creator() {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  return { call: api(server.url, apiKey), creator, apiKey };
}

describe('the seed document, verbatim', () => {
  it('creates the api_calls meter with a starter plan, lists it, tracks and reports usage', async () => {
    const { call } = await creator();
    const created = await call('POST', '/api/usage/meters', {
      event_name: 'api_calls',
      display_name: 'API Calls',
      description: 'Number of API requests made',
      aggregation_type: 'count',
      unit_name: 'calls',
      billing_model: 'metered',
      plan_limits: [{ plan_name: 'starter', limit_value: 10000, overage_price: 0.01, soft_limit_threshold: 0.8, hard_cap: false }],
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      id: expect.any(String),
      event_name: 'api_calls',
      aggregation_type: 'count',
      plan_limits: [{ plan_name: 'starter', limit_value: '10000', overage_price: '0.01', soft_limit_threshold: '0.8', hard_cap: false }],
    });
    const list = await call('GET', '/api/usage/meters');
    expect(list.status).toBe(200);
    expect(list.json.meters.map((m: { event_name: string }) => m.event_name)).toEqual(['api_calls']);

    await call('PUT', '/api/usage/customers/user_123', { plan_name: 'starter' });
    const tracked = await call('POST', '/api/usage/track', {
      event_name: 'api_calls',
      user_id: 'user_123',
      value: 1,
      properties: { endpoint: '/api/data', method: 'GET' },
    });
    expect(tracked.status).toBe(201);
    expect(tracked.json).toMatchObject({ event_name: 'api_calls', user_id: 'user_123', value: '1', usage: { used: '1', limit: '10000', remaining: '9999' } });
  });

  it('free plan hard cap 1000 blocks the 1001st call; pro plan overage 0.001 is priced', async () => {
    const { call } = await creator();
    expect(
      (
        await call('POST', '/api/usage/meters', {
          event_name: 'api_calls',
          display_name: 'API Calls',
          aggregation_type: 'count',
          unit_name: 'requests',
          plan_limits: [
            { plan_name: 'free', limit_value: 1000, hard_cap: true },
            { plan_name: 'pro', limit_value: 10000, overage_price: 0.001 },
          ],
        })
      ).status,
    ).toBe(201);
    await call('PUT', '/api/usage/customers/free-user', { plan_name: 'free' });
    await call('PUT', '/api/usage/customers/pro-user', { plan_name: 'pro' });
    const batch = Array.from({ length: 1000 }, () => ({ event_name: 'api_calls', user_id: 'free-user', value: 1, properties: { endpoint: '/api/users' } }));
    const filled = await call('POST', '/api/usage/track', batch);
    expect(filled.status).toBe(200);
    expect(filled.json.results.every((r: { status: number }) => r.status === 201)).toBe(true);
    const blocked = await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'free-user' });
    expect(blocked.status).toBe(402);
    expect(blocked.headers.get('content-type')).toBe('application/problem+json');
    expect(blocked.json).toMatchObject({ type: expect.stringContaining('/quota-exceeded'), used: '1000', limit: '1000', remaining: '0', period_end: expect.any(String) });

    const proBatch = Array.from({ length: 10_250 }, () => ({ event_name: 'api_calls', user_id: 'pro-user' }));
    for (let i = 0; i < proBatch.length; i += 1000) {
      const r = await call('POST', '/api/usage/track', proBatch.slice(i, i + 1000));
      expect(r.json.results.filter((x: { status: number }) => x.status !== 201)).toEqual([]);
    }
    const usage = await call('GET', '/api/usage/customers/pro-user/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '10250', limit: '10000', remaining: '-250', overage_quantity: '250', overage_amount: '0.25' });
  }, 60_000);

  it('storage_used sums bytes; feature_usage duration reports minutes', async () => {
    const { call } = await creator();
    await call('POST', '/api/usage/meters', { event_name: 'storage_used', display_name: 'Storage', aggregation_type: 'sum', unit_name: 'bytes' });
    await call('POST', '/api/usage/meters', { event_name: 'feature_usage', display_name: 'Feature time', aggregation_type: 'duration', unit_name: 'minutes' });
    const s1 = await call('POST', '/api/usage/track', { userId: 'x' });
    expect(s1.status).toBe(422);
    const storage = await call('POST', '/api/usage/track', { event_name: 'storage_used', user_id: 'user-123', value: 1048576, properties: { file_type: 'image' } });
    expect(storage.status).toBe(201);
    expect(storage.json.usage.used).toBe('1048576');
    const feature = await call('POST', '/api/usage/track', { event_name: 'feature_usage', user_id: 'user-123', value: 300, properties: { feature: 'advanced_editor' } });
    expect(feature.status).toBe(201);
    expect(feature.json.usage.used).toBe('5');
  });

  it('a duration meter keeps its unit once it has usage: its limits and what Stripe holds are in that unit', async () => {
    const { call } = await creator();
    const meter = await call('POST', '/api/usage/meters', {
      event_name: 'render_time',
      display_name: 'Render time',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'pro', limit_value: 10, overage_price: 0.5 }],
    });
    expect(meter.status, meter.text).toBe(201);
    // Before any usage the unit is a setting like any other
    const before = await call('PATCH', `/api/usage/meters/${meter.json.id}`, { unit_name: 'hours' });
    expect(before.status, before.text).toBe(200);
    expect((await call('PATCH', `/api/usage/meters/${meter.json.id}`, { unit_name: 'minutes' })).status).toBe(200);
    await call('PUT', '/api/usage/customers/u1', { plan_name: 'pro' });
    expect((await call('POST', '/api/usage/track', { event_name: 'render_time', user_id: 'u1', value: 900 })).status).toBe(201);

    // Once used: 409 naming the field, and nothing changes
    const after = await call('PATCH', `/api/usage/meters/${meter.json.id}`, { unit_name: 'hours', display_name: 'Renamed' });
    expect(after.status, after.text).toBe(409);
    expect(after.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(after.json).toMatchObject({ type: expect.stringMatching(/\/meter-unit-fixed$/), status: 409, errors: [{ field: 'unit_name' }] });
    expect((await call('GET', `/api/usage/meters/${meter.json.id}`)).json).toMatchObject({ unit_name: 'minutes', display_name: 'Render time' });
    const usage = await call('GET', '/api/usage/customers/u1/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '15', limit: '10', overage_quantity: '5', overage_amount: '2.5' });
    // The same unit again, or another field, is fine
    expect((await call('PATCH', `/api/usage/meters/${meter.json.id}`, { unit_name: 'minutes', display_name: 'Render' })).status).toBe(200);
  });
});

describe('tRPC ingestion', () => {
  it('usage.track and usage.trackBatch record like the REST endpoint', async () => {
    const { call } = await creator();
    await call('POST', '/api/usage/meters', { event_name: 'api_calls', display_name: 'API Calls', aggregation_type: 'count', unit_name: 'calls' });
    const one = await call('POST', '/api/trpc/usage.track', { event_name: 'api_calls', user_id: 'u', idempotency_key: 't-1' });
    expect(one.status).toBe(200);
    expect(one.json.result.data.usage.used).toBe('1');
    const batch = await call('POST', '/api/trpc/usage.trackBatch', [
      { event_name: 'api_calls', user_id: 'u', idempotency_key: 't-1' },
      { event_name: 'api_calls', user_id: 'u', value: 'x' },
      { event_name: 'api_calls', user_id: 'u' },
    ]);
    expect(batch.json.result.data.results.map((r: { status: number }) => r.status)).toEqual([201, 422, 201]);
    expect(batch.json.result.data.results[0].replayed).toBe(true);
    const bad = await call('POST', '/api/trpc/usage.track', { event_name: 'api_calls' });
    expect(bad.status).toBe(422);
    expect(bad.json.error.data.problem.errors[0].field).toBe('user_id');
    const check = await call('GET', `/api/trpc/usage.check?input=${encodeURIComponent(JSON.stringify({ user_id: 'u', event_name: 'api_calls' }))}`);
    expect(check.json.result.data.used).toBe('2');
  });
});
