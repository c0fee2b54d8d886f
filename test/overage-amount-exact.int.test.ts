import Decimal from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodFiguresTiming } from '../server/services/insights.js';
import type { FakeStripe } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { createLinkedMeter, startServerWithFakeStripe, syncToStripe } from './harness/stripe-linked.js';

/**
 * Overage amounts at the extremes the README allows (values and prices up to 10^18 with 9
 * decimals, duration units), compared across every surface that shows them: the amount is
 * the quantity answered × the price, exact, rounded half-even to 9 decimals once.
 */

/** The oracle: exact decimals, rounded half-even to 9 places as every answer is (ADR 0009). */
const X = Decimal.clone({ precision: 500, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -500, toExpPos: 500 });
const r9 = (v: InstanceType<typeof X>) => v.toDecimalPlaces(9, X.ROUND_HALF_EVEN).toFixed();

const { url } = await useTestDatabase();
const NOW = new Date('2026-10-20T12:00:00.000Z');
let server: TestServer;
let stripeServer: TestServer;
let fake: FakeStripe;
const timing = { ...periodFiguresTiming };
beforeAll(async () => {
  server = await startTestServer(url, { now: () => NOW });
  ({ server: stripeServer, fake } = await startServerWithFakeStripe(url, { now: () => NOW }));
  // The overview recomputes its period figures on every call.
  periodFiguresTiming.freshMs = 0;
  periodFiguresTiming.staleMs = 0;
});
afterAll(async () => {
  Object.assign(periodFiguresTiming, timing);
  await server?.close();
  await stripeServer?.close();
  await fake?.close();
});

describe('overage amount of a large quantity at a large price', () => {
  it('is the exact product rounded half-even at 9 decimals on every surface (usage, customer page, top users, revenue, overview)', async () => {
    const call = api(server.url, (await createCreatorWithKey(server.rt)).apiKey);
    // Both figures are accepted (decimal strings, 9 decimals, below 10^18).
    const quantity = '123456789012345678.123456789';
    const price = '98765432109876.123456789';
    const meter = await createMeter(call, {
      event_name: 'bytes',
      display_name: 'Bytes',
      aggregation_type: 'sum',
      unit_name: 'bytes',
      plan_limits: [{ plan_name: 'p', limit_value: '0', overage_price: price }],
    });
    expect((await call('PUT', '/api/usage/customers/a', { plan_name: 'p' })).status).toBe(201);
    const tracked = await call('POST', '/api/usage/track', { event_name: 'bytes', user_id: 'a', value: quantity, timestamp: '2026-10-05T00:00:00Z' });
    expect(tracked.status, tracked.text).toBe(201);
    expect(tracked.json.usage).toMatchObject({ used: quantity, limit: '0', remaining: `-${quantity}` });

    const exact = r9(new X(quantity).times(price)); // 12193263113702127624295404543089.565297685
    const usage = (await call('GET', '/api/usage/customers/a/usage')).json.meters[0];
    const page = (await trpcQuery(call, 'customers.get', { user_id: 'a' })).meters[0];
    const top = (await trpcQuery(call, 'customers.top', { meter_id: meter.id })).customers[0];
    const revenue = await trpcQuery(call, 'revenue.overview');
    const overview = await trpcQuery(call, 'insights.overview');
    expect(usage.overage_quantity).toBe(quantity);
    // (decimal.js at 40 significant digits lost the 9th decimal on every surface but the
    // overview, which multiplies in Postgres: …089.56529768.)
    expect({
      usage: usage.overage_amount,
      customer_page: page.overage_amount,
      top_users: top.overage_amount,
      revenue_total: revenue.totals.amount_so_far,
      revenue_meter: revenue.meters[0].amount_so_far,
      overview: overview.overage.amount,
    }).toEqual({ usage: exact, customer_page: exact, top_users: exact, revenue_total: exact, revenue_meter: exact, overview: exact });
  });
});

describe('overage amount of a duration meter whose quantity is rounded', () => {
  it('is overage_quantity × overage_price, as Stripe (sent the rounded total) bills it', async () => {
    // Minutes, 1 included, then 1,000,000 per minute. Two events of 60.000000001 s.
    const c = await createLinkedMeter(stripeServer, fake, {
      event_name: 'watch',
      display_name: 'Watch',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'ov', limit_value: 1, overage_price: 1000000 }],
    });
    for (let i = 0; i < 2; i++) {
      const tracked = await c.call('POST', '/api/usage/track', { event_name: 'watch', user_id: 's1', value: '60.000000001', timestamp: '2026-10-05T00:00:00Z' });
      expect(tracked.status, tracked.text).toBe(201);
    }
    await syncToStripe(c.call);
    const usage = (await c.call('GET', '/api/usage/customers/s1/usage')).json.meters[0];
    // Shown: 2 minutes used, 1 beyond the limit; Stripe holds exactly the 2 minutes shown.
    expect(usage).toMatchObject({ used: '2', limit: '1', remaining: '-1', overage_quantity: '1' });
    expect(c.sent().reduce((a, v) => a.plus(v), new X(0)).toFixed()).toBe('2');
    // So the money owed is 1 × 1,000,000 — what Stripe bills on the quantity it holds (the
    // unrounded 1.000000000033… minutes priced gave 1000000.000033333).
    const billed = r9(new X(usage.overage_quantity).times('1000000'));
    const page = (await trpcQuery(c.call, 'customers.get', { user_id: 's1' })).meters[0];
    const revenue = await trpcQuery(c.call, 'revenue.overview');
    expect({ usage: usage.overage_amount, customer_page: page.overage_amount, revenue: revenue.totals.amount_so_far }).toEqual({
      usage: billed,
      customer_page: billed,
      revenue: billed,
    });
  });
});
