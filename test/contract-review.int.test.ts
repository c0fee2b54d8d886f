import http from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { applyRollupJobs } from './harness/rollups.js';
import { useTestServer } from './harness/server.js';

/*
 * A review of the public HTTP API against DESIGN.md and README's "HTTP API", as a creator's
 * developer meets it: each case failed on the code before its fix.
 */

const { url } = await useTestDatabase();
const server = useTestServer(url);
let apiKey: string;
let creatorId: string;
let call: ReturnType<typeof api>;

beforeAll(async () => {
  let creator;
  ({ apiKey, creator } = await createCreatorWithKey(server().rt));
  creatorId = creator.id;
  call = api(server().url, apiKey);
  await createMeter(call, { event_name: 'api_calls', display_name: 'API calls', aggregation_type: 'count', unit_name: 'calls', billing_model: 'metered' });
});

const usedBy = async (userId: string) => {
  const check = await call('GET', `/api/usage/check?user_id=${encodeURIComponent(userId)}&event_name=api_calls`);
  expect(check.status, check.text).toBe(200);
  return check.json.used as string;
};

/** A POST over node:http, whose array header values go out as one field line each (fetch would join them into one). */
function postWithHeaders(path: string, body: string, headers: Record<string, string | string[]>): Promise<{ status: number; json: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const request = http.request(server().url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}`, ...headers } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, json: JSON.parse(text) as Record<string, any> }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

describe('POST /api/usage/track: the Idempotency-Key header "does the same" as idempotency_key (DESIGN)', () => {
  it('a key of non-ASCII characters in the header is refused (422 naming Idempotency-Key), not read as another key than the same key in the body and counted twice', async () => {
    const key = 'заказ-1';
    // What a client sends: the key's UTF-8 bytes (a header value is a byte string; fetch takes one as Latin-1 characters).
    const asHeaderBytes = Buffer.from(key, 'utf8').toString('latin1');
    const event = { event_name: 'api_calls', user_id: 'idem-utf8' };

    const viaHeader = await call('POST', '/api/usage/track', event, { 'idempotency-key': asHeaderBytes });
    expect(viaHeader.status, viaHeader.text).toBe(422);
    expect(viaHeader.headers.get('content-type')).toBe('application/problem+json');
    expect(viaHeader.json.errors).toEqual([{ field: 'Idempotency-Key', message: expect.stringContaining('ASCII') }]);

    const viaBody = await call('POST', '/api/usage/track', { ...event, idempotency_key: key });
    expect(viaBody.status, viaBody.text).toBe(201);
    const retried = await call('POST', '/api/usage/track', { ...event, idempotency_key: key });
    expect(retried.status, retried.text).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    // Counted once: the refused header request recorded nothing.
    expect(await usedBy('idem-utf8')).toBe('1');
  });

  it('the header given twice is refused (422), not read as the two keys joined ("a, b") and recorded under a key no retry sends', async () => {
    const event = JSON.stringify({ event_name: 'api_calls', user_id: 'idem-twice' });
    const twice = await postWithHeaders('/api/usage/track', event, { 'idempotency-key': ['twice-a', 'twice-b'] });
    expect(twice.status).toBe(422);
    expect(twice.json.errors).toEqual([{ field: 'Idempotency-Key', message: 'is given more than once; give it once' }]);
    expect(await usedBy('idem-twice')).toBe('0');

    // Once, an ASCII key is taken as before, and a retry is a replay.
    const once = await postWithHeaders('/api/usage/track', event, { 'idempotency-key': 'twice-a' });
    expect(once.status).toBe(201);
    const again = await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'idem-twice', idempotency_key: 'twice-a' });
    expect(again.status, again.text).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await usedBy('idem-twice')).toBe('1');
  });
});

describe('README "Errors": "a query parameter given twice is one: which value was meant would be a guess" (422)', () => {
  it('GET /api/usage/meters?include_archived=true&include_archived=false → 422 naming include_archived, not the first value taken', async () => {
    const archived = await createMeter(call, { event_name: 'old_calls', display_name: 'Old', aggregation_type: 'count', unit_name: 'calls' });
    expect((await call('DELETE', `/api/usage/meters/${archived.id}`)).status).toBe(200);

    const twice = await call('GET', '/api/usage/meters?include_archived=true&include_archived=false');
    expect(twice.status, twice.text).toBe(422);
    expect(twice.json.errors).toEqual([{ field: 'include_archived', message: 'is given more than once; give it once' }]);

    const once = await call('GET', '/api/usage/meters?include_archived=true');
    expect(once.status).toBe(200);
    expect(once.json.meters.map((m: { event_name: string }) => m.event_name)).toContain('old_calls');
  });
});

describe('a trailing slash names the same endpoint, as on every REST route', () => {
  it('/api/usage/track/ answers the browser SDK’s preflight and carries CORS headers, as /api/usage/track does', async () => {
    const preflight = await fetch(`${server().url}/api/usage/track/`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.creator.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');

    const tracked = await call('POST', '/api/usage/track/', { event_name: 'api_calls', user_id: 'slash' }, { origin: 'https://app.creator.example' });
    expect(tracked.status, tracked.text).toBe(201);
    expect(tracked.headers.get('access-control-allow-origin')).toBe('*');
    const checked = await call('GET', '/api/usage/check/?user_id=slash&event_name=api_calls', undefined, { origin: 'https://app.creator.example' });
    expect(checked.status, checked.text).toBe(200);
    expect(checked.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('GET /api/health/ and /api/openapi.json/ answer as without the slash, not 404 (a load balancer would take the 404 for "down")', async () => {
    const health = await fetch(`${server().url}/api/health/`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const openapi = await fetch(`${server().url}/api/openapi.json/`);
    expect(openapi.status).toBe(200);
    expect(((await openapi.json()) as { openapi: string }).openapi).toMatch(/^3\.1/);
  });
});

describe('DESIGN: "reports … forecasts … have REST routes of the same style under /api/usage/…" — for services in any other language', () => {
  it('GET /api/usage/customers/{user_id} answers the customer with its usage per meter (it answered 405 "use PUT"); another creator gets 404', async () => {
    expect((await call('PUT', '/api/usage/customers/rest-cust', { email: 'rest@example.com' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'rest-cust', properties: { endpoint: '/a' } })).status).toBe(201);

    const got = await call('GET', '/api/usage/customers/rest-cust');
    expect(got.status, got.text).toBe(200);
    expect(got.json.customer).toMatchObject({ user_id: 'rest-cust', email: 'rest@example.com' });
    expect(got.json.meters).toContainEqual(expect.objectContaining({ event_name: 'api_calls', used: '1', event_count: 1 }));

    const other = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    const foreign = await other('GET', '/api/usage/customers/rest-cust');
    expect(foreign.status).toBe(404);
    expect(foreign.json.type).toBe('https://staryer.dev/problems/not-found');
    expect((await call('GET', '/api/usage/customers/nobody-at-all')).status).toBe(404);
  });

  it('GET /api/usage/customers/{user_id}/events lists its events newest first, by pages; bad filters are 422 naming them', async () => {
    for (const endpoint of ['/1', '/2', '/3']) {
      expect((await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'rest-events', properties: { endpoint } })).status).toBe(201);
    }
    const first = await call('GET', '/api/usage/customers/rest-events/events?limit=2');
    expect(first.status, first.text).toBe(200);
    expect(first.json.events.map((e: { properties: { endpoint: string } }) => e.properties.endpoint)).toEqual(['/3', '/2']);
    const rest = await call('GET', `/api/usage/customers/rest-events/events?limit=2&cursor=${first.json.next_cursor}`);
    expect(rest.json.events.map((e: { properties: { endpoint: string } }) => e.properties.endpoint)).toEqual(['/1']);
    expect(rest.json.next_cursor).toBeNull();
    const filtered = await call('GET', '/api/usage/customers/rest-events/events?property_key=endpoint&property_value=%2F2');
    expect(filtered.json.events).toHaveLength(1);

    const bad = await call('GET', '/api/usage/customers/rest-events/events?limit=0&bogus=1&user_id=other');
    expect(bad.status).toBe(422);
    expect(bad.json.errors.map((e: { field: string }) => e.field).sort()).toEqual(['user_id']);
    const badLimit = await call('GET', '/api/usage/customers/rest-events/events?limit=0&bogus=1');
    expect(badLimit.status).toBe(422);
    expect(badLimit.json.errors.map((e: { field: string }) => e.field).sort()).toEqual(['bogus', 'limit']);
  });

  it('GET /api/usage/reports/top-customers and /api/usage/forecasts/revenue answer the dashboard’s Top users and revenue projection; a track key gets 403', async () => {
    const meters = await call('GET', '/api/usage/meters');
    const meterId = meters.json.meters.find((m: { event_name: string }) => m.event_name === 'api_calls').id as string;
    const top = await call('GET', `/api/usage/reports/top-customers?meter_id=${meterId}&limit=1`);
    expect(top.status, top.text).toBe(200);
    expect(top.json.customers).toHaveLength(1);
    expect(top.json.customers[0]).toMatchObject({ user_id: 'rest-events', used: '3' });
    expect(top.json.next_cursor).not.toBeNull();
    const stranger = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    // Another creator's meter is answered as one that does not exist (as customers.top does over tRPC, and the trends report): 404.
    const foreignMeter = await stranger('GET', `/api/usage/reports/top-customers?meter_id=${meterId}`);
    expect(foreignMeter.status).toBe(404);
    expect(foreignMeter.json).toMatchObject({ status: 404, detail: 'Meter was not found.' });
    expect((await stranger('GET', '/api/usage/customers/rest-events/events')).status).toBe(404);
    const noMeter = await call('GET', '/api/usage/reports/top-customers');
    expect(noMeter.status).toBe(422);
    expect(noMeter.json.errors).toEqual([expect.objectContaining({ field: 'meter_id' })]);

    const revenue = await call('GET', '/api/usage/forecasts/revenue');
    expect(revenue.status, revenue.text).toBe(200);
    expect(revenue.json).toHaveProperty('totals');

    const track = api(server().url, (await createCreatorWithKey(server().rt, { scopes: ['track'] })).apiKey);
    const refused = await track('GET', '/api/usage/forecasts/revenue');
    expect(refused.status).toBe(403);
  });

  it('GET /api/usage/reports/trends answers the dashboard’s Trends of one meter (from the rollups), with compare=true|false from the query string', async () => {
    await applyRollupJobs(server().rt, creatorId);
    const meters = await call('GET', '/api/usage/meters');
    const meterId = meters.json.meters.find((m: { event_name: string }) => m.event_name === 'api_calls').id as string;
    const top = await call('GET', `/api/usage/reports/top-customers?meter_id=${meterId}&limit=100`);
    const used = top.json.customers.reduce((sum: number, c: { used: string }) => sum + Number(c.used), 0);
    expect(used).toBeGreaterThan(0);

    const from = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const trends = await call('GET', `/api/usage/reports/trends?meter_id=${meterId}&grain=hour&from=${from}&to=${to}&compare=true`);
    expect(trends.status, trends.text).toBe(200);
    expect(trends.json).toMatchObject({ meter_id: meterId, event_name: 'api_calls', grain: 'hour', total: String(used) });
    expect(trends.json.previous).not.toBeNull();

    const bad = await call('GET', `/api/usage/reports/trends?meter_id=${meterId}&from=${to}&to=${from}&compare=maybe`);
    expect(bad.status).toBe(422);
    expect(bad.json.errors).toEqual([expect.objectContaining({ field: 'compare' })]);
    const backwards = await call('GET', `/api/usage/reports/trends?meter_id=${meterId}&from=${to}&to=${from}`);
    expect(backwards.status).toBe(422);
    expect(backwards.json.errors).toEqual([{ field: 'to', message: 'must be after from' }]);
    // A bad from is named alone: the valid to is not said to be "before" it.
    for (const badFrom of ['x', '2026-02-30T00:00:00Z', '2026-11-01T00:00:00+25:00']) {
      const wrong = await call('GET', `/api/usage/reports/trends?meter_id=${meterId}&from=${encodeURIComponent(badFrom)}&to=${to}`);
      expect(wrong.status, badFrom).toBe(422);
      expect(wrong.json.errors.map((e: { field: string }) => e.field), badFrom).toEqual(['from']);
    }
    const other = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
    expect((await other('GET', `/api/usage/reports/trends?meter_id=${meterId}&from=${from}&to=${to}`)).status).toBe(404);
  });

  it('each of them is in the OpenAPI document, with its query parameters', async () => {
    const doc = (await (await fetch(`${server().url}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>> };
    expect(doc.paths['/api/usage/customers/{user_id}']?.get).toBeDefined();
    const events = doc.paths['/api/usage/customers/{user_id}/events']?.get;
    expect(events?.parameters?.filter((p) => p.in === 'query').map((p) => p.name)).toEqual(['meter_id', 'from', 'to', 'property_key', 'property_value', 'limit', 'cursor']);
    expect(doc.paths['/api/usage/reports/top-customers']?.get?.parameters?.map((p) => p.name)).toContain('meter_id');
    expect(doc.paths['/api/usage/forecasts/revenue']?.get).toBeDefined();
    expect(doc.paths['/api/usage/reports/trends']?.get?.parameters?.map((p) => p.name)).toEqual(['meter_id', 'grain', 'from', 'to', 'compare', 'breakdown', 'dimension']);
  });
});

