/**
 * Alerts carry the figures of the event that raised them, and a hard cap's refusal alerts
 * only when the customer is at the cap in practice; alert filters are not guessed at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

const { url } = await useTestDatabase();
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer(url);
});
afterAll(async () => {
  await server?.close();
});

type Call = ReturnType<typeof api>;

async function creator() {
  const { apiKey } = await createCreatorWithKey(server.rt);
  return api(server.url, apiKey);
}

async function meter(call: Call, body: Record<string, unknown>) {
  const res = await call('POST', '/api/usage/meters', { display_name: 'Meter', unit_name: 'units', ...body });
  expect(res.status, res.text).toBe(201);
  return res.json as { id: string };
}

async function alerts(call: Call, query = '') {
  const res = await call('GET', `/api/usage/alerts${query}`);
  expect(res.status, res.text).toBe(200);
  return res.json.alerts as Array<Record<string, any>>;
}

describe('alert figures', () => {
  it('a batch that crosses the soft limit and then the limit records the soft-limit alert with the usage at its crossing, as the same events sent one by one do', async () => {
    const call = await creator();
    await meter(call, { event_name: 'calls', aggregation_type: 'sum', plan_limits: [{ plan_name: 'p', limit_value: 10, soft_limit_threshold: 0.8 }] });
    for (const user of ['single', 'batch']) expect((await call('PUT', `/api/usage/customers/${user}`, { plan_name: 'p' })).status).toBe(201);

    // The same two events: one by one, then as one batch
    for (const value of [8, 100]) expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'single', value })).status).toBe(201);
    const batch = await call('POST', '/api/usage/track', [
      { event_name: 'calls', user_id: 'batch', value: 8 },
      { event_name: 'calls', user_id: 'batch', value: 100 },
    ]);
    expect(batch.status, batch.text).toBe(200);

    const soft = async (user: string) => (await alerts(call, `?user_id=${user}&kind=soft_limit_reached`)).map((a) => a.used);
    expect(await soft('single')).toEqual(['8']);
    // The soft limit (8 of 10) was reached by the batch's first event; it must not say 108 (past the limit)
    expect(await soft('batch')).toEqual(['8']);
  });

  it('an oversized event refused far below a hard cap does not use up the period’s hard_limit_reached: reaching the cap later is alerted with used = limit', async () => {
    const call = await creator();
    await meter(call, { event_name: 'uploads', aggregation_type: 'sum', plan_limits: [{ plan_name: 'p', limit_value: 100, hard_cap: true }] });
    expect((await call('PUT', '/api/usage/customers/u1', { plan_name: 'p' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'uploads', user_id: 'u1', value: 10 })).status).toBe(201);
    // A single 500-unit upload is refused: the customer is at 10 of 100, 90 still available
    expect((await call('POST', '/api/usage/track', { event_name: 'uploads', user_id: 'u1', value: 500 })).status).toBe(402);
    // Then the customer really reaches the cap
    const reach = await call('POST', '/api/usage/track', { event_name: 'uploads', user_id: 'u1', value: 90 });
    expect(reach.status, reach.text).toBe(201);
    expect(reach.json.usage).toMatchObject({ used: '100', remaining: '0' });
    // DESIGN: "A hard-capped plan reaching its limit raises usage.hard_limit_reached" — the creator
    // should learn the customer is blocked (used 100 of 100), not that they were at 10 of 100.
    expect((await alerts(call, '?kind=hard_limit_reached')).map((a) => [a.used, a.limit])).toEqual([['100', '100']]);
  });

  it('a refusal just short of a hard cap (within 10 % of it) raises hard_limit_reached with the usage where the customer stopped', async () => {
    const call = await creator();
    await meter(call, { event_name: 'storage', aggregation_type: 'sum', plan_limits: [{ plan_name: 'p', limit_value: 100, hard_cap: true }] });
    expect((await call('PUT', '/api/usage/customers/u1', { plan_name: 'p' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'u1', value: 89.5 })).status).toBe(201);
    // 10.5 left: a refusal now is far enough below the cap to alert nothing
    expect((await call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'u1', value: 11 })).status).toBe(402);
    expect(await alerts(call, '?kind=hard_limit_reached')).toEqual([]);
    expect((await call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'u1', value: 1 })).status).toBe(201);
    // At 90.5 of 100, stuck just short of the cap: blocked in practice, so alerted, once
    for (const value of [10, 20]) expect((await call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'u1', value })).status).toBe(402);
    expect((await alerts(call, '?kind=hard_limit_reached')).map((a) => [a.used, a.limit])).toEqual([['90.5', '100']]);
  });
});

describe('GET /api/usage/alerts filters', () => {
  it('refuses a filter given twice (one of them invalid) with 422 problem JSON instead of silently using the last one', async () => {
    const call = await creator();
    for (const query of ['status=bogus&status=open', 'kind=bogus&kind=overage_started', 'meter_id=not-a-uuid&meter_id=00000000-0000-4000-8000-000000000000']) {
      const res = await call('GET', `/api/usage/alerts?${query}`);
      expect(res.status, `${query}: ${res.text}`).toBe(422);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
  });
});
