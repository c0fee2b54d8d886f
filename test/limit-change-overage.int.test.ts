import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from './fakes/webhook-receiver.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, trpcQuery } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * A limit lowered below what a customer already used, or a move to a smaller plan,
 * puts them in overage at once: `usage.overage_started` is raised (once per period) and
 * the dashboard overview counts their overage as the usage endpoint and the revenue page do.
 */
const { url } = await useTestDatabase();
let receiver: WebhookReceiver;
let server: TestServer;
beforeAll(async () => {
  receiver = await startWebhookReceiver();
  server = await startTestServer(url, { workers: true, env: { ALLOW_PRIVATE_WEBHOOK_URLS: 'true' } });
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

type Call = ReturnType<typeof api>;

/** A creator with a `storage` meter (gold: 10 included, 2 each beyond; tiny: 2, 1 each; capped: 2, hard cap) and a webhook endpoint. */
async function setUp(path: string) {
  const call = api(server.url, (await createCreatorWithKey(server.rt)).apiKey);
  const meter = await call('POST', '/api/usage/meters', {
    event_name: 'storage',
    display_name: 'Storage',
    aggregation_type: 'sum',
    unit_name: 'gb',
    plan_limits: [
      { plan_name: 'gold', limit_value: 10, overage_price: 2 },
      { plan_name: 'tiny', limit_value: 2, overage_price: 1 },
      { plan_name: 'capped', limit_value: 2, hard_cap: true },
    ],
  });
  expect(meter.status, meter.text).toBe(201);
  const endpoint = await call('POST', '/api/usage/webhooks', { url: `${receiver.url}${path}`, events: ['usage.overage_started'] });
  expect(endpoint.status, endpoint.text).toBe(201);
  receiver.setSecret(endpoint.json.secret, path);
  return { call, meterId: meter.json.id as string };
}

async function track(call: Call, userId: string, value: number) {
  const response = await call('POST', '/api/usage/track', { event_name: 'storage', user_id: userId, value });
  expect(response.status, response.text).toBe(201);
}

const alertsOf = async (call: Call, userId: string) => (await call('GET', `/api/usage/alerts?user_id=${userId}&kind=overage_started`)).json.alerts as Array<Record<string, unknown>>;

/** The overview's overage, once its period figures include what was just done (they are kept a few seconds). */
async function overviewOverage(call: Call, expected: { amount: string; customers: number }) {
  await expect.poll(async () => (await trpcQuery(call, 'insights.overview')).overage, { timeout: 10_000, interval: 250 }).toEqual(expected);
}

describe('a limit or plan change that leaves usage beyond the limit', () => {
  it('lowering the limit below usage raises overage_started once, and the overview counts the overage', async () => {
    // Given q1 on gold (limit 10) who used 8
    const { call, meterId } = await setUp('/lowered');
    expect((await call('PUT', '/api/usage/customers/q1', { plan_name: 'gold' })).status).toBe(201);
    await track(call, 'q1', 8);
    expect(await alertsOf(call, 'q1')).toEqual([]);

    // When the creator lowers gold's limit to 5
    const patched = await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: [{ plan_name: 'gold', limit_value: 5, overage_price: 2 }] });
    expect(patched.status, patched.text).toBe(200);

    // Then q1 gets an overage_started alert and one signed webhook
    expect(await alertsOf(call, 'q1')).toEqual([expect.objectContaining({ kind: 'overage_started', event_name: 'storage', used: '8', limit: '5', status: 'open' })]);
    await receiver.waitFor((r) => r.some((w) => w.path === '/lowered'), 10_000);
    const hook = receiver.received.find((w) => w.path === '/lowered');
    expect(hook).toMatchObject({ verified: true, body: { type: 'usage.overage_started', data: { user_id: 'q1', meter_id: meterId, used: '8', limit: '5' } } });

    // And more usage, or lowering it again, raises no second alert this period
    await track(call, 'q1', 1);
    expect((await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: [{ plan_name: 'gold', limit_value: 4, overage_price: 2 }] })).status).toBe(200);
    expect(await alertsOf(call, 'q1')).toHaveLength(1);

    // And the overview's overage is what the usage endpoint and the revenue page bill: (9 − 4) × 2
    const usage = await call('GET', '/api/usage/customers/q1/usage');
    expect(usage.json.meters[0]).toMatchObject({ used: '9', limit: '4', overage_quantity: '5', overage_amount: '10' });
    const revenue = await trpcQuery(call, 'revenue.overview');
    expect(revenue.totals).toMatchObject({ customers_in_overage: 1, amount_so_far: '10' });
    await overviewOverage(call, { amount: '10', customers: 1 });
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.received.filter((w) => w.path === '/lowered')).toHaveLength(1);
  });

  it('moving a customer to a smaller plan raises overage_started; a hard-capped plan bills no overage and raises none', async () => {
    // Given r1 and r2 on gold, who used 8 and 3
    const { call, meterId } = await setUp('/moved');
    for (const [userId, used] of [
      ['r1', 8],
      ['r2', 3],
    ] as const) {
      expect((await call('PUT', `/api/usage/customers/${userId}`, { plan_name: 'gold' })).status).toBe(201);
      await track(call, userId, used);
    }

    // When r1 moves to tiny (limit 2) and r2 to capped (limit 2, hard cap)
    expect((await call('PUT', '/api/usage/customers/r1', { plan_name: 'tiny' })).status).toBe(200);
    expect((await call('PUT', '/api/usage/customers/r2', { plan_name: 'capped' })).status).toBe(200);

    // Then r1 is alerted and webhooked, r2 is not
    expect(await alertsOf(call, 'r1')).toEqual([expect.objectContaining({ kind: 'overage_started', meter_id: meterId, used: '8', limit: '2' })]);
    expect(await alertsOf(call, 'r2')).toEqual([]);
    await receiver.waitFor((r) => r.some((w) => w.path === '/moved'), 10_000);
    const hook = receiver.received.find((w) => w.path === '/moved');
    expect(hook!.body.data).toMatchObject({ user_id: 'r1', used: '8', limit: '2' });

    // And the overview shows r1's overage, (8 − 2) × 1, as the usage endpoint does
    expect((await call('GET', '/api/usage/customers/r1/usage')).json.meters[0]).toMatchObject({ overage_amount: '6' });
    expect((await call('GET', '/api/usage/customers/r2/usage')).json.meters[0]).toMatchObject({ overage_amount: '0' });
    await overviewOverage(call, { amount: '6', customers: 1 });
  });

  it('the overview counts overage from the counters: an archived meter’s overage this period still counts, as it is billed', async () => {
    // Given s1 on tiny (limit 2, 1 each beyond) who used 5, and the meter archived since
    const { call, meterId } = await setUp('/archived');
    expect((await call('PUT', '/api/usage/customers/s1', { plan_name: 'tiny' })).status).toBe(201);
    await track(call, 's1', 5);
    expect((await call('DELETE', `/api/usage/meters/${meterId}`)).status).toBe(200);

    // Then the overview bills what the usage endpoint and the revenue page bill
    expect((await call('GET', '/api/usage/customers/s1/usage')).json.meters[0]).toMatchObject({ meter_id: meterId, overage_amount: '3' });
    expect((await trpcQuery(call, 'revenue.overview')).totals).toMatchObject({ customers_in_overage: 1, amount_so_far: '3' });
    await overviewOverage(call, { amount: '3', customers: 1 });
  });
});

