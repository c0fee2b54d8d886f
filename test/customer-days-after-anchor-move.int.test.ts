import Stripe from 'stripe';
import { describe, expect, it, onTestFinished } from 'vitest';
import { sendStripeWebhook, stripeEvent } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey, createMeter, trpcQuery } from './harness/fixtures.js';
import { applyRollupJobs } from './harness/rollups.js';
import { startServerWithFakeStripe, subscriptionWithPeriod } from './harness/stripe-linked.js';

/**
 * The customer page's day bars after Stripe moved the billing anchor mid-period: the days the
 * old period runs into this one show what this period metered on them, as every other surface
 * counts it (the usage answer, Top users, the overview), not the old period's events too.
 */
const { url } = await useTestDatabase();
const WEBHOOK_SECRET = 'whsec_reviewSigningSecret0123456789';

describe('the customer page after Stripe moved the billing anchor mid-period', () => {
  it('this period’s day bars hold this period’s usage only: they add up to the period’s used, not to the old period’s usage too', async () => {
    let now = new Date('2026-06-16T12:00:00Z');
    const { server, fake } = await startServerWithFakeStripe(url, { now: () => now });
    onTestFinished(async () => {
      await server.close();
      await fake.close();
    });
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    const secretKey = `sk_test_rv${creator.id.replace(/-/g, '')}`;
    const settings = await call('PUT', '/api/usage/settings/stripe', { secret_key: secretKey, webhook_secret: WEBHOOK_SECRET });
    expect(settings.status, settings.text).toBe(200);
    const stripe = new Stripe(secretKey, { host: fake.host, port: fake.port, protocol: 'http' });
    const meter = await createMeter(call, {
      event_name: 'calls',
      display_name: 'Calls',
      aggregation_type: 'count',
      unit_name: 'calls',
      plan_limits: [{ plan_name: 'pro', limit_value: 100, overage_price: 1 }],
    });
    const peak = await createMeter(call, { event_name: 'peak', display_name: 'Peak', aggregation_type: 'max', unit_name: 'seats' });
    const customer = await stripe.customers.create({ email: 'ann@example.com' });
    expect((await call('PUT', '/api/usage/customers/ann', { plan_name: 'pro', stripe_customer_id: customer.id })).status).toBe(201);
    const subscription = (await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_metered' }] })) as unknown as Record<string, any>;

    // Given: ann (calendar months) makes 3 calls on 16 June, in her period 1 June – 1 July
    for (let i = 0; i < 3; i++) expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);
    // and a peak of 9 seats (a max meter: its day is the largest value, not a sum to take apart).
    expect((await call('POST', '/api/usage/track', { event_name: 'peak', user_id: 'ann', value: 9 })).status).toBe(201);
    // When: Stripe moves her period to 10 June – 10 July (a subscription anchored on the 10th), and she makes 2 more calls that day
    const start = new Date('2026-06-10T00:00:00Z');
    const end = new Date('2026-07-10T00:00:00Z');
    const moved = subscriptionWithPeriod(subscription, start, end);
    const hook = await sendStripeWebhook(`${server.url}/api/stripe/webhooks/${creator.id}`, WEBHOOK_SECRET, stripeEvent('customer.subscription.updated', moved));
    expect(hook.json?.outcome).toBe('applied');
    now = new Date('2026-06-16T13:00:00Z');
    for (let i = 0; i < 2; i++) expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann' })).status).toBe(201);
    for (const value of [4, 5]) expect((await call('POST', '/api/usage/track', { event_name: 'peak', user_id: 'ann', value })).status).toBe(201);
    await applyRollupJobs(server.rt, creator.id);

    // Then: her usage answer, Top users, the overview and the customer page's figures say 2 calls this period
    // (README, Top users: "after Stripe moved a customer's billing anchor mid-period, the new period
    // only: the old one's usage stays its own, never counted twice"); the old period's 3 are history.
    const usage = await call('GET', '/api/usage/customers/ann/usage');
    expect(usage.json).toMatchObject({ period_start: '2026-06-10T00:00:00.000Z' });
    expect(usage.json.meters[0]).toMatchObject({ used: '2' });
    const detail = await trpcQuery(call, 'customers.get', { user_id: 'ann' });
    expect(detail.meters.find((m: { meter_id: string }) => m.meter_id === meter.id)).toMatchObject({ used: '2', event_count: 2 });
    expect(detail.meters.find((m: { meter_id: string }) => m.meter_id === peak.id)).toMatchObject({ used: '5', event_count: 2 });
    const history = detail.history.map((h: { meter_id: string; period_start: string; used: string }) => [h.meter_id, h.period_start, h.used]);
    expect(history).toEqual(expect.arrayContaining([[meter.id, '2026-06-01T00:00:00.000Z', '3'], [peak.id, '2026-06-01T00:00:00.000Z', '9']]));
    expect(history).toHaveLength(2);
    // The page's "this period's days" chart: the days of 10 June – 10 July, with what this period
    // metered on each. As the period's first day is cut to the period's part (periodsFirstDay:
    // "its bar is this period's part of the day only"), 16 June is this period's 2 calls — the 3
    // calls of 1 June – 1 July are that period's, shown in its history bar.
    // (The day rollup of 16 June holds 5: both periods' events.)
    const daily = (id: string) => detail.daily.filter((d: { meter_id: string }) => d.meter_id === id).map((d: { day: string; used: string; event_count: number }) => [d.day, d.used, d.event_count]);
    expect(daily(meter.id)).toEqual([['2026-06-16T00:00:00.000Z', '2', 2]]);
    // The peak of this period's part of 16 June is 5, not the old period's 9.
    expect(daily(peak.id)).toEqual([['2026-06-16T00:00:00.000Z', '5', 2]]);
  });
});
