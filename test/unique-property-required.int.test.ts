import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/*
 * A unique meter counting distinct values of a property (`unique_property: "seat"`): an event
 * without that property, or with it null, counts nothing. It was accepted (201) and stored,
 * the customer's usage unchanged — a client's mistake (a misspelt property, a missing field)
 * that passed unseen. It is refused (422 naming `properties.seat`) and records nothing.
 */

const { url } = await useTestDatabase();
const server = useTestServer(url);
let call: ReturnType<typeof api>;

beforeAll(async () => {
  call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
  await createMeter(call, {
    event_name: 'seats',
    display_name: 'Seats',
    aggregation_type: 'unique',
    unique_property: 'seat',
    unit_name: 'seats',
    billing_model: 'metered',
    plan_limits: [{ plan_name: 'team', limit_value: 5, hard_cap: true }],
  });
  // Distinct values of the event's value: no property needed.
  await createMeter(call, { event_name: 'regions', display_name: 'Regions', aggregation_type: 'unique', unit_name: 'regions', billing_model: 'metered' });
});

const usedBy = async (userId: string, eventName: string) => (await call('GET', `/api/usage/check?user_id=${userId}&event_name=${eventName}`)).json.used as string;
const eventsOf = async (userId: string) => {
  const answer = await call('GET', `/api/usage/customers/${userId}/events`);
  return answer.status === 404 ? [] : (answer.json.events as Array<{ properties: Record<string, unknown> }>);
};

describe('an event of a property-keyed unique meter must carry the property', () => {
  it('without it: 422 naming properties.seat, nothing recorded, no customer made', async () => {
    const answer = await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'acme', properties: { Seat: 'ada' } });
    expect(answer.status, answer.text).toBe(422);
    expect(answer.headers.get('content-type')).toBe('application/problem+json');
    expect(answer.json).toMatchObject({ type: 'https://staryer.dev/problems/validation-failed', errors: [{ field: 'properties.seat', message: 'is required: meter "seats" counts its distinct values' }] });
    expect(await eventsOf('acme')).toEqual([]);
    expect((await call('GET', '/api/usage/customers/acme')).status).toBe(404);
  });

  it('null: 422 saying it must not be null', async () => {
    const answer = await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'acme', properties: { seat: null } });
    expect(answer.status, answer.text).toBe(422);
    expect(answer.json.errors).toEqual([{ field: 'properties.seat', message: 'must not be null: meter "seats" counts its distinct values' }]);
  });

  it('in a batch, that event alone is refused; the key it carried stays free for the corrected event', async () => {
    const batch = await call('POST', '/api/usage/track', [
      { event_name: 'seats', user_id: 'globex', properties: { seat: 'ada' }, idempotency_key: 'g-1' },
      { event_name: 'seats', user_id: 'globex', properties: {}, idempotency_key: 'g-2' },
      { event_name: 'seats', user_id: 'globex', properties: { seat: '' }, idempotency_key: 'g-3' },
      { event_name: 'regions', user_id: 'globex', value: 3 },
    ]);
    expect(batch.status, batch.text).toBe(200);
    expect(batch.json.results.map((r: { status: number }) => r.status)).toEqual([201, 422, 201, 201]);
    expect(batch.json.results[1].error.errors).toEqual([{ field: 'properties.seat', message: 'is required: meter "seats" counts its distinct values' }]);
    // An empty string is a value like any other: two distinct seats.
    expect(await usedBy('globex', 'seats')).toBe('2');
    expect(await usedBy('globex', 'regions')).toBe('1');
    expect((await eventsOf('globex')).length).toBe(3);

    const corrected = await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'globex', properties: { seat: 'bob' }, idempotency_key: 'g-2' });
    expect(corrected.status, corrected.text).toBe(201);
    expect(corrected.headers.get('idempotent-replayed')).toBeNull();
    expect(await usedBy('globex', 'seats')).toBe('3');
  });

  it('over tRPC too', async () => {
    const answer = await call('POST', '/api/trpc/usage.track', { event_name: 'seats', user_id: 'initech' });
    expect(answer.status, answer.text).toBe(422);
    expect(answer.json.error.data.problem.errors).toEqual([{ field: 'properties.seat', message: 'is required: meter "seats" counts its distinct values' }]);
  });
});