describe('POST|PATCH /api/usage/webhooks: a URL no delivery can reach is refused', () => {
  it('a URL on port 0 → 422 naming url, and no endpoint is registered (it was 201, every delivery failing)', async () => {
    const refused = await call('POST', '/api/usage/webhooks', { url: 'https://hooks.example.com:0/staryer', events: ['usage.soft_limit_reached'] });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.json.errors).toEqual([{ field: 'url', message: expect.stringContaining('port 0') }]);
    expect((await call('GET', '/api/usage/webhooks')).json.webhooks).toEqual([]);

    const created = await call('POST', '/api/usage/webhooks', { url: 'https://hooks.example.com:8443/staryer', events: ['usage.soft_limit_reached'] });
    expect(created.status, created.text).toBe(201);
    const moved = await call('PATCH', `/api/usage/webhooks/${created.json.id}`, { url: 'https://hooks.example.com:0/staryer' });
    expect(moved.status, moved.text).toBe(422);
    expect((await call('GET', `/api/usage/webhooks/${created.json.id}`)).json.url).toBe('https://hooks.example.com:8443/staryer');
  });

  it('a port past 65535 → 422 naming the port (it said only "must be an absolute http or https URL")', async () => {
    const refused = await call('POST', '/api/usage/webhooks', { url: 'https://hooks.example.com:99999/staryer', events: ['usage.soft_limit_reached'] });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.json.errors).toEqual([{ field: 'url', message: 'must use a port from 1 to 65535, not 99999' }]);
  });

  it('events given as a string → 422 saying it must be an array, and nothing else (it also said "too many event types")', async () => {
    const refused = await call('POST', '/api/usage/webhooks', { url: 'https://hooks.example.com/staryer', events: 'usage.soft_limit_reached' });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.json.errors).toEqual([{ field: 'events', message: 'must be an array of event types' }]);
    // Any schema's size checks: a 101-character string for plan_limits (at most 100) is named once, for its type.
    const meter = await call('POST', '/api/usage/meters', { event_name: 'sized', display_name: 'S', aggregation_type: 'count', unit_name: 'x', plan_limits: 'p'.repeat(101) });
    expect(meter.status, meter.text).toBe(422);
    expect(meter.json.errors).toEqual([{ field: 'plan_limits', message: 'must be an array of plan limits' }]);
  });
});
