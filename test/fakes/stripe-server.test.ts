import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseForm, startFakeStripe, type FakeStripe } from './stripe-server.js';

let fake: FakeStripe;
beforeAll(async () => {
  fake = await startFakeStripe();
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.clearFaults();
  fake.setProcessingDelay(0);
});

const client = (key = 'sk_test_fake123', extra: Partial<Stripe.StripeConfig> = {}) =>
  new Stripe(key, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0, ...extra });

async function setup(stripe: Stripe, eventName = `calls_${Math.random().toString(36).slice(2, 8)}`, requestOptions?: Stripe.RequestOptions) {
  const meter = await stripe.billing.meters.create(
    { display_name: 'Calls', event_name: eventName, default_aggregation: { formula: 'sum' }, customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' } },
    requestOptions,
  );
  const customer = await stripe.customers.create({ email: 'c@example.com' }, requestOptions);
  return { meter, customer, eventName };
}

const nowS = () => Math.floor(Date.now() / 1000);
/** Now, in seconds, rounded to a whole minute: event summaries take whole minutes only. */
const minuteS = (offsetMinutes: number) => (Math.floor(Date.now() / 60_000) + offsetMinutes) * 60;
const errorOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return error as Stripe.errors.StripeError;
  }
  throw new Error('expected an error');
};