describe('the other alerts a limit change owes, and only once a period', () => {
  const alertsOfKind = async (call: Call, userId: string, kind: string) =>
    ((await call('GET', `/api/usage/alerts?user_id=${userId}&kind=${kind}`)).json.alerts as Array<Record<string, unknown>>).map((a) => [a.kind, a.threshold, a.used, a.limit]);

  it('a move to a hard-capped plan below usage raises hard_limit_reached; a lowered limit past the soft threshold raises soft_limit_reached', async () => {
    const { call, meterId } = await setUp('/capped-move');
    expect((await call('PUT', '/api/usage/customers/h1', { plan_name: 'gold' })).status).toBe(201);
    await track(call, 'h1', 5);
    // When h1 moves to capped (limit 2, hard cap): its next event is refused, and it is told so once
    expect((await call('PUT', '/api/usage/customers/h1', { plan_name: 'capped' })).status).toBe(200);
    expect(await alertsOfKind(call, 'h1', 'hard_limit_reached')).toEqual([['hard_limit_reached', '1', '5', '2']]);
    expect((await call('POST', '/api/usage/track', { event_name: 'storage', user_id: 'h1', value: 1 })).status).toBe(402);
    expect(await alertsOfKind(call, 'h1', 'hard_limit_reached')).toHaveLength(1);

    // Given h2 on gold (limit 10) at 7 with a soft threshold of 0.8 added: not reached yet
    const soft = (limit: number, threshold: number) => [
      { plan_name: 'gold', limit_value: limit, overage_price: 2, soft_limit_threshold: threshold },
      { plan_name: 'tiny', limit_value: 2, overage_price: 1 },
      { plan_name: 'capped', limit_value: 2, hard_cap: true },
    ];
    expect((await call('PUT', '/api/usage/customers/h2', { plan_name: 'gold' })).status).toBe(201);
    await track(call, 'h2', 7);
    expect((await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: soft(10, 0.8) })).status).toBe(200);
    expect(await alertsOfKind(call, 'h2', 'soft_limit_reached')).toEqual([]);
    // When gold's limit is lowered to 8: 7 is past 0.8 × 8, below the limit
    expect((await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: soft(8, 0.8) })).status).toBe(200);
    expect(await alertsOfKind(call, 'h2', 'soft_limit_reached')).toEqual([['soft_limit_reached', '0.8', '7', '8']]);
    expect(await alertsOfKind(call, 'h2', 'overage_started')).toEqual([]);
  });

  it('a soft threshold changed after the soft limit was reached raises no second soft-limit alert that period', async () => {
    const { call, meterId } = await setUp('/soft-twice');
    const limits = (threshold: number) => [{ plan_name: 'gold', limit_value: 10, overage_price: 2, soft_limit_threshold: threshold }];
    expect((await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: limits(0.8) })).status).toBe(200);
    expect((await call('PUT', '/api/usage/customers/t1', { plan_name: 'gold' })).status).toBe(201);
    await track(call, 't1', 8);
    expect(await alertsOfKind(call, 't1', 'soft_limit_reached')).toEqual([['soft_limit_reached', '0.8', '8', '10']]);
    // When the threshold moves to 0.9 and the customer crosses it
    expect((await call('PATCH', `/api/usage/meters/${meterId}`, { plan_limits: limits(0.9) })).status).toBe(200);
    await track(call, 't1', 1);
    // Then still the one soft-limit alert of this period
    expect(await alertsOfKind(call, 't1', 'soft_limit_reached')).toEqual([['soft_limit_reached', '0.8', '8', '10']]);
  });

  it('adding an alert threshold that usage is already past raises it when saved, for every plan; an unchanged list raises nothing more', async () => {
    // Given g1 on gold (limit 10) at 6 and t1 on tiny (limit 2) at 1, and thresholds [0.9]
    const { call, meterId } = await setUp('/thresholds');
    expect((await call('PATCH', `/api/usage/meters/${meterId}`, { alert_thresholds: [0.9] })).status).toBe(200);
    expect((await call('PUT', '/api/usage/customers/g1', { plan_name: 'gold' })).status).toBe(201);
    expect((await call('PUT', '/api/usage/customers/t1', { plan_name: 'tiny' })).status).toBe(201);
    await track(call, 'g1', 6);
    await track(call, 't1', 1);
    const thresholdAlerts = async (userId: string) =>
      ((await call('GET', `/api/usage/alerts?user_id=${userId}&kind=threshold_reached`)).json.alerts as Array<Record<string, unknown>>).map((a) => a.threshold);
    expect(await thresholdAlerts('g1')).toEqual([]);

    // When 0.5 is added: both are past half their limit, and no event will cross it now
    expect((await call('PATCH', `/api/usage/meters/${meterId}`, { alert_thresholds: [0.5, 0.9] })).status).toBe(200);

    // Then each gets its 0.5 alert at once
    expect(await thresholdAlerts('g1')).toEqual(['0.5']);
    expect(await thresholdAlerts('t1')).toEqual(['0.5']);
    // And saving the same list again, or another field, raises nothing more
    expect((await call('PATCH', `/api/usage/meters/${meterId}`, { alert_thresholds: [0.9, 0.5], display_name: 'Storage!' })).status).toBe(200);
    expect(await thresholdAlerts('g1')).toEqual(['0.5']);
  });

  it('a limit lowered under 6,000 customers’ usage raises 6,000 alerts, each notified once', async () => {
    // Given 6,000 customers on gold (limit 10) who used 8 each (more alerts than one insert statement has parameters for)
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    const meter = await call('POST', '/api/usage/meters', {
      event_name: 'storage',
      display_name: 'Storage',
      aggregation_type: 'sum',
      unit_name: 'gb',
      plan_limits: [{ plan_name: 'gold', limit_value: 10, overage_price: 2 }],
    });
    expect(meter.status, meter.text).toBe(201);
    expect((await call('PUT', '/api/usage/settings', { default_plan: 'gold' })).status).toBe(200);
    for (let b = 0; b < 6; b++) {
      const batch = await call('POST', '/api/usage/track', Array.from({ length: 1000 }, (_, i) => ({ event_name: 'storage', user_id: `c${b * 1000 + i}`, value: 8 })));
      expect(batch.status, batch.text).toBe(200);
      expect(batch.json.results.every((r: { status: number }) => r.status === 201)).toBe(true);
    }

    // When gold's limit is lowered to 5
    const patched = await call('PATCH', `/api/usage/meters/${meter.json.id}`, { plan_limits: [{ plan_name: 'gold', limit_value: 5, overage_price: 2 }] });
    expect(patched.status, patched.text).toBe(200);

    // Then every customer has an overage_started alert, and one notification job each
    const alerts = (await server.rt.ownerDb.execute(sql`select count(*)::int as n, count(distinct customer_id)::int as customers from usage_alerts where creator_id = ${creator.id} and kind = 'overage_started'`)) as unknown as Array<{ n: number; customers: number }>;
    expect(alerts[0]).toEqual({ n: 6000, customers: 6000 });
    const jobs = (await server.rt.ownerDb.execute(sql`select count(*)::int as n, count(distinct data->>'alertId')::int as alerts from pgboss.job where name = 'alerts.notify' and data->>'creatorId' = ${creator.id}`)) as unknown as Array<{ n: number; alerts: number }>;
    expect(jobs[0]).toEqual({ n: 6000, alerts: 6000 });
  });
});
