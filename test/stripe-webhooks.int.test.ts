import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { sendStripeWebhook, stripeEvent } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';
import { subscriptionWithPeriod, useServerWithFakeStripe } from './harness/stripe-linked.js';

/**
 * Stripe's customer.subscription.* webhooks keep a customer's billing period on Stripe's:
 * verified with the SDK, once per event id, stale (older) events ignored, tampered or old
 * deliveries refused with 400.
 */

const { url } = await useTestDatabase();
const { server, fake } = useServerWithFakeStripe(url);

const WEBHOOK_SECRET = 'whsec_testSigningSecret0123456789';

async function setup(target: TestServer = server()) {
  const { apiKey, creator } = await createCreatorWithKey(target.rt);
  const call = api(target.url, apiKey);
  const secretKey = `sk_test_wh${creator.id.replace(/-/g, '')}`;
  const settings = await call('PUT', '/api/usage/settings/stripe', { secret_key: secretKey, webhook_secret: WEBHOOK_SECRET });
  expect(settings.status, settings.text).toBe(200);
  expect(settings.json).toMatchObject({ webhook_configured: true, webhook_path: `/api/stripe/webhooks/${creator.id}` });
  expect(settings.text).not.toContain(WEBHOOK_SECRET);
  const stripe = new Stripe(secretKey, { host: fake().host, port: fake().port, protocol: 'http' });
  const customer = await stripe.customers.create({ email: 'sub@example.com' });
  await call('PUT', '/api/usage/customers/sub-user', { stripe_customer_id: customer.id });
  await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' });
  const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_metered' }] });
  return { call, endpoint: target.url + settings.json.webhook_path, subscription: subscription as unknown as Record<string, any> };
}


const periodStartOf = async (call: ReturnType<typeof api>) => (await call('GET', '/api/usage/customers/sub-user/usage')).json.period_start as string;

