/**
 * The Billing page tells a creator what to do about a row that is not in sync: what Stripe
 * said and where to fix it (the status API's `next_step`), a drifting row's figures as of the
 * reconciliation that found the drift, a reconciliation's outcome with the drift it left, and
 * a meter linked by name only offered the lookup in Stripe it never had.
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
let clock = new Date();

beforeAll(async () => {
  fake = await startFakeStripe();
  fake.setNow(() => clock);
  // Stripe's summaries lag an hour here, as in production: a fresh report's drift is left alone.
  server = await startTestServer(url, {
    pages: true,
    now: () => clock,
    env: { STRIPE_API_BASE: fake.url, STRIPE_TIMEOUT_MS: '300', STRIPE_SUMMARY_LAG_MS: '3600000', AUTH_RATE_LIMIT_PER_EMAIL: '1000', AUTH_RATE_LIMIT_PER_IP: '1000' },
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

/** A creator with a Stripe key, one sum meter `calls`, signed in to the dashboard. */
async function creator() {
  const password = 'a sound passphrase';
  const { creator, apiKey, email } = await createCreatorWithKey(server.rt, { password });
  const call = api(server.url, apiKey);
  const cookie = await loginThroughForm(server.url, email, password);
  const secretKey = `sk_test_guidance${creator.id.replace(/-/g, '')}`;
  const stripe = new Stripe(secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
  expect((await call('PUT', '/api/usage/settings/stripe', { secret_key: secretKey, report_interval_minutes: 5 })).status).toBe(200);
  const meter = await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'sum' });
  expect(meter.status, meter.text).toBe(201);
  const page = async () => {
    const r = await fetch(server.url + PAGE, { headers: { cookie } });
    expect(r.status).toBe(200);
    return r.text();
  };
  const post = async (fields: Record<string, string>) => {
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page())![1]!;
    const r = await fetch(server.url + PAGE, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, ...fields }).toString(),
    });
    return { status: r.status, html: await r.text() };
  };
  const status = async () => (await call('GET', '/api/usage/billing/status')).json.rows as Array<Record<string, string | null>>;
  return { call, page, post, status, stripe, secretKey, account: `key:${secretKey}`, meterId: meter.json.id as string };
}

/** Links the meter to a Stripe meter made in the fake, and one customer `ann` to a Stripe customer there. */
async function linked(c: Awaited<ReturnType<typeof creator>>) {
  await c.stripe.billing.meters.create({ display_name: 'Calls', event_name: 'calls', default_aggregation: { formula: 'sum' } });
  expect((await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: 'calls' })).status).toBe(200);
  const customer = await c.stripe.customers.create({ email: 'ann@example.com' });
  expect((await c.call('PUT', '/api/usage/customers/ann', { stripe_customer_id: customer.id })).status).toBe(201);
  return customer.id;
}

describe('a failed report says what to fix', () => {
  it('a customer linked to a Stripe customer that does not exist: Stripe’s words, and where to fix it; fixed, the next report sends it', async () => {
    const c = await creator();
    await c.stripe.billing.meters.create({ display_name: 'Calls', event_name: 'calls', default_aggregation: { formula: 'sum' } });
    expect((await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: 'calls' })).status).toBe(200);
    expect((await c.call('PUT', '/api/usage/customers/ann', { stripe_customer_id: 'cus_nobodyHere' })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann', value: 3 })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ failed: 1 });

    const [row] = await c.status();
    expect(row).toMatchObject({ status: 'failed' });
    expect(row!.last_error).toMatch(/No such customer: 'cus_nobodyHere'/);
    expect(row!.next_step).toMatch(/stripe_customer_id .*PUT \/api\/usage\/customers\/\{user_id\}.*Report now/);
    const shown = text(await c.page());
    expect(shown).toContain("Stripe said: StripeInvalidRequestError resource_missing: No such customer: 'cus_nobodyHere'");
    expect(shown).toContain(row!.next_step!);

    // Given the fix the page asked for: a real Stripe customer. Then the next report sends the quantity.
    const customer = await c.stripe.customers.create({ email: 'ann@example.com' });
    expect((await c.call('PUT', '/api/usage/customers/ann', { stripe_customer_id: customer.id })).status).toBe(200);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ failed: 0 });
    expect(fake.total({ account: c.account, eventName: 'calls', customer: customer.id })).toBe('3');
  });

  it('a meter reporting to a Stripe meter name that does not exist: the next step is creating it', async () => {
    const c = await creator();
    expect((await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: 'calls_nowhere' })).status).toBe(200);
    const customer = await c.stripe.customers.create({ email: 'ann@example.com' });
    expect((await c.call('PUT', '/api/usage/customers/ann', { stripe_customer_id: customer.id })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann', value: 2 })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ failed: 1 });
    const [row] = await c.status();
    expect(row!.last_error).toMatch(/No active meter/);
    expect(row!.next_step).toMatch(/^Create the Stripe meter \(Create in Stripe/);
  });
  it('a key Stripe refuses: the next step is saving one that may write meter events', async () => {
    const c = await creator();
    await linked(c);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann', value: 1 })).status).toBe(201);
    // Given the key's owner rolled it in Stripe
    fake.revokeKey(c.secretKey);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ failed: 1 });
    const [row] = await c.status();
    expect(row!.last_error).toMatch(/Expired API Key/);
    expect(row!.next_step).toMatch(/^Save a Stripe key that may write Billing meter events/);
  });
});

