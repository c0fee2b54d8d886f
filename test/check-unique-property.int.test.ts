import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageTracker, createUsageClient } from '../sdk/src/index';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/*
 * The check of a unique meter counting a property (seats: distinct `seat`): at the cap, an
 * event bringing a seat already counted is taken, a new one refused — but the check could not
 * say which, it assumed a new seat. An app gating on it refused every returning member of a
 * full team. The check now takes the `properties` the event would carry and answers for them
 * exactly as track judges; without them it still assumes a new value.
 */

const { url } = await useTestDatabase();
const server = useTestServer(url);
let call: ReturnType<typeof api>;
let apiKey: string;
let creatorId: string;
const trackers: UsageTracker[] = [];

beforeAll(async () => {
  const creator = await createCreatorWithKey(server().rt);
  apiKey = creator.apiKey;
  creatorId = creator.creator.id;
  call = api(server().url, apiKey);
  await createMeter(call, {
    event_name: 'seats',
    display_name: 'Seats',
    aggregation_type: 'unique',
    unique_property: 'seat',
    unit_name: 'seats',
    billing_model: 'metered',
    plan_limits: [{ plan_name: 'team', limit_value: 2, hard_cap: true }],
  });
  expect((await call('PUT', '/api/usage/customers/acme', { plan_name: 'team' })).status).toBe(201);
  for (const seat of ['ada', 'bob']) expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'acme', properties: { seat } })).status).toBe(201);
});

afterAll(async () => {
  await Promise.all(trackers.map((t) => t.shutdown()));
});

const check = (properties?: unknown) =>
  call('GET', `/api/usage/check?user_id=acme&event_name=seats${properties === undefined ? '' : `&properties=${encodeURIComponent(typeof properties === 'string' ? properties : JSON.stringify(properties))}`}`);

describe('GET /api/usage/check with the event’s properties, at a cap of 2 seats with ada and bob counted', () => {
  it('a seat already counted is allowed, and track takes it; a new seat is refused, and track refuses it (402)', async () => {
    const returning = await check({ seat: 'ada' });
    expect(returning.status, returning.text).toBe(200);
    expect(returning.json).toMatchObject({ allowed: true, used: '2', limit: '2', remaining: '0', hard_cap: true });
    expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'acme', properties: { seat: 'ada', page: 'home' } })).status).toBe(201);

    const newcomer = await check({ seat: 'cyd' });
    expect(newcomer.json).toMatchObject({ allowed: false, used: '2' });
    expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'acme', properties: { seat: 'cyd' } })).status).toBe(402);
  });

  it('without properties: the worst case, as before (a new seat)', async () => {
    expect((await check()).json).toMatchObject({ allowed: false, used: '2' });
  });

  it('values are told apart by their JSON, as track tells them: 1 is not "1"', async () => {
    expect((await check({ seat: 1 })).json.allowed).toBe(false);
    expect((await check({ seat: 'bob' })).json.allowed).toBe(true);
  });

  it('bad properties: 422 naming the field, as track would answer', async () => {
    const missing = await check({ Seat: 'ada' });
    expect(missing.status, missing.text).toBe(422);
    expect(missing.json.errors).toEqual([{ field: 'properties.seat', message: 'is required: meter "seats" counts its distinct values' }]);
    const nulled = await check({ seat: null });
    expect(nulled.json.errors).toEqual([{ field: 'properties.seat', message: 'must not be null: meter "seats" counts its distinct values' }]);
    const notJson = await check('{seat:ada}');
    expect(notJson.status).toBe(422);
    expect(notJson.json.errors).toEqual([{ field: 'properties', message: 'must be the JSON text of an object, URL-encoded (as an event’s properties)' }]);
    const trailing = await check('{"seat":"ada"} {}');
    expect(trailing.json.errors).toEqual([{ field: 'properties', message: 'must be the JSON text of an object, URL-encoded (as an event’s properties)' }]);
    const array = await check(['ada']);
    expect(array.json.errors).toEqual([{ field: 'properties', message: 'must be a JSON object' }]);
    // An integer a double would round is refused, not rounded into another seat.
    const unsafe = await check('{"seat":9007199254740993}');
    expect(unsafe.status, unsafe.text).toBe(422);
    expect(unsafe.json.errors[0].field).toMatch(/^properties/);
    // The rules of an event's properties: no prototype keys, no NUL, at most 8 KB.
    for (const hostile of ['{"seat":"ada","__proto__":{"admin":true}}', '{"seat":"a\\u0000b"}', JSON.stringify({ seat: 'ada', pad: 'x'.repeat(9000) })]) {
      const refused = await check(hostile);
      expect(refused.status, `${hostile.slice(0, 60)}: ${refused.text}`).toBe(422);
      expect(refused.json.errors[0].field).toBe('properties');
    }
    const twice = await call('GET', `/api/usage/check?user_id=acme&event_name=seats&properties=${encodeURIComponent('{"seat":"ada"}')}&properties=${encodeURIComponent('{"seat":"cyd"}')}`);
    expect(twice.json.errors).toEqual([{ field: 'properties', message: 'is given more than once; give it once' }]);
  });

  it('over tRPC, the properties object as is', async () => {
    const input = encodeURIComponent(JSON.stringify({ user_id: 'acme', event_name: 'seats', properties: { seat: 'bob' } }));
    const answer = await call('GET', `/api/trpc/usage.check?input=${input}`);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json.result.data).toMatchObject({ allowed: true, used: '2' });
  });

  it('the SDK: createUsageClient(…).checkUsage and the tracker’s checkUsage take properties', async () => {
    const client = createUsageClient({ baseURL: server().url, apiKey });
    expect(await client.checkUsage({ userId: 'acme', eventName: 'seats', properties: { seat: 'ada' } })).toMatchObject({ allowed: true });
    expect(await client.checkUsage({ userId: 'acme', eventName: 'seats', properties: { seat: 'dan' } })).toMatchObject({ allowed: false });
    const tracker = new UsageTracker({ creatorId, baseURL: server().url, apiKey });
    trackers.push(tracker);
    expect(await tracker.checkUsage({ userId: 'acme', eventName: 'seats', properties: { seat: 'bob' } })).toMatchObject({ allowed: true });
    await expect(tracker.checkUsage({ userId: 'acme', eventName: 'seats', properties: { member: 'bob' } })).rejects.toMatchObject({ status: 422 });
  });
});
