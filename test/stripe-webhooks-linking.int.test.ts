import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { sendStripeWebhook, stripeEvent } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { useServerWithFakeStripe } from './harness/stripe-linked.js';

/** Inbound Stripe subscription events and customers linked to Stripe (from a review, 2026-11-27: each failed on the code before its fix). */

const { url } = await useTestDatabase();
const { server, fake } = useServerWithFakeStripe(url);

const SECRET_A = 'whsec_reviewSecretA0123456789';

async function creatorWithStripe(webhookSecret: string) {
  const { apiKey, creator } = await createCreatorWithKey(server().rt);
  const call = api(server().url, apiKey);
  const secretKey = `sk_test_rv${creator.id.replace(/-/g, '')}`;
  const settings = await call('PUT', '/api/usage/settings/stripe', { secret_key: secretKey, webhook_secret: webhookSecret });
  expect(settings.status, settings.text).toBe(200);
  await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'count' });
  const stripe = new Stripe(secretKey, { host: fake().host, port: fake().port, protocol: 'http' });
  return { creator, call, stripe, endpoint: server().url + settings.json.webhook_path };
}

const withAnchor = (subscription: Record<string, any>, anchor: Date) => ({
  ...subscription,
  status: 'active',
  billing_cycle_anchor: anchor.getTime() / 1000,
  items: { ...subscription.items, data: subscription.items.data.map((item: Record<string, unknown>) => ({ ...item, current_period_start: anchor.getTime() / 1000, current_period_end: anchor.getTime() / 1000 + 30 * 86400 })) },
});

const periodStartOf = async (call: ReturnType<typeof api>, user: string) => (await call('GET', `/api/usage/customers/${user}/usage`)).json.period_start as string;
const daysAgo = (n: number) => new Date(Math.floor((Date.now() - n * 86400_000) / 1000) * 1000);

describe('Stripe subscription events and linked customers', () => {
  it('two customers of one creator linked to the same Stripe customer (an organisation billed together): both follow Stripe’s anchor', async () => {
    const a = await creatorWithStripe(SECRET_A);
    const cus = await a.stripe.customers.create({ email: 'org@example.com' });
    const sub = (await a.stripe.subscriptions.create({ customer: cus.id, items: [{ price: 'price_metered' }] })) as unknown as Record<string, any>;
    expect((await a.call('PUT', '/api/usage/customers/member-1', { stripe_customer_id: cus.id })).status).toBe(201);
    expect((await a.call('PUT', '/api/usage/customers/member-2', { stripe_customer_id: cus.id })).status).toBe(201);
    const anchor = daysAgo(4);
    expect((await sendStripeWebhook(a.endpoint, SECRET_A, stripeEvent('customer.subscription.updated', withAnchor(sub, anchor)))).json.outcome).toBe('applied');
    // Every customer billed through that Stripe customer has Stripe's period (one of them kept the
    // old one: its reports went into periods Stripe does not have).
    expect([await periodStartOf(a.call, 'member-1'), await periodStartOf(a.call, 'member-2')]).toEqual([anchor.toISOString(), anchor.toISOString()]);
  });

  it('an event of another subscription of the same Stripe customer does not move the anchor of the subscription linked by stripe_subscription_items', async () => {
    const a = await creatorWithStripe(SECRET_A);
    const cus = await a.stripe.customers.create({ email: 'two-subs@example.com' });
    const metered = (await a.stripe.subscriptions.create({ customer: cus.id, items: [{ price: 'price_metered' }] })) as unknown as Record<string, any>;
    const addOn = (await a.stripe.subscriptions.create({ customer: cus.id, items: [{ price: 'price_metered' }] })) as unknown as Record<string, any>;
    const meteredItem = metered.items.data[0].id as string;
    expect((await a.call('PUT', '/api/usage/customers/u', { stripe_customer_id: cus.id, stripe_subscription_items: { calls: meteredItem } })).status).toBe(201);
    const anchor = daysAgo(5);
    const now = Math.floor(Date.now() / 1000);
    expect((await sendStripeWebhook(a.endpoint, SECRET_A, stripeEvent('customer.subscription.updated', withAnchor(metered, anchor), now - 20))).json.outcome).toBe('applied');
    expect(await periodStartOf(a.call, 'u')).toBe(anchor.toISOString());
    // The add-on subscription (no item of ours) is updated later, with its own anchor.
    const other = await sendStripeWebhook(a.endpoint, SECRET_A, stripeEvent('customer.subscription.updated', withAnchor(addOn, daysAgo(12)), now - 5));
    expect(other.json.outcome).toBe('other_subscription');
    // The meter is billed on the metered subscription, whose period did not change (the add-on's moved it).
    expect(await periodStartOf(a.call, 'u')).toBe(anchor.toISOString());
  });
});
