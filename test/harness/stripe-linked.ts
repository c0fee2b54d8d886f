import Stripe from 'stripe';
import { afterAll, beforeAll, expect } from 'vitest';
import { startFakeStripe, type FakeStripe } from '../fakes/stripe-server.js';
import { api, createCreatorWithKey } from './fixtures.js';
import { startTestServer, type TestServer } from './server.js';

/**
 * For the whole test file: a fake Stripe, and a test server whose Stripe calls go to it
 * (STRIPE_API_BASE). The getters answer once both are up (inside a test).
 */
/**
 * A fake Stripe and a server using it, on a clock of the test's (`now`, the fake's too): short
 * Stripe timeouts, and meter summaries that include an event as soon as it is taken.
 */
export async function startServerWithFakeStripe(dbUrl: string, options: { now: () => Date; pages?: boolean }): Promise<{ server: TestServer; fake: FakeStripe }> {
  const fake = await startFakeStripe();
  fake.setNow(options.now);
  const server = await startTestServer(dbUrl, { env: { STRIPE_API_BASE: fake.url, STRIPE_TIMEOUT_MS: '300', STRIPE_SUMMARY_LAG_MS: '0' }, now: options.now, pages: options.pages });
  return { server, fake };
}

/** The sum meter `calls` with an overage plan `ov` (1,000, then 0.01 each) that Stripe tests link. */
export const LINKED_CALLS_METER = {
  event_name: 'calls',
  display_name: 'Calls',
  aggregation_type: 'sum',
  unit_name: 'calls',
  plan_limits: [{ plan_name: 'ov', limit_value: 1000, overage_price: 0.01 }],
};

export function useServerWithFakeStripe(dbUrl: string): { server: () => TestServer; fake: () => FakeStripe } {
  let fake: FakeStripe | undefined;
  let server: TestServer | undefined;
  beforeAll(async () => {
    fake = await startFakeStripe();
    // The fake's meter summaries include an event as soon as it is taken (Stripe's lag behind; STRIPE_SUMMARY_LAG_MS).
    server = await startTestServer(dbUrl, { env: { STRIPE_API_BASE: fake.url, STRIPE_SUMMARY_LAG_MS: '0' } });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the fake Stripe and its server are not started yet (use them inside a test)');
    return value;
  };
  return { server: () => started(server), fake: () => started(fake) };
}

/**
 * A creator linked to the fake Stripe by secret key, with one meter linked to a Stripe
 * meter and one customer `s1` on plan `ov` linked to a Stripe customer.
 */
export async function createLinkedMeter(server: TestServer, fake: FakeStripe, meter: Record<string, unknown>) {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  const secretKey = `sk_test_q${creator.id.replace(/-/g, '')}`;
  const stripe = new Stripe(secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
  expect((await call('PUT', '/api/usage/settings/stripe', { secret_key: secretKey })).status).toBe(200);
  const created = await call('POST', '/api/usage/meters', meter);
  expect(created.status, created.text).toBe(201);
  const linked = await call('POST', `/api/usage/meters/${created.json.id}/stripe-meter`);
  expect(linked.status, linked.text).toBe(200);
  const customer = await stripe.customers.create({ email: 's1@example.com' });
  expect((await call('PUT', '/api/usage/customers/s1', { plan_name: 'ov', stripe_customer_id: customer.id })).status).toBe(201);
  const account = `key:${secretKey}`;
  const eventName = linked.json.stripe_meter_event_name as string;
  return {
    call,
    meterId: created.json.id as string,
    /** The fake's account key of this creator's Stripe. */
    account,
    /** Every meter event value the fake applied for this creator, oldest first. */
    sent: () => fake.events.filter((e) => e.account === account).map((e) => e.value),
    /** What the fake Stripe holds for s1 on this meter. */
    stripeTotal: () => fake.total({ account, eventName, customer: customer.id }),
    /** s1's Stripe customer, and the creator's Stripe (its own key) through the real SDK. */
    stripeCustomerId: customer.id,
    stripe,
  };
}

/** POST /api/usage/billing/sync; every pair must end reported or up to date. */
export async function syncToStripe(call: ReturnType<typeof api>) {
  const synced = await call('POST', '/api/usage/billing/sync');
  expect(synced.status, synced.text).toBe(200);
  expect(synced.json).toMatchObject({ failed: 0, pending: 0, unknown: 0 });
  return synced.json;
}

/**
 * A Stripe subscription (as the fake returns it) with its items' current period moved to
 * [start, end) and anchored on `anchor` (default: the period's start): the object of a
 * `customer.subscription.*` webhook that moves a customer's billing period.
 */
export const subscriptionWithPeriod = (subscription: Record<string, any>, start: Date, end: Date, status = 'active', anchor = start) => ({
  ...subscription,
  status,
  billing_cycle_anchor: anchor.getTime() / 1000,
  items: { ...subscription.items, data: subscription.items.data.map((item: Record<string, unknown>) => ({ ...item, current_period_start: start.getTime() / 1000, current_period_end: end.getTime() / 1000 })) },
});
