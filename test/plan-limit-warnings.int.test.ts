import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useTestServer } from './harness/server.js';

/*
 * A meter's plan limits said nothing when they were set in a way that does nothing, or that
 * drops what the plan had: a listed plan's limit is set whole, so a PATCH of
 * {"plan_name":"free","limit_value":2000} quietly turned free's hard cap off (hard_cap's default
 * is false) and cleared its overage price and soft threshold. The change is still made (the
 * documented meaning of a listed plan), and the answer carries `warnings` naming each field
 * and the value it had; an overage price on a hard-capped plan and a hard cap on an unlimited
 * one are named as doing nothing.
 */

const { url } = await useTestDatabase();
const server = useTestServer(url);
let call: ReturnType<typeof api>;

beforeAll(async () => {
  call = api(server().url, (await createCreatorWithKey(server().rt)).apiKey);
});

const fieldsOf = (warnings: Array<{ field: string }> | undefined) => (warnings ?? []).map((w) => w.field);

describe('plan limits that do nothing, or drop what a plan had, are said', () => {
  let meterId: string;

  it('POST /api/usage/meters: an overage price on a hard-capped plan, a hard cap on an unlimited one → 201 with warnings naming them', async () => {
    const created = await call('POST', '/api/usage/meters', {
      event_name: 'api_calls',
      display_name: 'API calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [
        { plan_name: 'free', limit_value: 2, hard_cap: true, overage_price: '0.5', soft_limit_threshold: '0.5' },
        { plan_name: 'max', limit_value: null, hard_cap: true },
        { plan_name: 'pro', limit_value: 100, overage_price: '0.01' },
      ],
    });
    expect(created.status, created.text).toBe(201);
    meterId = created.json.id as string;
    expect(fieldsOf(created.json.warnings)).toEqual(['plan_limits[0].overage_price', 'plan_limits[1].hard_cap']);
    expect(created.json.warnings[0].message).toMatch(/never charged: a hard-capped plan refuses events past its limit/);
    expect(created.json.warnings[1].message).toMatch(/no effect: limit_value is null/);
    // What the warning says is so: the free plan's customer past the cap is refused, never billed overage.
    expect((await call('PUT', '/api/usage/customers/f1', { plan_name: 'free' })).status).toBe(201);
    for (const status of [201, 201, 402]) expect((await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'f1' })).status).toBe(status);
  });

  it('a meter without such limits has no warnings key at all', async () => {
    const created = await call('POST', '/api/usage/meters', {
      event_name: 'storage',
      display_name: 'Storage',
      aggregation_type: 'sum',
      unit_name: 'GB',
      plan_limits: [{ plan_name: 'free', limit_value: 5, hard_cap: true }],
    });
    expect(created.status, created.text).toBe(201);
    expect('warnings' in created.json).toBe(false);
  });

  it('PATCH listing the free plan with only a new limit: the change is made, and each dropped field is named with the value it had', async () => {
    const patched = await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: [{ plan_name: 'free', limit_value: 3 }] });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json.plan_limits.find((l: { plan_name: string }) => l.plan_name === 'free')).toMatchObject({
      limit_value: '3',
      hard_cap: false,
      overage_price: null,
      soft_limit_threshold: null,
    });
    expect(patched.json.warnings).toEqual([
      { field: 'plan_limits[0].hard_cap', message: expect.stringMatching(/^was true and is now false: events past the limit are accepted from now on\. .*Send hard_cap: true to keep the cap\.$/) },
      { field: 'plan_limits[0].overage_price', message: expect.stringMatching(/^was 0\.5 and is now cleared/) },
      { field: 'plan_limits[0].soft_limit_threshold', message: expect.stringMatching(/^was 0\.5 and is now cleared/) },
    ]);
    // As the warning says: the cap is gone, the customer at 2 of 3 goes past it.
    for (const status of [201, 201]) expect((await call('POST', '/api/usage/track', { event_name: 'api_calls', user_id: 'f1' })).status).toBe(status);
  });

  it('PATCH restating a plan whole, unchanged or changed on purpose, says nothing', async () => {
    const patched = await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: [{ plan_name: 'pro', limit_value: 200, overage_price: '0.02' }] });
    expect(patched.status, patched.text).toBe(200);
    expect('warnings' in patched.json).toBe(false);
    const display = await call('PATCH', `/api/usage/meters/${meterId}`, { display_name: 'Calls' });
    expect('warnings' in display.json).toBe(false);
  });

  it('tRPC meters.update answers the same warnings', async () => {
    const answer = await call('POST', '/api/trpc/meters.update', { id: meterId, patch: { plan_limits: [{ plan_name: 'pro', limit_value: 200 }] } });
    expect(answer.status, answer.text).toBe(200);
    expect(fieldsOf(answer.json.result.data.warnings)).toEqual(['plan_limits[0].overage_price']);
    expect(answer.json.result.data.warnings[0].message).toMatch(/^was 0\.02 and is now cleared: usage past the limit is no longer billed/);
  });

  it('PATCH listing a plan without its limit_value makes it unlimited: said with the limit it had; a soft threshold or overage price on an unlimited plan is named as doing nothing', async () => {
    // A creator who means to change only the soft threshold of pro (limit 200)…
    const patched = await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: [{ plan_name: 'pro', soft_limit_threshold: 0.9 }] });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json.plan_limits.find((l: { plan_name: string }) => l.plan_name === 'pro')).toMatchObject({ limit_value: null, soft_limit_threshold: '0.9' });
    // Before: no word of the limit at all — pro's customers were unlimited and billed no overage from then on.
    expect(patched.json.warnings).toEqual([
      { field: 'plan_limits[0].soft_limit_threshold', message: 'has no effect: limit_value is null, so the plan is unlimited and no soft-limit alert is raised.' },
      { field: 'plan_limits[0].limit_value', message: expect.stringMatching(/^was 200 and is now null: the plan is unlimited from now on .*Send limit_value again to keep the limit\.$/) },
    ]);
    const unlimitedPrice = await call('POST', '/api/usage/meters', {
      event_name: 'seats',
      display_name: 'Seats',
      aggregation_type: 'count',
      unit_name: 'seats',
      plan_limits: [{ plan_name: 'team', limit_value: null, overage_price: '5' }],
    });
    expect(unlimitedPrice.status, unlimitedPrice.text).toBe(201);
    expect(unlimitedPrice.json.warnings).toEqual([{ field: 'plan_limits[0].overage_price', message: expect.stringMatching(/^is never charged: limit_value is null/) }]);
  });
});
