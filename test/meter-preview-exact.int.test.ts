import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * meters.preview says what ingestion would have done with the definition on the same events:
 * under a hard cap (events replayed in arrival order), at the window's end (timestamps a few
 * minutes ahead) and in money (each customer rounded as billed).
 */

const { url } = await useTestDatabase();
let clock = new Date('2026-03-20T12:00:00Z');
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer(url, { now: () => clock });
});
afterAll(async () => {
  await server?.close();
});

type Call = ReturnType<typeof api>;
const newCreator = async () => {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  return { call: api(server.url, apiKey), creator };
};
const planOf = (preview: { plans: Array<{ plan_name: string | null }> }, name: string | null) => preview.plans.find((p) => p.plan_name === name) as Record<string, unknown>;
const track = async (call: Call, events: unknown[]) => {
  const res = await call('POST', '/api/usage/track', events);
  expect(res.status, res.text).toBe(200);
  return res.json.results.map((r: { status: number }) => r.status);
};

describe('meters.preview under a hard cap: events past the cap would have been refused', () => {
  it('sum: later events are judged against the capped total; a refused event reaches no soft limit', async () => {
    clock = new Date('2026-03-20T12:00:00Z');
    const { call } = await newCreator();
    // Today: a sum meter "tokens" without limits, so every event is recorded.
    await createMeter(call, { event_name: 'tokens', display_name: 'Tokens', aggregation_type: 'sum', unit_name: 'tokens' });
    await call('PUT', '/api/usage/customers/ann', { plan_name: 'free' });
    await call('PUT', '/api/usage/customers/bob', { plan_name: 'free' });
    // ann: 8, then 5, then 1; bob: one event of 11 — all in March.
    const ev = (user_id: string, timestamp: string, value: number) => ({ event_name: 'tokens', user_id, timestamp, value });
    expect(await track(call, [ev('ann', '2026-03-10T10:00:00Z', 8), ev('ann', '2026-03-11T10:00:00Z', 5), ev('ann', '2026-03-12T10:00:00Z', 1), ev('bob', '2026-03-13T10:00:00Z', 11)])).toEqual([201, 201, 201, 201]);

    // The definition previewed: free gets 10 tokens, hard-capped, soft limit at 80 %.
    const definition = {
      event_name: 'tokens',
      display_name: 'Tokens',
      aggregation_type: 'sum',
      unit_name: 'tokens',
      plan_limits: [{ plan_name: 'free', limit_value: 10, soft_limit_threshold: '0.8', hard_cap: true }],
    };
    const preview = await trpcQuery(call, 'meters.preview', definition);

    // Reference: the same definition really applied by ingestion, on the same events in the same order.
    const { call: ref } = await newCreator();
    await createMeter(ref, definition);
    await ref('PUT', '/api/usage/customers/ann', { plan_name: 'free' });
    await ref('PUT', '/api/usage/customers/bob', { plan_name: 'free' });
    // ann: 8 accepted, 5 refused (13 > 10), 1 accepted (9); bob: 11 refused.
    expect(await track(ref, [ev('ann', '2026-03-10T10:00:00Z', 8), ev('ann', '2026-03-11T10:00:00Z', 5), ev('ann', '2026-03-12T10:00:00Z', 1), ev('bob', '2026-03-13T10:00:00Z', 11)])).toEqual([201, 402, 201, 402]);
    const annUsed = (await ref('GET', '/api/usage/customers/ann/usage')).json.meters[0].used;
    const bobUsed = (await ref('GET', '/api/usage/customers/bob/usage')).json.meters[0].used;
    expect([annUsed, bobUsed]).toEqual(['9', '0']);
    const softAlerts = (await ref('GET', '/api/usage/alerts?kind=soft_limit_reached')).json;

    // The preview should say what ingestion did: 9 metered, 16 refused (5 + 11), both customers capped,
    // and one soft-limit alert (ann reached 8; bob never had a token recorded).
    expect(softAlerts.alerts ?? softAlerts.data ?? softAlerts).toHaveLength(1);
    expect(planOf(preview, 'free')).toMatchObject({
      customers_capped: 2,
      quantity: '9',
      quantity_over_limit: '16',
      customers_over_soft_limit: 1,
    });
    // Observed: quantity 25, quantity_over_limit 5 (25 − 2 × 10), customers_over_soft_limit 2.
  });

  it('max: a value refused at the cap does not stay the period’s maximum; later lower values count', async () => {
    clock = new Date('2026-03-20T12:00:00Z');
    const { call } = await newCreator();
    await createMeter(call, { event_name: 'seats', display_name: 'Seats', aggregation_type: 'max', unit_name: 'seats' });
    await call('PUT', '/api/usage/customers/cid', { plan_name: 'free' });
    const ev = (timestamp: string, value: number) => ({ event_name: 'seats', user_id: 'cid', timestamp, value });
    const events = [ev('2026-03-10T10:00:00Z', 5), ev('2026-03-11T10:00:00Z', 12), ev('2026-03-12T10:00:00Z', 7)];
    expect(await track(call, events)).toEqual([201, 201, 201]);
    const definition = { event_name: 'seats', display_name: 'Seats', aggregation_type: 'max', unit_name: 'seats', plan_limits: [{ plan_name: 'free', limit_value: 10, hard_cap: true }] };
    const preview = await trpcQuery(call, 'meters.preview', definition);

    // Reference: ingestion under that definition refuses the 12 and keeps 7 as the period's max.
    const { call: ref } = await newCreator();
    await createMeter(ref, definition);
    await ref('PUT', '/api/usage/customers/cid', { plan_name: 'free' });
    expect(await track(ref, events)).toEqual([201, 402, 201]);
    const used = (await ref('GET', '/api/usage/customers/cid/usage')).json.meters[0].used;
    expect(used).toBe('7');

    // Observed: quantity 12 — a figure the customer could never have reached under the cap.
    expect(planOf(preview, 'free')).toMatchObject({ customers_capped: 1, quantity: used });
  });
});