describe('Stripe subscription webhooks', () => {
  it('created/updated move the customer’s period to Stripe’s; a redelivery changes nothing; an older event is stale', async () => {
    const { call, endpoint, subscription } = await setup();
    const now = Date.now();
    const start = new Date(Math.floor((now - 3 * 86400_000) / 1000) * 1000);
    const end = new Date(start.getTime() + 30 * 86400_000);
    const created = stripeEvent('customer.subscription.created', subscriptionWithPeriod(subscription, start, end), Math.floor(now / 1000) - 60);
    expect(await sendStripeWebhook(endpoint, WEBHOOK_SECRET, created)).toMatchObject({ status: 200, json: { outcome: 'applied' } });
    expect(await periodStartOf(call)).toBe(start.toISOString());
    // The same event again (Stripe delivers at least once).
    expect(await sendStripeWebhook(endpoint, WEBHOOK_SECRET, created)).toMatchObject({ status: 200, json: { outcome: 'duplicate' } });

    // A newer update moves the period; an older one arriving after it is ignored.
    const start2 = new Date(start.getTime() - 86400_000);
    const newer = stripeEvent('customer.subscription.updated', subscriptionWithPeriod(subscription, start2, new Date(start2.getTime() + 30 * 86400_000)), Math.floor(now / 1000) - 10);
    const older = stripeEvent('customer.subscription.updated', subscriptionWithPeriod(subscription, start, end, 'past_due'), Math.floor(now / 1000) - 30);
    expect((await sendStripeWebhook(endpoint, WEBHOOK_SECRET, newer)).json.outcome).toBe('applied');
    expect((await sendStripeWebhook(endpoint, WEBHOOK_SECRET, older)).json.outcome).toBe('stale');
    expect(await periodStartOf(call)).toBe(start2.toISOString());
    const deleted = stripeEvent('customer.subscription.deleted', subscriptionWithPeriod(subscription, start2, new Date(start2.getTime() + 30 * 86400_000), 'canceled'));
    expect((await sendStripeWebhook(endpoint, WEBHOOK_SECRET, deleted)).json.outcome).toBe('applied');
  });

  it('a signed event whose fields are not of Stripe’s types → 400 problem naming the field, nothing changed (a customer of 123 answered 500)', async () => {
    const { call, endpoint, subscription } = await setup();
    const before = await periodStartOf(call);
    const start = new Date(Math.floor((Date.now() - 3 * 86400_000) / 1000) * 1000);
    const good = subscriptionWithPeriod(subscription, start, new Date(start.getTime() + 30 * 86400_000));
    for (const [field, object] of [
      ['customer', { ...good, customer: 123 }],
      ['billing_cycle_anchor', { ...good, billing_cycle_anchor: 'notanumber' }],
      ['current_period_end', { ...good, items: { data: [{ ...good.items.data[0], current_period_end: 1e20 }] } }],
    ] as const) {
      const answer = await sendStripeWebhook(endpoint, WEBHOOK_SECRET, stripeEvent('customer.subscription.updated', object as Record<string, unknown>));
      expect(answer.status, field).toBe(400);
      expect(answer.json).toMatchObject({ type: 'https://staryer.dev/problems/malformed-stripe-event', status: 400 });
      expect(answer.json.detail, field).toContain(field);
    }
    expect(await periodStartOf(call)).toBe(before);
    // The well-formed event is then taken: none of the refused ones was recorded as seen.
    expect((await sendStripeWebhook(endpoint, WEBHOOK_SECRET, stripeEvent('customer.subscription.updated', good))).json.outcome).toBe('applied');
  });

  it('a month-end subscription keeps Stripe’s periods: anchored on the 31st, not on a period start of the 30th or 28th', async () => {
    // Our clock: the day before Stripe's Dec 31 renewal, then on through February and March.
    let now = new Date('2026-12-30T12:00:00.000Z');
    const clocked = await startTestServer(url, { env: { STRIPE_API_BASE: fake().url }, now: () => now });
    try {
      const { call, endpoint, subscription } = await setup(clocked);
      // Given the Nov 30 renewal of a subscription anchored on Jan 31: Stripe's period is Nov 30 → Dec 31
      const renewal = subscriptionWithPeriod(subscription, new Date('2026-11-30T09:00:00Z'), new Date('2026-12-31T09:00:00Z'), 'active', new Date('2026-01-31T09:00:00Z'));
      expect((await sendStripeWebhook(endpoint, WEBHOOK_SECRET, stripeEvent('customer.subscription.updated', renewal))).json.outcome).toBe('applied');
      // Then on Dec 30 the customer is still in Stripe's period, not in one from Dec 30
      const periodOf = async () => {
        const usage = (await call('GET', '/api/usage/customers/sub-user/usage')).json;
        return [usage.period_start, usage.period_end];
      };
      expect(await periodOf()).toEqual(['2026-11-30T09:00:00.000Z', '2026-12-31T09:00:00.000Z']);
      // And later periods keep the 31st, clamped to short months, as Stripe's do
      now = new Date('2027-02-15T00:00:00.000Z');
      expect(await periodOf()).toEqual(['2027-01-31T09:00:00.000Z', '2027-02-28T09:00:00.000Z']);
      now = new Date('2027-03-30T12:00:00.000Z');
      expect(await periodOf()).toEqual(['2027-02-28T09:00:00.000Z', '2027-03-31T09:00:00.000Z']);
    } finally {
      await clocked.close();
    }
  });

  it('refuses tampered bodies, wrong secrets, old timestamps and missing signatures with 400', async () => {
    const { call, endpoint, subscription } = await setup();
    const before = await periodStartOf(call);
    const event = () => stripeEvent('customer.subscription.updated', subscriptionWithPeriod(subscription, new Date('2026-01-05T00:00:00Z'), new Date('2026-02-05T00:00:00Z')));
    expect((await sendStripeWebhook(endpoint, WEBHOOK_SECRET, event(), { tamper: true })).status).toBe(400);
    expect((await sendStripeWebhook(endpoint, 'whsec_someoneElse0123456789', event())).status).toBe(400);
    expect((await sendStripeWebhook(endpoint, WEBHOOK_SECRET, event(), { timestamp: Math.floor(Date.now() / 1000) - 600 })).status).toBe(400);
    const unsigned = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event()) });
    expect(unsigned.status).toBe(400);
    expect((await sendStripeWebhook(`${server().url}/api/stripe/webhooks/not-a-creator`, WEBHOOK_SECRET, event())).status).toBe(400);
    expect(await periodStartOf(call)).toBe(before);
  });
});
