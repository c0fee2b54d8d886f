import { sql } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Licensed meters (billing_model "licensed", ADR 0013 amendment): billed in Stripe by a
 * subscription item's quantity (seats), not by meter events. A report sets each customer's
 * `stripe_subscription_items[<event_name>]` to the current period's usage, rounded up, only
 * when it changed — through the real SDK against the fake Stripe.
 */
const { url } = await useTestDatabase();
const PLATFORM_KEY = 'sk_test_platformLICENSED0123456789';
let fake: FakeStripe;
let server: TestServer;
let clock = new Date('2026-11-10T12:00:00Z');

beforeAll(async () => {
  fake = await startFakeStripe();
  fake.setNow(() => clock);
  server = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, STRIPE_SECRET_KEY: PLATFORM_KEY, STRIPE_TIMEOUT_MS: '300', STRIPE_SUMMARY_LAG_MS: '0' }, now: () => clock });
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});
afterEach(() => fake.clearFaults());

const SEATS = { event_name: 'seats', display_name: 'Seats', aggregation_type: 'max', unit_name: 'seats', billing_model: 'licensed' };

/**
 * A creator (its own key, or a Connect account with the platform key) with a licensed max
 * meter `seats`, and customer s1 on a Stripe subscription of one licensed price at quantity 1,
 * whose item is s1's stripe_subscription_items.seats.
 */