describe('the Stripe settings form checks a new key with Stripe', () => {
  it('a rolled key is refused beside the key field and nothing is saved; a key saved while Stripe is unreachable says it was not checked', async () => {
    const c = await creator();
    const rolled = `${c.secretKey}rolled`;
    fake.revokeKey(rolled);
    const refused = await c.post({ intent: 'stripe-settings', secret_key: rolled, report_interval_minutes: '30' });
    expect(refused.status).toBe(422);
    expect(text(refused.html)).toMatch(/is refused by Stripe \(.*Expired API Key provided.*\); nothing was saved/);
    expect((await c.call('GET', '/api/usage/settings/stripe')).json.report_interval_minutes).toBe(5);

    fake.inject({ kind: 'down', pathPrefix: '/v1/billing/meters' });
    const saved = await c.post({ intent: 'stripe-settings', secret_key: `${c.secretKey}new`, report_interval_minutes: '30' }).finally(() => fake.clearFaults());
    expect(saved.status).toBe(200);
    expect(text(saved.html)).toContain('Stripe settings saved.');
    expect(text(saved.html)).toMatch(/The key was saved without being checked: Stripe could not be reached/);
    expect((await c.call('GET', '/api/usage/settings/stripe')).json.report_interval_minutes).toBe(30);
  });
});

describe('a meter linked by name only', () => {
  it('is shown as not looked up in Stripe, with a button that creates the Stripe meter and links it (stripe_meter_id on the API)', async () => {
    const c = await creator();
    expect((await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: 'calls_by_name' })).status).toBe(200);
    expect((await c.call('GET', `/api/usage/meters/${c.meterId}`)).json).toMatchObject({ stripe_meter_event_name: 'calls_by_name', stripe_meter_id: null });

    const before = await c.page();
    expect(text(before)).toContain('Reported to Stripe meter calls_by_name , linked by name: not looked up in Stripe');
    expect(before).toMatch(/name="intent" value="link-meter"[^>]*>Find or create in Stripe/);

    const created = await c.post({ intent: 'link-meter', id: c.meterId });
    expect(created.status).toBe(200);
    const meter = (await c.call('GET', `/api/usage/meters/${c.meterId}`)).json;
    expect(meter.stripe_meter_id).toMatch(/^mtr_/);
    expect(text(created.html)).toContain(`Calls now reports to Stripe meter calls_by_name (${meter.stripe_meter_id}).`);
    expect(text(created.html)).not.toContain('linked by name');
    const inStripe = await c.stripe.billing.meters.list();
    expect(inStripe.data.map((m) => m.event_name)).toContain('calls_by_name');
  });
});

describe('drift', () => {
  it('a drifting row compares Stripe’s total with what was reported at that reconciliation, not since; the outcome counts the drift left for later', async () => {
    clock = new Date();
    const c = await creator();
    const customerId = await linked(c);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann', value: 5 })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ reported: 1 });
    // Given Stripe's summary does not include the report yet (the fake lost it: Stripe holds 0 of 5).
    const first = fake.events.find((e) => e.account === c.account && e.customer === customerId)!;
    fake.loseEvent({ account: c.account, identifier: first.identifier });

    // When the creator reconciles from the page, within Stripe's lag
    const reconciled = await c.post({ intent: 'reconcile' });
    expect(reconciled.status).toBe(200);
    const outcome = text(/data-testid="run-outcome"[^>]*>([\s\S]*?)<\/div>/.exec(reconciled.html)![1]!);
    // Then the one drifting row is said to be left for later, not "0 corrected, 0 where Stripe has more"
    expect(outcome).toContain('1 drifting (1 not corrected now (see each row below))');
    expect(outcome).not.toMatch(/0 corrected|0 where Stripe/);

    // When more usage is reported since
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'ann', value: 4 })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ reported: 1 });
    const [row] = await c.status();
    expect(row).toMatchObject({ status: 'drifting', reported_quantity: '9', reconciled_reported_quantity: '5', stripe_quantity: '0', drift: '-5' });
    expect(row!.next_step).toMatch(/^Nothing yet: Stripe’s totals lag/);
    // Then the row reads as the reconciliation saw it: 0 against 5, not 0 against today's 9
    const shown = text(await c.page());
    expect(shown).toContain('At the last reconciliation Stripe had 0 where we had reported 5 (drift -5).');
    expect(shown).not.toContain('where we reported 9');
    expect(shown).toContain(row!.next_step!);
  });
});