describe('meters.preview at the window’s end', () => {
  it('an event stamped a few minutes ahead (accepted: timestamps may be 5 minutes ahead) is in the customer’s usage but missing from the preview', async () => {
    clock = new Date('2026-03-20T12:00:00Z');
    const { call } = await newCreator();
    const meter = await createMeter(call, {
      event_name: 'calls',
      display_name: 'Calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [{ plan_name: 'pro', limit_value: 1, overage_price: 1 }],
    });
    await call('PUT', '/api/usage/customers/dee', { plan_name: 'pro' });
    const ev = (timestamp: string) => ({ event_name: 'calls', user_id: 'dee', timestamp });
    // One event a minute ago, one stamped 2 minutes ahead (a client clock slightly fast): both accepted.
    expect(await track(call, [ev('2026-03-20T11:59:00Z'), ev('2026-03-20T12:02:00Z')])).toEqual([201, 201]);
    const usage = (await call('GET', '/api/usage/customers/dee/usage')).json.meters[0];
    expect(usage).toMatchObject({ used: '2', overage_amount: '1' });

    // The preview of the meter's own, unchanged definition should show those 2 calls and 1 of overage.
    const preview = await trpcQuery(call, 'meters.preview', {
      event_name: 'calls',
      display_name: 'Calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [{ plan_name: 'pro', limit_value: 1, overage_price: 1 }],
      meter_id: meter.id,
    });
    // Observed: events 1, quantity 1, overage 0 — the window stops at now (occurred_at < to).
    expect({ events: preview.events, quantity: planOf(preview, 'pro').quantity, overage: preview.overage_amount }).toEqual({ events: 2, quantity: '2', overage: '1' });
  });
});

describe('meters.preview overage money', () => {
  it('an hours duration meter: the previewed overage is what the customers are billed (each rounded to 9 decimals), as the overview says', async () => {
    clock = new Date('2026-03-20T12:00:00Z');
    const { call } = await newCreator();
    const definition = {
      event_name: 'gpu',
      display_name: 'GPU time',
      aggregation_type: 'duration',
      unit_name: 'hours',
      plan_limits: [{ plan_name: 'pro', limit_value: 0, overage_price: 1 }],
    };
    const meter = await createMeter(call, definition);
    // Three customers on pro, one GPU-second each: 1/3600 h = 0.000277777… h over a limit of 0.
    for (const user of ['u1', 'u2', 'u3']) await call('PUT', `/api/usage/customers/${user}`, { plan_name: 'pro' });
    expect(await track(call, ['u1', 'u2', 'u3'].map((user_id) => ({ event_name: 'gpu', user_id, value: 1, timestamp: '2026-03-20T10:00:00Z' })))).toEqual([201, 201, 201]);
    // Each customer's usage answer bills 0.000277778 (half-even at 9 decimals): 0.000833334 in all.
    const owed = await Promise.all(['u1', 'u2', 'u3'].map(async (u) => (await call('GET', `/api/usage/customers/${u}/usage`)).json.meters[0].overage_amount));
    expect(owed).toEqual(['0.000277778', '0.000277778', '0.000277778']);
    const overview = await trpcQuery(call, 'insights.overview', undefined as never);
    expect(overview.overage.amount).toBe('0.000833334');

    // The preview of the meter's own definition should say the same money.
    const preview = await trpcQuery(call, 'meters.preview', { ...definition, meter_id: meter.id });
    // Observed: 0.000833333 — the exact sum over customers rounded once, not what each is billed.
    expect({ plan: planOf(preview, 'pro').overage_amount, total: preview.overage_amount }).toEqual({ plan: '0.000833334', total: '0.000833334' });
  });
});