async function licensedCreator(options: { connect?: string } = {}) {
  const { apiKey, creator } = await createCreatorWithKey(server.rt);
  const call = api(server.url, apiKey);
  const secretKey = `sk_test_l${creator.id.replace(/-/g, '')}`;
  const stripeAccount = options.connect;
  if (stripeAccount) {
    expect((await call('GET', '/api/usage/settings/stripe')).status).toBe(200);
    // As Connect OAuth leaves it (test/billing.int.test.ts drives the flow itself).
    await server.rt.ownerDb.execute(sql`update creator_settings set stripe_connect_account_id = ${stripeAccount} where creator_id = ${creator.id}`);
  } else {
    expect((await call('PUT', '/api/usage/settings/stripe', { secret_key: secretKey })).status).toBe(200);
  }
  const stripe = new Stripe(stripeAccount ? PLATFORM_KEY : secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
  const opts = stripeAccount ? { stripeAccount } : {};
  const meter = await call('POST', '/api/usage/meters', SEATS);
  expect(meter.status, meter.text).toBe(201);
  const customer = await stripe.customers.create({ email: 's1@example.com' }, opts);
  const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_seats', quantity: 1 }] }, opts);
  const si = subscription.items.data[0]!.id;
  const put = await call('PUT', '/api/usage/customers/s1', { stripe_customer_id: customer.id, stripe_subscription_items: { seats: si } });
  expect(put.status, put.text).toBe(201);
  const account = stripeAccount ?? `key:${secretKey}`;
  return {
    call,
    meterId: meter.json.id as string,
    si,
    account,
    stripe,
    /** The item's quantity as Stripe holds it (GET /v1/subscription_items/{id} through the SDK). */
    stripeQuantity: async (item = si) => (await stripe.subscriptionItems.retrieve(item, {}, opts)).quantity,
    /** Quantity changes Stripe applied to this creator's items, oldest first. */
    updates: () => fake.quantityUpdates.filter((u) => u.account === account).map((u) => u.to),
    /** Calls to the item's update endpoint (each attempt, with its idempotency key). */
    itemCalls: (item = si) => fake.requests.filter((r) => r.method === 'POST' && r.path === `/v1/subscription_items/${item}`),
    meterEvents: () => fake.events.filter((e) => e.account === account),
    seats: async (value: number | string, userId = 's1') => {
      const tracked = await call('POST', '/api/usage/track', { event_name: 'seats', user_id: userId, value });
      expect(tracked.status, tracked.text).toBe(201);
    },
    sync: async () => {
      const synced = await call('POST', '/api/usage/billing/sync');
      expect(synced.status, synced.text).toBe(200);
      return synced.json;
    },
    licensedStatus: async () => {
      const status = await call('GET', '/api/usage/billing/status');
      expect(status.status, status.text).toBe(200);
      return status.json.licensed as Array<Record<string, unknown>>;
    },
  };
}

describe('licensed meters: a subscription item quantity, not meter events', () => {
  it('sets the item to the usage (seats), raises it when usage rises, sends nothing when unchanged, rounds a fraction up, and sends no meter event', async () => {
    clock = new Date('2026-11-10T12:00:00Z');
    const c = await licensedCreator();
    // What reporting asks of Stripe from here (saving the key read one page of Billing meters to check it).
    const sinceSetUp = fake.requests.length;
    // (linked to a Stripe meter as a licensed meter could be before linking one was refused)
    await server.rt.ownerDb.execute(sql`update usage_meters set stripe_meter_event_name = 'seats' where meter_id = ${c.meterId}`);
    // Given 3 seats in use
    await c.seats(3);
    // When the report runs
    expect(await c.sync()).toMatchObject({ reported: 1, failed: 0, pending: 0 });
    // Then Stripe's item holds 3, set prorated under an idempotency key, and no meter event was sent
    expect(await c.stripeQuantity()).toBe(3);
    expect(fake.quantityUpdates.filter((u) => u.account === c.account)).toEqual([expect.objectContaining({ subscriptionItem: c.si, from: 1, to: 3, prorationBehavior: 'create_prorations' })]);
    expect(c.itemCalls()[0]!.idempotencyKey).toMatch(/^sq_/);

    // Unchanged usage: nothing is sent
    expect(await c.sync()).toMatchObject({ reported: 0, up_to_date: 1 });
    expect(c.itemCalls()).toHaveLength(1);
    // Rising usage raises it; a lower event on a max meter changes nothing
    clock = new Date('2026-11-11T12:00:00Z');
    await c.seats(5);
    await c.seats(2);
    expect(await c.sync()).toMatchObject({ reported: 1 });
    expect(await c.stripeQuantity()).toBe(5);
    // A fractional usage is rounded up: Stripe quantities are whole
    await c.seats('6.2');
    expect(await c.sync()).toMatchObject({ reported: 1 });
    expect(await c.stripeQuantity()).toBe(7);
    expect(c.updates()).toEqual([3, 5, 7]);
    expect(c.itemCalls()).toHaveLength(3);

    // Never as meter events (not even linked), nor a Stripe meter looked up
    expect(c.meterEvents()).toEqual([]);
    expect(fake.requests.slice(sinceSetUp).filter((r) => r.path.startsWith('/v1/billing/') && r.authorization.includes(c.account.slice(4)))).toEqual([]);
    const status = await c.licensedStatus();
    expect(status).toEqual([
      expect.objectContaining({ user_id: 's1', meter_id: c.meterId, subscription_item_id: c.si, usage: '6.2', quantity: 7, stripe_quantity: 7, status: 'in_sync', next_step: null }),
    ]);
    expect((await c.call('GET', '/api/usage/billing/status')).json.rows).toEqual([]);

    // A new period with no usage yet keeps the last quantity (no drop to 0 at the boundary)…
    clock = new Date('2026-12-01T00:10:00Z');
    expect(await c.sync()).toMatchObject({ reported: 0, failed: 0, pending: 0 });
    expect(await c.stripeQuantity()).toBe(7);
    expect(c.itemCalls()).toHaveLength(3);
    expect(await c.licensedStatus()).toEqual([expect.objectContaining({ usage: null, quantity: null, stripe_quantity: 7, status: 'in_sync', period_start: '2026-12-01T00:00:00.000Z' })]);
    // …and once the period has usage, its quantity is set (the past period is not set again)
    await c.seats(2);
    expect(await c.sync()).toMatchObject({ reported: 1 });
    expect(await c.stripeQuantity()).toBe(2);
    expect(c.updates()).toEqual([3, 5, 7, 2]);
  });

  it('a Stripe call that fails is recorded (pending, with its message) and retried with the same idempotency key; a call applied but unanswered is not applied twice', async () => {
    clock = new Date('2026-11-12T12:00:00Z');
    const c = await licensedCreator();
    await c.seats(4);
    // Given Stripe answers 500 to every attempt of this run
    fake.inject({ kind: '500-before', pathPrefix: `/v1/subscription_items/${c.si}` });
    expect(await c.sync()).toMatchObject({ reported: 0, pending: 1 });
    expect(c.updates()).toEqual([]);
    const [row] = await c.licensedStatus();
    expect(row).toMatchObject({ quantity: 4, stripe_quantity: null, status: 'pending', last_error: expect.stringContaining('injected'), next_step: expect.stringContaining('same idempotency key') });
    expect(row!.attempts).toBeGreaterThan(0);
    const failedCalls = c.itemCalls();
    expect(failedCalls.length).toBeGreaterThan(0);

    // When Stripe is back: the next run resends the same quantity with the same key
    fake.clearFaults();
    expect(await c.stripeQuantity()).toBe(1);
    expect(await c.sync()).toMatchObject({ reported: 1, pending: 0 });
    const keys = new Set(c.itemCalls().map((r) => r.idempotencyKey));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^sq_/);
    expect(await c.stripeQuantity()).toBe(4);
    expect(c.updates()).toEqual([4]);
    expect(await c.licensedStatus()).toEqual([expect.objectContaining({ quantity: 4, stripe_quantity: 4, status: 'in_sync', last_error: null })]);

    // Applied, then answered 500: the resend (same key) gets Stripe's stored answer, not a second change
    await c.seats(6);
    fake.inject({ kind: '500-after', pathPrefix: `/v1/subscription_items/${c.si}`, times: 1 });
    expect(await c.sync()).toMatchObject({ reported: 1, pending: 0 });
    const last = c.itemCalls().slice(-2);
    expect(last.map((r) => r.status)).toEqual([500, 200]);
    expect(last[0]!.idempotencyKey).toBe(last[1]!.idempotencyKey);
    expect(last[1]!.idempotencyKey).not.toBe([...keys][0]);
    expect(c.updates()).toEqual([4, 6]);
    expect(await c.stripeQuantity()).toBe(6);
  });

  it('a refusal is recorded as failed with Stripe’s message and a next step', async () => {
    clock = new Date('2026-11-12T13:00:00Z');
    const c = await licensedCreator();
    expect((await c.call('PUT', '/api/usage/customers/s1', { stripe_subscription_items: { seats: 'si_DoesNotExist' } })).status).toBe(200);
    await c.seats(2);
    expect(await c.sync()).toMatchObject({ failed: 1 });
    expect(await c.licensedStatus()).toEqual([
      expect.objectContaining({
        subscription_item_id: 'si_DoesNotExist',
        quantity: 2,
        status: 'failed',
        last_error: expect.stringContaining('No such subscription item'),
        next_step: expect.stringContaining('stripe_subscription_items.seats'),
      }),
    ]);
  });

  it('a customer using the meter without a subscription item for it is shown with a next step, and nothing is sent for it', async () => {
    clock = new Date('2026-11-13T12:00:00Z');
    const c = await licensedCreator();
    expect((await c.call('PUT', '/api/usage/customers/s2', { plan_name: null })).status).toBeLessThan(300);
    await c.seats(2, 's2');
    const synced = await c.sync();
    expect(synced).toMatchObject({ failed: 0, pending: 0, reported: 0 });
    const status = await c.licensedStatus();
    expect(status.find((r) => r.user_id === 's2')).toMatchObject({
      subscription_item_id: null,
      quantity: 2,
      stripe_quantity: null,
      status: 'no_subscription_item',
      next_step: expect.stringContaining('Give this customer stripe_subscription_items.seats'),
    });
    expect(c.itemCalls()).toEqual([]);
    expect(c.meterEvents()).toEqual([]);
  });

  it('Connect: the quantity is set in the connected account (Stripe-Account header, platform key)', async () => {
    clock = new Date('2026-11-14T12:00:00Z');
    const c = await licensedCreator({ connect: 'acct_1LicensedSeats' });
    await c.seats(9);
    expect(await c.sync()).toMatchObject({ reported: 1 });
    expect(await c.stripeQuantity()).toBe(9);
    const [call] = c.itemCalls();
    expect(call).toMatchObject({ stripeAccount: 'acct_1LicensedSeats', authorization: `Bearer ${PLATFORM_KEY}`, status: 200 });
  });
});