describe('fake Stripe through the real SDK', () => {
  it('parses qs-style form bodies', () => {
    expect(parseForm('a[b]=c&items[0][price]=p&x=1')).toEqual({ a: { b: 'c' }, items: { '0': { price: 'p' } }, x: '1' });
  });

  it('requires a Bearer secret key (401 otherwise)', async () => {
    const error = await errorOf(client('pk_test_nope').customers.create({}));
    expect(error.statusCode).toBe(401);
    expect(error.type).toBe('StripeAuthenticationError');
  });

  it('creates meters, records meter events and sums them in event summaries', async () => {
    const stripe = client();
    const { meter, customer, eventName } = await setup(stripe);
    const list = await stripe.billing.meters.list();
    expect(list.data.map((m) => m.id)).toContain(meter.id);
    await stripe.billing.meterEvents.create({ event_name: eventName, payload: { stripe_customer_id: customer.id, value: '5' }, identifier: 'a1', timestamp: nowS() - 60 });
    await stripe.billing.meterEvents.create({ event_name: eventName, payload: { stripe_customer_id: customer.id, value: '2.5' }, identifier: 'a2' });
    const summaries = await stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: minuteS(-60), end_time: minuteS(2) });
    expect(summaries.data[0]?.aggregated_value).toBe(7.5);
    // Windows that cut a minute are refused, as Stripe does
    const unaligned = await errorOf(stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: minuteS(-60) + 30, end_time: minuteS(2) }));
    expect(unaligned).toMatchObject({ statusCode: 400, param: 'start_time' });
    expect(await errorOf(stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: minuteS(-60), end_time: minuteS(2) - 1 }))).toMatchObject({ statusCode: 400, param: 'end_time' });
  });

  it('rejects a duplicate identifier, a timestamp out of window, an unknown meter', async () => {
    const stripe = client();
    const { customer, eventName } = await setup(stripe);
    const create = (params: Partial<Stripe.Billing.MeterEventCreateParams>) =>
      stripe.billing.meterEvents.create({ event_name: eventName, payload: { stripe_customer_id: customer.id, value: '1' }, ...params });
    await create({ identifier: 'dup' });
    const dup = await errorOf(create({ identifier: 'dup' }));
    expect(dup.statusCode).toBe(400);
    expect(dup.code).toBe('resource_already_exists');
    expect(dup.param).toBe('identifier');
    expect((await errorOf(create({ timestamp: nowS() - 36 * 86400 }))).param).toBe('timestamp');
    expect((await errorOf(create({ timestamp: nowS() + 600 }))).param).toBe('timestamp');
    expect((await errorOf(create({ event_name: 'nope' }))).param).toBe('event_name');
    expect(fake.total({ account: 'key:sk_test_fake123', eventName, customer: customer.id })).toBe('1');
  });

  it('replays an idempotency key and refuses it with other parameters', async () => {
    const stripe = client();
    const first = await stripe.customers.create({ email: 'a@example.com' }, { idempotencyKey: 'k1' });
    const again = await stripe.customers.create({ email: 'a@example.com' }, { idempotencyKey: 'k1' });
    expect(again.id).toBe(first.id);
    const error = await errorOf(stripe.customers.create({ email: 'b@example.com' }, { idempotencyKey: 'k1' }));
    expect(error.statusCode).toBe(400);
    expect(error.type).toBe('StripeIdempotencyError');
  });

  it('scopes data by the Stripe-Account header (Connect)', async () => {
    const platform = client('sk_test_platform');
    const { meter, customer, eventName } = await setup(platform, 'connect_calls', { stripeAccount: 'acct_123' });
    await platform.billing.meterEvents.create({ event_name: eventName, payload: { stripe_customer_id: customer.id, value: '3' } }, { stripeAccount: 'acct_123' });
    // The platform's own account has no such meter.
    expect((await errorOf(platform.billing.meterEvents.create({ event_name: eventName, payload: { stripe_customer_id: customer.id } }))).param).toBe('event_name');
    expect(fake.total({ account: 'acct_123', eventName, customer: customer.id })).toBe('3');
    expect(fake.requests.at(-2)?.stripeAccount).toBe('acct_123');
    const summaries = await platform.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: minuteS(-2), end_time: minuteS(2) }, { stripeAccount: 'acct_123' });
    expect(summaries.data[0]?.aggregated_value).toBe(3);
  });

  it('injects 500 before and after applying, 429 with Retry-After, slow answers and being down', async () => {
    const stripe = client();
    const { customer, eventName } = await setup(stripe);
    const send = (identifier: string, s = stripe) => s.billing.meterEvents.create({ event_name: eventName, payload: { stripe_customer_id: customer.id, value: '1' }, identifier });
    const account = 'key:sk_test_fake123';
    const total = () => fake.total({ account, eventName, customer: customer.id });

    fake.inject({ kind: '500-before', times: 1 });
    expect((await errorOf(send('x1'))).statusCode).toBe(500);
    expect(total()).toBe('0');

    fake.inject({ kind: '500-after', times: 1 });
    expect((await errorOf(send('x2'))).statusCode).toBe(500);
    expect(total()).toBe('1');
    expect((await errorOf(send('x2'))).code).toBe('resource_already_exists');

    fake.inject({ kind: '429', times: 1, retryAfterSeconds: 7 });
    const limited = await errorOf(send('x3'));
    expect(limited.statusCode).toBe(429);
    expect(limited.headers?.['retry-after']).toBe('7');

    fake.inject({ kind: 'slow', times: 1, delayMs: 1_000 });
    const timedOut = await errorOf(send('x4', client('sk_test_fake123', { timeout: 200 })));
    expect(timedOut.type).toBe('StripeConnectionError');
    expect(total()).toBe('2');

    fake.inject({ kind: 'down' });
    expect((await errorOf(send('x5'))).type).toBe('StripeConnectionError');
    fake.clearFaults();
    await send('x5');
    expect(total()).toBe('3');
    expect(fake.duplicateIdentifiers()).toEqual([]);
  });

  it('allows one concurrent meter event per customer × meter (the second gets 429 rate_limit)', async () => {
    const stripe = client();
    const { customer, eventName } = await setup(stripe);
    fake.setProcessingDelay(100);
    const before = fake.concurrencyViolations;
    const results = await Promise.allSettled([0, 1].map((i) => stripe.billing.meterEvents.create({ event_name: eventName, payload: { stripe_customer_id: customer.id }, identifier: `c${i}` })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as Stripe.errors.StripeError).code).toBe('rate_limit');
    expect(fake.concurrencyViolations).toBe(before + 1);
  });

  it('creates a minimal subscription with items', async () => {
    const stripe = client();
    const customer = await stripe.customers.create({});
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_123' }] });
    expect(subscription.items.data[0]?.id).toMatch(/^si_/);
  });
});
