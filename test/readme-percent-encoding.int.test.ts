/**
 * README "Errors" on percent-encoding, against the server: a path `%` sequence that does not
 * decode is 400 malformed-path; a query's `%` bytes that are not UTF-8 are 400 malformed-query;
 * a query `%` not followed by two hex digits is the character itself (form encoding).
 */
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

const { url } = await useTestDatabase();
const testServer = useTestServer(url);

describe('README "Errors": percent-encoding', () => {
  it('path %ZZ → 400 malformed-path; query %FF → 400 malformed-query; query %ZZ is the customer "%ZZ"', async () => {
    const server = testServer();
    const { apiKey } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    await createMeter(call, { event_name: 'api_calls', display_name: 'API Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'free', limit_value: 5, hard_cap: true }] });

    const path = await call('GET', '/api/usage/%ZZ');
    expect(path.status, path.text).toBe(400);
    expect(path.json.type).toBe('https://staryer.dev/problems/malformed-path');

    const bytes = await call('GET', '/api/usage/check?user_id=%FF&event_name=api_calls');
    expect(bytes.status, bytes.text).toBe(400);
    expect(bytes.json.type).toBe('https://staryer.dev/problems/malformed-query');

    // The customer "%ZZ" exists on the free plan: the check is about that customer.
    expect((await call('PUT', `/api/usage/customers/${encodeURIComponent('%ZZ')}`, { plan_name: 'free' })).status).toBe(201);
    const literal = await call('GET', '/api/usage/check?user_id=%ZZ&event_name=api_calls');
    expect(literal.status, literal.text).toBe(200);
    expect(literal.json).toMatchObject({ allowed: true, limit: '5', remaining: '5' });
  });
});
