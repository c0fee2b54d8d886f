import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/**
 * A missing or mistyped field is named with what it should be, in words a developer reads at a
 * glance — not zod's "Invalid input: expected string, received undefined" — over REST and tRPC.
 */
const { url } = await useTestDatabase();
const server = useTestServer(url);

describe('problem JSON for missing and mistyped fields', () => {
  it('says "is required" for a missing field and "must be …, not …" for a wrong type, and records nothing', async () => {
    const { apiKey } = await createCreatorWithKey(server().rt);
    const call = api(server().url, apiKey);
    const created = await call('POST', '/api/usage/meters', { event_name: 'calls', aggregation_type: 'count', unit_name: 42, plan_limits: 'free' });
    expect(created.status, created.text).toBe(422);
    expect(created.json.errors).toEqual(
      expect.arrayContaining([
        { field: 'display_name', message: 'is required' },
        { field: 'unit_name', message: 'must be a string, not a number' },
        { field: 'plan_limits', message: 'must be an array of plan limits' },
      ]),
    );
    expect(JSON.stringify(created.json)).not.toMatch(/Invalid input|received undefined/);
    expect((await call('GET', '/api/usage/meters')).json.meters).toEqual([]);

    const tracked = await call('POST', '/api/usage/track', { user_id: 'u', value: 1 });
    expect(tracked.status, tracked.text).toBe(422);
    expect(tracked.json.errors).toEqual([{ field: 'event_name', message: 'is required' }]);

    const viaTrpc = await call('POST', '/api/trpc/meters.create', { event_name: 'calls', aggregation_type: 'count', unit_name: 'calls' });
    expect(viaTrpc.status, viaTrpc.text).toBe(422);
    expect(JSON.stringify(viaTrpc.json)).toContain('is required');
    expect(JSON.stringify(viaTrpc.json)).not.toMatch(/Invalid input/);
  });

  it('a missing field with a list of values (aggregation_type) "is required" too, over REST and tRPC — not "Invalid option: expected one of …", as if a wrong one had been sent', async () => {
    const { apiKey } = await createCreatorWithKey(server().rt);
    const call = api(server().url, apiKey);
    const created = await call('POST', '/api/usage/meters', { event_name: 'x1', display_name: 'X', unit_name: 'calls' });
    expect(created.status, created.text).toBe(422);
    expect(created.json.errors).toEqual([{ field: 'aggregation_type', message: 'is required' }]);
    const viaTrpc = await call('POST', '/api/trpc/meters.create', { event_name: 'x1', display_name: 'X', unit_name: 'calls' });
    expect(viaTrpc.status, viaTrpc.text).toBe(422);
    expect(JSON.stringify(viaTrpc.json)).toContain('"field":"aggregation_type","message":"is required"');
    // A wrong value is still named by the values it may take.
    const wrong = await call('POST', '/api/usage/meters', { event_name: 'x1', display_name: 'X', unit_name: 'calls', aggregation_type: 'avg' });
    expect(wrong.json.errors).toEqual([{ field: 'aggregation_type', message: expect.stringMatching(/count.*sum.*max.*unique.*duration/) }]);
    expect((await call('GET', '/api/usage/meters')).json.meters).toEqual([]);
  });
});