describe('reconciling licensed meters', () => {
  it('reads each item’s quantity back from Stripe: one changed there by hand is set again to the usage at once, one left alone is in sync', async () => {
    clock = new Date('2026-11-16T12:00:00Z');
    const c = await licensedCreator();
    await c.seats(4);
    expect(await c.sync()).toMatchObject({ reported: 1 });
    expect(await c.stripeQuantity()).toBe(4);
    const reconcile = async () => {
      const answer = await c.call('POST', '/api/usage/billing/reconcile');
      expect(answer.status, answer.text).toBe(200);
      return answer.json;
    };
    // Untouched in Stripe: in sync, nothing sent
    expect((await reconcile()).licensed).toEqual({ items: 1, in_sync: 1, drifting: 0, resolved: 0, errors: 0 });
    expect(c.itemCalls()).toHaveLength(1);

    // Someone sets the item to 10 in Stripe's dashboard: a report alone would never notice
    await c.stripe.subscriptionItems.update(c.si, { quantity: 10 });
    expect(await c.sync()).toMatchObject({ reported: 0, up_to_date: 1 });
    expect(await c.stripeQuantity()).toBe(10);
    // The reconciliation reads it back and sets the usage again
    expect((await reconcile()).licensed).toEqual({ items: 1, in_sync: 0, drifting: 1, resolved: 1, errors: 0 });
    expect(await c.stripeQuantity()).toBe(4);
    expect(c.updates()).toEqual([4, 10, 4]);
    expect(await c.licensedStatus()).toEqual([expect.objectContaining({ quantity: 4, stripe_quantity: 4, status: 'in_sync' })]);
    expect((await reconcile()).licensed).toEqual({ items: 1, in_sync: 1, drifting: 0, resolved: 0, errors: 0 });
  });
});

