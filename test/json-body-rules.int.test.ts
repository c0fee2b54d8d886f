import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBLEM_BASE } from '../server/errors.js';
import { useTestDatabase } from './harness/db.js';
import { ownerSql, tenantDigest } from './harness/digest.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/*
 * How a JSON body's text is read, beyond JSON.parse. A JSON object that names a key twice ({"user_id":"alice","user_id":"bob"}) is ambiguous:
 * JSON.parse keeps the last value, another reader of the same bytes may keep the first. Every
 * way in refuses it with 422 naming the key, and records nothing — not even the valid events
 * of the same batch. A body declared in a charset other than UTF-8 gets 415.
 */

const { url } = await useTestDatabase();
const sql = ownerSql(url);
let server: TestServer;
let call: ReturnType<typeof api>;
let digestBefore: Record<string, string>;
let apiKey: string;

beforeAll(async () => {
  server = await startTestServer(url);
  ({ apiKey } = await createCreatorWithKey(server.rt));
  call = api(server.url, apiKey);
  await createMeter(call, { event_name: 'api_calls', display_name: 'API calls', unit_name: 'calls', aggregation_type: 'count' });
  expect((await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'known', value: 1 })).status).toBe(201);
  digestBefore = await tenantDigest(sql);
});
afterAll(async () => {
  await sql.end();
  await server.close();
});

type Reply = Awaited<ReturnType<typeof call>>;

function expectRefused(reply: Reply, fields: string[]) {
  expect(reply.status, reply.text.slice(0, 400)).toBe(422);
  expect(reply.headers.get('content-type')).toBe('application/problem+json');
  expect(reply.json).toMatchObject({ type: `${PROBLEM_BASE}validation-failed`, status: 422 });
  expect((reply.json.errors as Array<{ field: string }>).map((e) => e.field)).toEqual(fields);
  for (const error of reply.json.errors as Array<{ message: string }>) expect(error.message).toMatch(/appears twice/);
}

/** A tRPC answer's problem (single call, or each call of a batch). */
const trpcFields = (error: any) => ((error?.data?.problem?.errors ?? []) as Array<{ field: string }>).map((e) => e.field);

describe('a key written twice in one object', () => {
  it('POST /api/usage/track, one event: 422 naming user_id, nothing recorded (JSON.parse alone would record bob)', async () => {
    expectRefused(await call('POST', '/api/usage/track', '{"event_name":"api_calls","user_id":"alice","value":1,"user_id":"bob"}'), ['user_id']);
  });
  it('POST /api/usage/track, inside properties', async () => {
    expectRefused(await call('POST', '/api/usage/track', '{"event_name":"api_calls","user_id":"alice","properties":{"model":"a","model":"b"}}'), ['properties.model']);
  });
  it('POST /api/usage/track, a batch: the whole request is refused, its valid events with it', async () => {
    const reply = await call('POST', '/api/usage/track', '[{"event_name":"api_calls","user_id":"alice"},{"event_name":"api_calls","user_id":"carol","value":1,"value":5}]');
    expectRefused(reply, ['[1].value']);
  });
  it('POST /api/usage/meters and PATCH /api/usage/meters/{id}', async () => {
    const create = await call('POST', '/api/usage/meters', '{"event_name":"storage","display_name":"S","unit_name":"GB","aggregation_type":"sum","aggregation_type":"max"}');
    expectRefused(create, ['aggregation_type']);
    const meters = await call('GET', '/api/usage/meters');
    const id = (meters.json.meters ?? meters.json.data ?? meters.json)[0].id as string;
    expectRefused(await call('PATCH', `/api/usage/meters/${id}`, '{"plan_limits":[{"plan_name":"free","limit_value":10,"hard_cap":true,"hard_cap":false}]}'), ['plan_limits[0].hard_cap']);
  });
  it('GET /api/usage/check with properties naming a key twice', async () => {
    const properties = encodeURIComponent('{"seat":"a","seat":"b"}');
    expectRefused(await call('GET', `/api/usage/check?user_id=alice&event_name=api_calls&properties=${properties}`), ['properties.seat']);
  });
  it('tRPC: usage.track and a batch=1 body, and a query input', async () => {
    const single = await call('POST', '/api/trpc/usage.track', '{"event_name":"api_calls","user_id":"alice","user_id":"bob"}');
    expect(single.status, single.text).toBe(422);
    expect(trpcFields(single.json.error)).toEqual(['user_id']);
    const batch = await call('POST', '/api/trpc/usage.track,usage.track?batch=1', '{"0":{"event_name":"api_calls","user_id":"dave"},"1":{"event_name":"api_calls","user_id":"erin","user_id":"frank"}}');
    expect(Array.isArray(batch.json), batch.text).toBe(true);
    for (const answer of batch.json as any[]) expect(trpcFields(answer.error)).toEqual(['1.user_id']);
    const query = await call('GET', `/api/trpc/usage.check?input=${encodeURIComponent('{"user_id":"alice","event_name":"api_calls","event_name":"other"}')}`);
    expect(query.status, query.text).toBe(422);
    expect(trpcFields(query.json.error)).toEqual(['event_name']);
  });
  it('nothing was recorded or changed by any of them', async () => {
    expect(await tenantDigest(sql)).toEqual(digestBefore);
  });
});

describe('the charset a JSON body is declared in', () => {
  const track = (contentType: string, userId: string, path = '/api/usage/track') =>
    fetch(server.url + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': contentType },
      body: JSON.stringify({ event_name: 'api_calls', user_id: userId, value: 1 }),
    });
  it('UTF-8 in any spelling, or none, is taken (a trailing ";" too)', async () => {
    for (const [i, type] of ['application/json; charset=UTF-8', 'application/json;charset="utf8"', 'application/json; charset=utf-8;', 'application/json; version=2'].entries()) {
      const reply = await track(type, `charset-ok-${i}`);
      expect(reply.status, `${type}: ${await reply.clone().text()}`).toBe(201);
    }
  });
  it('another charset is refused with 415 naming it, on REST and tRPC, and nothing is recorded', async () => {
    const before = await tenantDigest(sql);
    const rest = await track('application/json; charset=latin1', 'charset-latin1');
    expect(rest.status).toBe(415);
    expect(rest.headers.get('content-type')).toBe('application/problem+json');
    expect(((await rest.json()) as { detail: string }).detail).toMatch(/charset "latin1"/);
    const trpc = await track('application/json; charset=windows-1252', 'charset-1252', '/api/trpc/usage.track');
    expect(trpc.status).toBe(415);
    expect(JSON.stringify(await trpc.json())).toMatch(/charset \\"windows-1252\\"/);
    expect(await tenantDigest(sql)).toEqual(before);
  });
});
