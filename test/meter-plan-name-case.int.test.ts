import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Customers are matched to a meter's plans by exact name, so "Pro" beside "pro" on one meter is
 * a typo that leaves the customers of one spelling without the limit meant for them. A meter
 * refuses two plans whose names differ only in case, in one request or across a PATCH, with a
 * problem naming the field, and nothing changes.
 */
const { url } = await useTestDatabase();
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url);
});
afterAll(() => server.close());

async function caller() {
  const { apiKey } = await createCreatorWithKey(server.rt);
  return api(server.url, apiKey);
}

const meterBody = (planLimits: unknown[]) => ({ event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count', plan_limits: planLimits });

describe('plan names that differ only in case', () => {
  it('a new meter with "Pro" and "pro" is refused, naming the second, and no meter is created', async () => {
    const call = await caller();
    const refused = await call(
      'POST',
      '/api/usage/meters',
      meterBody([
        { plan_name: 'pro', limit_value: 100, hard_cap: true },
        { plan_name: 'Pro', limit_value: 1000 },
      ]),
    );
    expect(refused.status, refused.text).toBe(422);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.json.errors).toEqual([{ field: 'plan_limits[1].plan_name', message: expect.stringContaining('differs only in case from the plan "pro"') }]);
    expect((await call('GET', '/api/usage/meters')).json.meters).toHaveLength(0);
  });

  it('the same name twice is still "appears twice"', async () => {
    const call = await caller();
    const refused = await call('POST', '/api/usage/meters', meterBody([{ plan_name: 'pro' }, { plan_name: 'pro' }]));
    expect(refused.status).toBe(422);
    expect(refused.json.errors).toEqual([{ field: 'plan_limits[1].plan_name', message: 'appears twice' }]);
  });

  it('a PATCH adding "PRO" to a meter with "pro" is refused and the meter keeps its limits; changing "pro" itself, or renaming it by removing it, is accepted', async () => {
    const call = await caller();
    const created = await call('POST', '/api/usage/meters', meterBody([{ plan_name: 'pro', limit_value: 100, hard_cap: true }]));
    expect(created.status, created.text).toBe(201);
    const id = created.json.id as string;

    const refused = await call('PATCH', `/api/usage/meters/${id}`, { plan_limits: [{ plan_name: 'PRO', limit_value: 5 }] });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.json.errors).toEqual([{ field: 'plan_limits[0].plan_name', message: expect.stringContaining('differs only in case from the plan "pro"') }]);
    const unchanged = await call('GET', `/api/usage/meters/${id}`);
    expect(unchanged.json.plan_limits.map((l: { plan_name: string; limit_value: string }) => [l.plan_name, l.limit_value])).toEqual([['pro', '100']]);
    expect(unchanged.json.updated_at).toBe(created.json.updated_at);

    const changed = await call('PATCH', `/api/usage/meters/${id}`, { plan_limits: [{ plan_name: 'pro', limit_value: 200, hard_cap: true }] });
    expect(changed.status, changed.text).toBe(200);
    const renamed = await call('PATCH', `/api/usage/meters/${id}`, { plan_limits: [{ plan_name: 'Pro', limit_value: 200, hard_cap: true }], remove_plans: ['pro'] });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.json.plan_limits.map((l: { plan_name: string }) => l.plan_name)).toEqual(['Pro']);
  });
});
