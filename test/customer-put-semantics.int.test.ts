import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useClockedServer } from './harness/server.js';

/**
 * PUT /api/usage/customers/{user_id} against its documented contract ("fields left out
 * stay, null clears"; a repeated PUT is a no-op answered 200). Review, customers PUT.
 */
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, new Date('2026-10-10T12:00:00.000Z'));

async function setup() {
  setNow(new Date('2026-10-10T12:00:00.000Z'));
  const { apiKey } = await createCreatorWithKey(server().rt);
  const call = api(server().url, apiKey);
  await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 100 }] });
  return call;
}
const full = {
  plan_name: 'pro',
  email: 'ada@example.com',
  name: 'Ada',
  billing_anchor: '2026-01-15T09:30:00Z',
  stripe_customer_id: 'cus_A1',
  stripe_subscription_items: { calls: 'si_X1' },
  tenant_id: 'org1',
};

describe('PUT /api/usage/customers/{user_id}', () => {
  it('"stripe_subscription_items": null clears the mapping, as null clears every other field (not a 422)', async () => {
    const call = await setup();
    expect((await call('PUT', '/api/usage/customers/u1', full)).status).toBe(201);
    // The route says "null clears"; every other nullable field takes null, this one answers 422.
    const cleared = await call('PUT', '/api/usage/customers/u1', { stripe_subscription_items: null });
    expect(cleared.status, cleared.text).toBe(200);
    expect(cleared.json.stripe_subscription_items).toEqual({});
  });

  it('the same PUT repeated changes nothing: 200 with the very same customer, updated_at included', async () => {
    const call = await setup();
    const first = await call('PUT', '/api/usage/customers/u1', full);
    expect(first.status).toBe(201);
    setNow(new Date('2026-10-11T12:00:00.000Z'));
    const again = await call('PUT', '/api/usage/customers/u1', full);
    expect(again.status).toBe(200);
    // updated_at moves to the retry's time although no field changed.
    expect(again.json).toEqual(first.json);
  });
});
