import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/*
 * A plan exists only as a name in meters' plan limits, so a customer put on "Pro" when the
 * meters limit "pro" has no limits anywhere: never capped, no overage billed. That is allowed
 * (it is how a creator gives a plan unlimited use), but over the API it was said nowhere — only
 * the dashboard's pages flagged it. The answer now carries `warnings` naming the field.
 */

const { url } = await useTestDatabase();
const server = useTestServer(url);
let call: ReturnType<typeof api>;

beforeAll(async () => {
  call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
  await createMeter(call, {
    event_name: 'api_calls',
    display_name: 'API calls',
    aggregation_type: 'count',
    unit_name: 'calls',
    billing_model: 'metered',
    plan_limits: [
      { plan_name: 'free', limit_value: 2, hard_cap: true },
      { plan_name: 'pro', limit_value: 1000, overage_price: '0.01' },
    ],
  });
});

describe('a plan no meter has limits for is accepted and said', () => {
  it('PUT /api/usage/customers/{user_id} with "Pro" for "pro": 201 with a warning naming plan_name; the customer is indeed unlimited', async () => {
    const put = await call('PUT', '/api/usage/customers/typo', { plan_name: 'Pro' });
    expect(put.status, put.text).toBe(201);
    expect(put.json.plan_name).toBe('Pro');
    expect(put.json.warnings).toEqual([
      { field: 'plan_name', message: 'No meter has limits for plan “Pro”: this customer’s usage is never limited and no overage is billed. Did you mean “pro”? Plan names are matched exactly.' },
    ]);
    const check = await call('GET', '/api/usage/check?user_id=typo&event_name=api_calls&value=5000');
    expect(check.json).toMatchObject({ allowed: true, limit: null, hard_cap: false });
  });

  it('a name unlike any plan lists the plans that have limits', async () => {
    const put = await call('PUT', '/api/usage/customers/other', { plan_name: 'enterprise' });
    expect(put.status, put.text).toBe(201);
    expect(put.json.warnings).toEqual([
      { field: 'plan_name', message: 'No meter has limits for plan “enterprise”: this customer’s usage is never limited and no overage is billed. Plans with limits: free, pro.' },
    ]);
  });

  it('a known plan, no plan, or a PUT without plan_name: no warnings field at all', async () => {
    for (const body of [{ plan_name: 'pro' }, { plan_name: null }, { email: 'ada@example.com' }]) {
      const put = await call('PUT', '/api/usage/customers/known', body);
      expect(put.status, put.text).toBeLessThan(300);
      expect(put.json).not.toHaveProperty('warnings');
    }
  });

  it('PUT /api/usage/settings with an unknown default_plan: 200 with a warning naming default_plan; a known one has none', async () => {
    const put = await call('PUT', '/api/usage/settings', { default_plan: 'fre' });
    expect(put.status, put.text).toBe(200);
    expect(put.json).toEqual({
      default_plan: 'fre',
      late_event_grace_hours: 24,
      warnings: [{ field: 'default_plan', message: 'No meter has limits for plan “fre”: new customers get no limits and no overage is billed. Plans with limits: free, pro.' }],
    });
    const known = await call('PUT', '/api/usage/settings', { default_plan: 'free' });
    expect(known.json).toEqual({ default_plan: 'free', late_event_grace_hours: 24 });
  });

  it('over tRPC the same', async () => {
    const answer = await call('POST', '/api/trpc/customers.upsert', { user_id: 'trpc-typo', customer: { plan_name: 'FREE' } });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json.result.data).toMatchObject({ user_id: 'trpc-typo', created: true, warnings: [{ field: 'plan_name', message: expect.stringContaining('Did you mean “free”?') }] });
  });

  it('stripe_subscription_items naming no live meter → taken, with a warning per such item (it was silent; the item is tied to no usage)', async () => {
    const put = await call('PUT', '/api/usage/customers/items-typo', { stripe_subscription_items: { api_calls: 'si_A', api_call: 'si_B', seats: 'si_C' } });
    expect(put.status, put.text).toBe(201);
    expect(put.json.stripe_subscription_items).toEqual({ api_calls: 'si_A', api_call: 'si_B', seats: 'si_C' });
    const message = 'names no live meter: the item is tied to no usage (items are matched to meters by event_name; live meters: api_calls).';
    expect(put.json.warnings).toEqual([
      { field: 'stripe_subscription_items.api_call', message },
      { field: 'stripe_subscription_items.seats', message },
    ]);
    expect((await call('PUT', '/api/usage/customers/items-typo', { stripe_subscription_items: { api_calls: 'si_A' } })).json).not.toHaveProperty('warnings');
    // A key that cannot be an event_name at all is refused, saying why (it said only "Invalid key in record").
    const refused = await call('PUT', '/api/usage/customers/items-typo', { stripe_subscription_items: { API_Calls: 'si_B' } });
    expect(refused.status).toBe(422);
    expect(refused.json.errors).toEqual([{ field: 'stripe_subscription_items.API_Calls', message: 'as a key, must be 1–100 characters of a–z, 0–9, "_", "." or "-"' }]);
  });

  it('an archived meter\'s plans do not count as limits', async () => {
    const meter = await createMeter(call, { event_name: 'legacy', display_name: 'Legacy', aggregation_type: 'count', unit_name: 'calls', billing_model: 'metered', plan_limits: [{ plan_name: 'legacy', limit_value: 5 }] });
    expect((await call('PUT', '/api/usage/customers/legacy-1', { plan_name: 'legacy' })).json).not.toHaveProperty('warnings');
    expect((await call('DELETE', `/api/usage/meters/${meter.id}`)).status).toBe(200);
    expect((await call('PUT', '/api/usage/customers/legacy-2', { plan_name: 'legacy' })).json.warnings).toHaveLength(1);
  });
});
