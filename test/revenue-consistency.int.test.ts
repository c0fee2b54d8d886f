import { describe, expect, it, onTestFinished } from 'vitest';
import { createSession } from '../server/services/sessions.js';
import { D } from '../server/services/decimal.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { startTestServer, useClockedServer } from './harness/server.js';

/**
 * The revenue figures agree with the rest of the dashboard (from a review, 2026-11-27: each of
 * these failed on the code before its fix). June 2026 has 30 days; the 16th at midnight is halfway.
 */
const HALF_JUNE = new Date('2026-06-16T00:00:00Z');
const { url } = await useTestDatabase();
const { server, setNow } = useClockedServer(url, HALF_JUNE);

async function creator() {
  const { apiKey, creator } = await createCreatorWithKey(server().rt);
  return { call: api(server().url, apiKey), creator };
}

describe('overage so far: one figure, wherever the dashboard shows it', () => {
  it('the revenue page’s overage so far equals the overview’s and the sum of what each customer’s usage answer says they owe', async () => {
    setNow(HALF_JUNE);
    const { call } = await creator();
    // Given: render time in minutes, 1 minute included on pro, then 1 per minute.
    await createMeter(call, {
      event_name: 'render',
      display_name: 'Render',
      aggregation_type: 'duration',
      unit_name: 'minutes',
      plan_limits: [{ plan_name: 'pro', limit_value: 1, overage_price: 1 }],
    });
    // When: three customers each render 61 seconds (1/60 of a minute over: 0.0166…).
    for (const u of ['a', 'b', 'c']) {
      expect((await call('PUT', `/api/usage/customers/${u}`, { plan_name: 'pro' })).status).toBe(201);
      expect((await call('POST', '/api/usage/track', { event_name: 'render', user_id: u, value: 61 })).status).toBe(201);
    }
    const owed = [];
    for (const u of ['a', 'b', 'c']) owed.push((await call('GET', `/api/usage/customers/${u}/usage`)).json.meters[0].overage_amount as string);
    const sumOfCustomers = owed.reduce((acc, a) => acc.plus(a), new D(0)).toFixed();
    const revenue = await trpcQuery(call, 'revenue.overview', undefined as never);
    const insights = await trpcQuery(call, 'insights.overview', undefined as never);

    // Then: each customer owes 0.016666667 (their usage answer), 0.050000001 together; the
    // overview page and the revenue page say the same exact amount (both show up to 9 decimals).
    // The revenue page said 0.05: it rounded the sum of unrounded overages, where the overview
    // and the usage answers round each customer's amount first.
    expect(owed).toEqual(['0.016666667', '0.016666667', '0.016666667']);
    expect(insights.overage.amount).toBe(sumOfCustomers);
    expect(revenue.totals.amount_so_far).toBe(insights.overage.amount);
  });
});

describe('the revenue page says what its counts are', () => {
  it('a customer beyond the limits of two meters is one customer — the headline does not call that count “customer × meter pairs”', async () => {
    const dash = await startTestServer(url, { pages: true });
    onTestFinished(() => dash.close());
    const { creator: owner, apiKey } = await createCreatorWithKey(dash.rt);
    const call = api(dash.url, apiKey);
    // Given: one customer over the pro limit of two meters (two customer × meter pairs).
    await createMeter(call, { event_name: 'calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls', plan_limits: [{ plan_name: 'pro', limit_value: 1, overage_price: 1 }] });
    await createMeter(call, { event_name: 'seats', display_name: 'Seats', aggregation_type: 'max', unit_name: 'seats', plan_limits: [{ plan_name: 'pro', limit_value: 1, overage_price: 1 }] });
    expect((await call('PUT', '/api/usage/customers/ann', { plan_name: 'pro' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', [
      { event_name: 'calls', user_id: 'ann' },
      { event_name: 'calls', user_id: 'ann' },
      { event_name: 'seats', user_id: 'ann', value: 3 },
    ])).status).toBe(200);
    const revenue = await trpcQuery(call, 'revenue.overview', undefined as never);
    // The API counts ann once (README: "counts once however many meters put them there").
    expect(revenue.totals.customers_in_overage).toBe(1);

    const { sessionToken } = await createSession(dash.rt, { creatorId: owner.id, ip: null, userAgent: null });
    const page = await fetch(`${dash.url}/creator/dashboard/usage/revenue`, { headers: { cookie: `staryer_session=${sessionToken}` } });
    expect(page.status).toBe(200);
    const text = (await page.text()).replace(/<!-- -->/g, '');
    const caption = (testId: string) => new RegExp(`data-testid="${testId}">.*?<p class="mt-1 text-tremor-label text-tremor-content">(.*?)</p>`).exec(text)?.[1];
    // The count and its label agree: one customer (it was labelled "1 customer × meter", a pair).
    expect(caption('revenue-so-far')).toBe('1 customer over a limit');
    expect(caption('revenue-projected')).toBe('1 customer on course to pass a limit');
  });
});