describe('linking a licensed meter to a Stripe Billing Meter', () => {
  it('is refused with 422 naming the field: POST …/stripe-meter, PATCH stripe_meter_event_name, and PATCH billing_model licensed on a linked meter', async () => {
    clock = new Date('2026-11-15T12:00:00Z');
    const c = await licensedCreator();
    const metersBefore = fake.requests.filter((r) => r.path === '/v1/billing/meters').length;

    const linked = await c.call('POST', `/api/usage/meters/${c.meterId}/stripe-meter`);
    expect(linked.status, linked.text).toBe(422);
    expect(linked.json).toMatchObject({ status: 422, errors: [{ field: 'stripe_meter_event_name', message: expect.stringContaining('subscription item') }] });

    const patched = await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: 'seats' });
    expect(patched.status, patched.text).toBe(422);
    expect(patched.json).toMatchObject({ errors: [{ field: 'stripe_meter_event_name' }] });
    expect((await c.call('GET', `/api/usage/meters/${c.meterId}`)).json).toMatchObject({ stripe_meter_event_name: null, billing_model: 'licensed' });
    // Stripe was not asked to find or create a meter for the licensed one.
    expect(fake.requests.filter((r) => r.path === '/v1/billing/meters').length).toBe(metersBefore);

    // A metered meter linked to Stripe cannot turn licensed while linked…
    const calls = await c.call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', aggregation_type: 'sum', unit_name: 'calls' });
    expect((await c.call('POST', `/api/usage/meters/${calls.json.id}/stripe-meter`)).status).toBe(200);
    const turned = await c.call('PATCH', `/api/usage/meters/${calls.json.id}`, { billing_model: 'licensed' });
    expect(turned.status, turned.text).toBe(422);
    expect(turned.json).toMatchObject({ errors: [{ field: 'billing_model' }] });
    // …unless the same request unlinks it
    const unlinked = await c.call('PATCH', `/api/usage/meters/${calls.json.id}`, { billing_model: 'licensed', stripe_meter_event_name: null });
    expect(unlinked.status, unlinked.text).toBe(200);
    expect(unlinked.json).toMatchObject({ billing_model: 'licensed', stripe_meter_event_name: null });
  });

  it('a licensed meter linked before linking was refused can still be edited (its names, limits), and unlinked', async () => {
    clock = new Date('2026-11-15T12:00:00Z');
    const c = await licensedCreator();
    // As a meter linked before this rule stands in the database.
    await server.rt.ownerDb.execute(sql`update usage_meters set stripe_meter_event_name = 'seats' where meter_id = ${c.meterId}`);
    const renamed = await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { display_name: 'Seats in use', plan_limits: [{ plan_name: 'team', limit_value: 10 }] });
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.json).toMatchObject({ display_name: 'Seats in use', billing_model: 'licensed', stripe_meter_event_name: 'seats' });
    const unlinked = await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: null });
    expect(unlinked.status, unlinked.text).toBe(200);
    expect(unlinked.json).toMatchObject({ stripe_meter_event_name: null });
  });
});
