import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/*
 * A query parameter a route does not take is refused (422 naming it), not ignored: a misspelt
 * one (`?perod=previous`, `?valeu=500`) was answered as if it had not been sent — a question
 * the client did not ask, answered as if right. Each case failed before the fix.
 */

const { url } = await useTestDatabase();
const server = useTestServer(url);
let call: ReturnType<typeof api>;
let other: ReturnType<typeof api>;
let meterId: string;
let othersMeterId: string;

beforeAll(async () => {
  const a = await createCreatorWithKey(server().rt);
  const b = await createCreatorWithKey(server().rt);
  call = api(server().url, a.apiKey);
  other = api(server().url, b.apiKey);
  const meter = await createMeter(call, {
    event_name: 'api_calls',
    display_name: 'API calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    billing_model: 'metered',
    plan_limits: [{ plan_name: 'free', limit_value: 10, hard_cap: true }],
  });
  meterId = meter.id;
  othersMeterId = (await createMeter(other, { event_name: 'api_calls', display_name: 'Theirs', aggregation_type: 'count', unit_name: 'calls', billing_model: 'metered' })).id;
  expect((await call('PUT', '/api/usage/customers/u1', { plan_name: 'free' })).status).toBe(201);
  await createMeter(call, {
    event_name: 'tokens',
    display_name: 'Tokens',
    aggregation_type: 'sum',
    unit_name: 'tokens',
    billing_model: 'metered',
    plan_limits: [{ plan_name: 'free', limit_value: 10, hard_cap: true }],
  });
  expect((await call('POST', '/api/usage/track', { event_name: 'tokens', user_id: 'u1', value: 4 })).status).toBe(201);
  for (let i = 0; i < 4; i++) expect((await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'u1' })).status).toBe(201);
});

const expectUnknown = (answer: { status: number; text: string; json: any; headers: Headers }, field: string, message = 'is not a known field') => {
  expect(answer.status, answer.text).toBe(422);
  expect(answer.headers.get('content-type')).toBe('application/problem+json');
  expect(answer.json.errors).toEqual([{ field, message }]);
};
const NONE = 'is not a known query parameter: this route takes none';
const PATH_CUSTOMER = 'is not a known query parameter: the customer is named by the path';

describe('query parameters a route does not take', () => {
  it('GET /api/usage/check: a misspelt value (valeu=7) is refused, not checked as value 1 (allowed: true for 7 more tokens under a limit of 10 with 4 used would be wrong)', async () => {
    const misspelt = await call('GET', '/api/usage/check?user_id=u1&event_name=tokens&valeu=7');
    expectUnknown(misspelt, 'valeu');
    const asked = await call('GET', '/api/usage/check?user_id=u1&event_name=tokens&value=7');
    expect(asked.status, asked.text).toBe(200);
    expect(asked.json).toMatchObject({ allowed: false, used: '4', limit: '10', remaining: '6' });
  });

  it('GET /api/usage/customers/{user_id}/usage: perod=previous is refused, not answered with the current period', async () => {
    expectUnknown(await call('GET', '/api/usage/customers/u1/usage?perod=previous'), 'perod');
    const previous = await call('GET', '/api/usage/customers/u1/usage?period=previous');
    expect(previous.status, previous.text).toBe(200);
    expect(previous.json.meters.map((m: { used: string }) => m.used)).toEqual(['0', '0']);
    const current = await call('GET', '/api/usage/customers/u1/usage');
    expect(current.json.meters.map((m: { used: string }) => m.used)).toEqual(['4', '4']);
  });

  it('a user_id in the query of a route whose path names the customer is refused', async () => {
    expectUnknown(await call('GET', '/api/usage/customers/u1/usage?user_id=u2'), 'user_id', PATH_CUSTOMER);
    expectUnknown(await call('GET', '/api/usage/customers/u1/events?user_id=u2'), 'user_id', PATH_CUSTOMER);
    const filtered = await call('GET', `/api/usage/customers/u1/events?meter_id=${meterId}&limit=2`);
    expect(filtered.status, filtered.text).toBe(200);
    expect(filtered.json.events).toHaveLength(2);
  });

  it('a route that takes no query parameters refuses any, naming each; one that takes some refuses the others', async () => {
    const answer = await call('GET', `/api/usage/meters/${meterId}?expand=limits&x=1`);
    expect(answer.status, answer.text).toBe(422);
    expect(answer.json.errors).toEqual([
      { field: 'expand', message: NONE },
      { field: 'x', message: NONE },
    ]);
    expectUnknown(await call('GET', '/api/usage/meters?include_archivd=true'), 'include_archivd');
    expect((await call('GET', '/api/usage/meters?include_archived=true')).status).toBe(200);
  });

  it('POST /api/usage/track with a query parameter records nothing', async () => {
    expectUnknown(await call('POST', '/api/usage/track?dry_run=true', { event_name: 'api_calls', user_id: 'u1' }), 'dry_run', NONE);
    const check = await call('GET', '/api/usage/check?user_id=u1&event_name=api_calls');
    expect(check.json.used).toBe('4');
  });

  it('a browser token\'s check is held to the same rule', async () => {
    const minted = await call('POST', '/api/usage/tokens', { user_id: 'u1' });
    expect(minted.status, minted.text).toBe(201);
    const browser = api(server().url, minted.json.token);
    expectUnknown(await browser('GET', '/api/usage/check?user_id=u1&event_name=api_calls&amount=3'), 'amount');
    expect((await browser('GET', '/api/usage/check?user_id=u1&event_name=api_calls')).status).toBe(200);
  });
});

describe('GET /api/usage/reports/top-customers names its meter like the trends report', () => {
  it('another creator\'s meter is not found (404), as on /api/usage/reports/trends, and is not ranked', async () => {
    const top = await call('GET', `/api/usage/reports/top-customers?meter_id=${othersMeterId}`);
    expect(top.status, top.text).toBe(404);
    expect(top.json.type).toMatch(/not-found$/);
    const range = `from=${new Date(Date.now() - 86_400_000).toISOString()}&to=${new Date().toISOString()}`;
    const trends = await call('GET', `/api/usage/reports/trends?meter_id=${othersMeterId}&${range}`);
    expect(trends.status, trends.text).toBe(404);
    const none = await call('GET', '/api/usage/reports/top-customers?meter_id=00000000-0000-4000-8000-000000000000');
    expect(none.status, none.text).toBe(404);
    const own = await call('GET', `/api/usage/reports/top-customers?meter_id=${meterId}`);
    expect(own.status, own.text).toBe(200);
    expect(own.json.customers.map((c: { user_id: string }) => c.user_id)).toEqual(['u1']);
  });
});
