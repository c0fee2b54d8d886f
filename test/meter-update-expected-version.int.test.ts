import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/**
 * `meters.update` with `expected_updated_at`: a save made on what the caller read is refused
 * once the meter changed since (409 meter-changed, nothing saved), so a form that sends every
 * field and plan it showed cannot put back limits someone else changed.
 */
const { url } = await useTestDatabase();
const server = useTestServer(url);

const limitsOf = (meter: Record<string, any>) => (meter.plan_limits as Array<{ plan_name: string; limit_value: string | null }>).map((l) => [l.plan_name, l.limit_value]);

describe('meters.update with expected_updated_at', () => {
  it('is refused 409 meter-changed once the meter changed since it was read, and saves nothing; with the current one it saves', async () => {
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    const read = await createMeter(call, {
      event_name: 'api_calls',
      display_name: 'API calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [{ plan_name: 'free', limit_value: 10, hard_cap: true }],
    });
    // Someone else raises free and adds pro (through the API: no expectation).
    const patched = await call('PATCH', `/api/usage/meters/${read.id}`, { plan_limits: [{ plan_name: 'free', limit_value: 20, hard_cap: true }, { plan_name: 'pro', limit_value: 1000 }] });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json.updated_at).not.toBe(read.updated_at);

    // A save of what was read first: every field and plan as read, the name changed.
    const stale = await call('POST', '/api/trpc/meters.update', {
      id: read.id,
      expected_updated_at: read.updated_at,
      patch: { display_name: 'API requests', plan_limits: [{ plan_name: 'free', limit_value: 10, hard_cap: true }], remove_plans: ['pro'] },
    });
    expect(stale.status, stale.text).toBe(409);
    expect(stale.json.error.data.problem).toMatchObject({ type: expect.stringMatching(/\/meter-changed$/), status: 409 });
    expect(stale.json.error.data.problem.detail).toContain('Nothing was saved');
    const after = (await call('GET', `/api/usage/meters/${read.id}`)).json;
    expect({ name: after.display_name, limits: limitsOf(after), updated_at: after.updated_at }).toEqual({
      name: 'API calls',
      limits: [
        ['free', '20'],
        ['pro', '1000'],
      ],
      updated_at: patched.json.updated_at,
    });

    // Read again, the same save goes through.
    const fresh = await call('POST', '/api/trpc/meters.update', { id: read.id, expected_updated_at: after.updated_at, patch: { display_name: 'API requests' } });
    expect(fresh.status, fresh.text).toBe(200);
    expect(fresh.json.result.data).toMatchObject({ display_name: 'API requests' });
    expect(limitsOf(fresh.json.result.data)).toEqual([
      ['free', '20'],
      ['pro', '1000'],
    ]);
  });

  it('refuses an expected_updated_at that is not a timestamp, naming the field', async () => {
    const call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    const meter = await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    const bad = await call('POST', '/api/trpc/meters.update', { id: meter.id, expected_updated_at: 'yesterday', patch: { display_name: 'x' } });
    expect(bad.status, bad.text).toBe(422);
    expect(JSON.stringify(bad.json.error.data.problem.errors)).toContain('expected_updated_at');
    expect((await call('GET', `/api/usage/meters/${meter.id}`)).json.display_name).toBe('Calls');
  });
});
