/**
 * The Billing page shows licensed meters (ADR 0013, licensed meters): per customer, our
 * quantity and the subscription item quantity set in Stripe, and what to do for a customer
 * without a subscription item; such a meter is not offered a Stripe meter.
 */
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from './fakes/stripe-server.js';
import { loginThroughForm } from './harness/dashboard.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

const { url } = await useTestDatabase();
let fake: FakeStripe;
let server: TestServer;

beforeAll(async () => {
  fake = await startFakeStripe();
  server = await startTestServer(url, {
    pages: true,
    env: { STRIPE_API_BASE: fake.url, STRIPE_TIMEOUT_MS: '300', AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000' },
  });
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});

const PAGE = '/creator/dashboard/usage/billing';

/** The page's visible text, tags dropped (React's <!-- --> separators too), entities decoded. */
const text = (html: string) =>
  html
    .replace(/<script[\s\S]*?<\/script>/g, ' ')
    .replace(/<!-- -->/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');

describe('the Billing page: licensed meters', () => {
  it('lists our quantity and the quantity set in Stripe per customer, the next step for a customer without a subscription item, and offers no Stripe meter', async () => {
    const password = 'a sound passphrase';
    const { creator, apiKey, email } = await createCreatorWithKey(server.rt, { password });
    const call = api(server.url, apiKey);
    const cookie = await loginThroughForm(server.url, email, password);
    const secretKey = `sk_test_lpage${creator.id.replace(/-/g, '')}`;
    const stripe = new Stripe(secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    expect((await call('PUT', '/api/usage/settings/stripe', { secret_key: secretKey })).status).toBe(200);
    const meter = await call('POST', '/api/usage/meters', { event_name: 'seats', display_name: 'Seats', aggregation_type: 'max', unit_name: 'seats', billing_model: 'licensed' });
    expect(meter.status, meter.text).toBe(201);
    const customer = await stripe.customers.create({ email: 'ann@example.com' });
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_seats', quantity: 1 }] });
    const si = subscription.items.data[0]!.id;
    expect((await call('PUT', '/api/usage/customers/ann', { stripe_customer_id: customer.id, stripe_subscription_items: { seats: si } })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'ann', value: '2.5' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: 'bob', value: 4 })).status).toBe(201);
    expect((await call('POST', '/api/usage/billing/sync')).json).toMatchObject({ reported: 1, failed: 0 });

    const r = await fetch(server.url + PAGE, { headers: { cookie } });
    expect(r.status).toBe(200);
    const html = await r.text();
    const shown = text(html);
    expect(shown).toContain('Licensed meters');
    expect(html.match(/data-testid="licensed-row"/g)).toHaveLength(2);
    // ann: 2.5 seats used → 3 set in Stripe
    expect(shown).toMatch(new RegExp(`ann seats ${si} 3 2\\.5 used, rounded up 3 .*In sync`));
    // bob: no subscription item — what to do
    expect(shown).toContain('No subscription item');
    expect(shown).toContain('Give this customer stripe_subscription_items.seats');
    // The meter is not offered a Stripe meter
    expect(html).toContain('data-testid="stripe-meter-licensed"');
    expect(shown).not.toMatch(/Create in Stripe for Seats/);
  });

  it('past five customers of a meter without a subscription item, they are one row with the next step once (142 such rows made the page 26,000 px tall)', async () => {
    const password = 'a sound passphrase';
    const { creator, apiKey, email } = await createCreatorWithKey(server.rt, { password });
    const call = api(server.url, apiKey);
    const cookie = await loginThroughForm(server.url, email, password);
    expect((await call('PUT', '/api/usage/settings/stripe', { secret_key: `sk_test_lfold${creator.id.replace(/-/g, '')}` })).status).toBe(200);
    expect((await call('POST', '/api/usage/meters', { event_name: 'seats', display_name: 'Seats', aggregation_type: 'max', unit_name: 'seats', billing_model: 'licensed' })).status).toBe(201);
    const users = Array.from({ length: 12 }, (_, i) => `member_${String(i).padStart(2, '0')}`);
    for (const user of users) expect((await call('POST', '/api/usage/track', { event_name: 'seats', user_id: user, value: 2 })).status).toBe(201);
    // The status API still lists every one.
    expect((await call('GET', '/api/usage/billing/status')).json.licensed).toHaveLength(12);

    const html = await (await fetch(server.url + PAGE, { headers: { cookie } })).text();
    const shown = text(html);
    expect(html.match(/data-testid="licensed-row"/g)).toBeNull();
    expect(html.match(/data-testid="licensed-no-item-summary"/g)).toHaveLength(1);
    expect(shown).toContain('12 customers have usage of seats and no subscription item for it');
    expect(shown).toContain(`${users.slice(0, 10).join(', ')} and 2 more.`);
    expect(shown.match(/Give each one stripe_subscription_items\.seats/g)).toHaveLength(1);
    expect(shown).not.toContain('Give this customer stripe_subscription_items.seats');
  });
});
