import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { usageBillingSync } from '../db/schema.js';
import { createLogger } from '../server/logger.js';
import { BillingService, REPORT_CLAIM_MARGIN_MS, syncIdentifier } from '../server/services/billing.js';
import { startFakeStripe, type FakeStripe } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Usage reaches Stripe exactly: through the real `stripe` SDK against the local fake,
 * whatever Stripe does (500s before or after applying, 429 storms, answers past the
 * client's timeout), Stripe's totals equal the ledger equal our counters.
 */

const PLATFORM_KEY = 'sk_test_platformSECRET0123456789';
const CONNECT_CLIENT_ID = 'ca_platformClient0123456789';
const { url } = await useTestDatabase();
let fake: FakeStripe;
let server: TestServer;
const logLines: string[] = [];
const responses: string[] = [];

beforeAll(async () => {
  fake = await startFakeStripe();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  server = await startTestServer(url, {
    // The fake's meter summaries include an event as soon as it is taken: no lag to wait out (one test below has its own server with one).
    env: { STRIPE_API_BASE: fake.url, STRIPE_SECRET_KEY: PLATFORM_KEY, STRIPE_CONNECT_CLIENT_ID: CONNECT_CLIENT_ID, STRIPE_TIMEOUT_MS: '300', LOG_LEVEL: 'trace', STRIPE_SUMMARY_LAG_MS: '0' },
    log: createLogger('trace', {}, sink),
  });
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});
beforeEach(() => {
  fake.clearFaults();
  fake.setProcessingDelay(0);
});

type Call = ReturnType<typeof api>;

const REDIRECT_URI = 'https://usage.example.com/creator/dashboard/usage/billing/connect';

/**
 * Connects a Stripe account the way its owner does (Connect OAuth): the creator starts, the
 * owner approves on Stripe's page (the fake mints the code Stripe's redirect carries), the
 * creator completes with that code and the state. Answers the completion.
 */
async function connectAccount(call: Call, accountId: string) {
  const started = await call('POST', '/api/usage/settings/stripe/connect', { redirect_uri: REDIRECT_URI });
  expect(started.status, started.text).toBe(201);
  const state = new URL(started.json.authorize_url as string).searchParams.get('state')!;
  return call('POST', '/api/usage/settings/stripe/connect/complete', { code: fake.authorizeConnect(accountId), state });
}

/** A creator linked to Stripe: one meter, `customers` customers, each with a Stripe customer in the fake. */
async function linkedCreator(options: { customers?: number; connect?: string; target?: TestServer } = {}) {
  const target = options.target ?? server;
  const { apiKey, creator } = await createCreatorWithKey(target.rt);
  const raw = api(target.url, apiKey);
  const call: Call = async (...args) => {
    const response = await raw(...args);
    responses.push(response.text);
    return response;
  };
  const secretKey = `sk_test_creator${creator.id.replace(/-/g, '')}`;
  const stripe = new Stripe(options.connect ? PLATFORM_KEY : secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
  const requestOptions = options.connect ? { stripeAccount: options.connect } : undefined;
  const eventName = `api_calls_${creator.id.slice(0, 8)}`;
  const stripeMeter = await stripe.billing.meters.create({ display_name: 'API calls', event_name: eventName, default_aggregation: { formula: 'sum' } }, requestOptions);
  const settings = options.connect ? await connectAccount(call, options.connect) : await call('PUT', '/api/usage/settings/stripe', { secret_key: secretKey, report_interval_minutes: 5 });
  expect(settings.status, settings.text).toBe(200);
  const meter = await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'sum' });
  expect(meter.status, meter.text).toBe(201);
  const patched = await call('PATCH', `/api/usage/meters/${meter.json.id}`, { stripe_meter_event_name: eventName });
  expect(patched.status, patched.text).toBe(200);
  expect(patched.json.stripe_meter_event_name).toBe(eventName);
  const users: Array<{ userId: string; stripeCustomerId: string }> = [];
  for (let i = 0; i < (options.customers ?? 3); i++) {
    const customer = await stripe.customers.create({ email: `u${i}@example.com` }, requestOptions);
    const put = await call('PUT', `/api/usage/customers/user-${i}`, { stripe_customer_id: customer.id });
    expect([200, 201], put.text).toContain(put.status);
    users.push({ userId: `user-${i}`, stripeCustomerId: customer.id });
  }
  return { call, creatorId: creator.id, secretKey, eventName, stripeMeter, users, account: options.connect ?? `key:${secretKey}`, meterId: meter.json.id as string };
}

type Linked = Awaited<ReturnType<typeof linkedCreator>>;

/** Tracks `rounds × per-user` events with varied decimal values. */
async function trackSome(c: Linked, round: number) {
  const events = c.users.flatMap((u, i) => Array.from({ length: 5 }, (_, j) => ({ event_name: 'calls', user_id: u.userId, value: `${(round + 1) * (i + 1) + j}.25` })));
  const response = await c.call('POST', '/api/usage/track', events);
  expect(response.status, response.text).toBe(200);
}

async function sync(c: Linked) {
  const response = await c.call('POST', '/api/usage/billing/sync');
  expect(response.status, response.text).toBe(200);
  return response.json;
}

/**
 * A customer's first ledger row for its whole usage so far, written as a report run that
 * then died leaves it (`row` sets status, attempts, claim). Returns the row's ids and quantity.
 */
async function leftByDeadRun(c: Linked, u: Linked['users'][number], row: Partial<typeof usageBillingSync.$inferInsert>) {
  const usage = (await c.call('GET', `/api/usage/customers/${u.userId}/usage`)).json;
  const [customer] = await server.rt.ownerDb.execute<{ customer_id: string }>(sql`select customer_id from customers where creator_id = ${c.creatorId} and user_id = ${u.userId}`);
  const periodStart = new Date(usage.period_start);
  const quantity = usage.meters[0].used as string;
  const identifier = syncIdentifier(c.creatorId, c.meterId, customer!.customer_id, periodStart, 1);
  const syncId = crypto.randomUUID();
  await server.rt.ownerDb.insert(usageBillingSync).values({
    creatorId: c.creatorId,
    syncId,
    meterId: c.meterId,
    customerId: customer!.customer_id,
    periodStart,
    periodEnd: new Date(usage.period_end),
    sequence: 1,
    quantityDelta: quantity,
    cumulativeTotal: quantity,
    identifier,
    eventTimestamp: new Date(Math.floor(Date.now() / 1000) * 1000),
    stripeEventName: c.eventName,
    stripeCustomerId: u.stripeCustomerId,
    ...row,
  });
  return { syncId, identifier, quantity };
}

/** Stripe's total = the ledger's succeeded deltas = our counter, for every customer. */
async function expectExact(c: Linked) {
  for (const u of c.users) {
    const usage = await c.call('GET', `/api/usage/customers/${u.userId}/usage`);
    const ours = usage.json.meters.find((m: { event_name: string }) => m.event_name === 'calls')?.used ?? '0';
    const [ledger] = await server.rt.ownerDb.execute<{ total: string }>(sql`
      select coalesce(sum(s.quantity_delta), 0)::text as total from usage_billing_sync s join customers c on c.customer_id = s.customer_id
      where s.creator_id = ${c.creatorId} and c.user_id = ${u.userId} and s.status = 'succeeded'`);
    const stripeTotal = fake.total({ account: c.account, eventName: c.eventName, customer: u.stripeCustomerId });
    expect({ user: u.userId, stripe: Number(stripeTotal), ledger: Number(ledger!.total) }).toEqual({ user: u.userId, stripe: Number(ours), ledger: Number(ours) });
  }
  expect(fake.duplicateIdentifiers()).toEqual([]);
  expect(fake.concurrencyViolations).toBe(0);
  const status = await c.call('GET', '/api/usage/billing/status');
  expect(status.status).toBe(200);
  for (const row of status.json.rows) expect(row, JSON.stringify(row)).toMatchObject({ status: 'in_sync' });
  return status.json.rows;
}

describe('Connect: an account is connected only through Stripe’s authorization (OAuth)', () => {
  it('starts with Stripe’s authorize page for this platform and a one-time state, and connects the account its owner approved', async () => {
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    const started = await call('POST', '/api/usage/settings/stripe/connect', { redirect_uri: REDIRECT_URI });
    expect(started.status, started.text).toBe(201);
    const authorize = new URL(started.json.authorize_url);
    // The fake stands where connect.stripe.com would (STRIPE_API_BASE).
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${fake.url}/oauth/authorize`);
    expect(Object.fromEntries(authorize.searchParams)).toEqual({ response_type: 'code', client_id: CONNECT_CLIENT_ID, scope: 'read_write', state: expect.stringMatching(/^[\w-]{43}$/), redirect_uri: REDIRECT_URI });
    expect(Date.parse(started.json.expires_at) - Date.now()).toBeGreaterThan(14 * 60_000);
    const state = authorize.searchParams.get('state')!;
    // Only the state's hash is kept.
    const [stored] = await server.rt.ownerDb.execute<{ hash: string }>(sql`select stripe_connect_state_hash as hash from creator_settings where creator_id = ${creator.id}`);
    expect(stored!.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored!.hash).not.toContain(state);

    const done = await call('POST', '/api/usage/settings/stripe/connect/complete', { code: fake.authorizeConnect('acct_1OAuthApproved'), state });
    expect(done.status, done.text).toBe(200);
    expect(done.json).toMatchObject({ configured: 'connect', connect_account_id: 'acct_1OAuthApproved' });
    const exchange = fake.requests.filter((r) => r.path === '/oauth/token').at(-1)!;
    expect(exchange).toMatchObject({ status: 200, authorization: `Bearer ${PLATFORM_KEY}` });

    // The state is spent: it connects nothing a second time, even with a new code.
    const again = await call('POST', '/api/usage/settings/stripe/connect/complete', { code: fake.authorizeConnect('acct_1SomethingElse'), state });
    expect(again.status).toBe(422);
    expect(again.json.errors).toEqual([expect.objectContaining({ field: 'state' })]);
    expect((await call('GET', '/api/usage/settings/stripe')).json.connect_account_id).toBe('acct_1OAuthApproved');
  });

  it('refuses another creator’s state, a code Stripe refuses, and bad input — naming the field, connecting nothing', async () => {
    const victim = api(server.url, (await createCreatorWithKey(server.rt)).apiKey);
    const attacker = api(server.url, (await createCreatorWithKey(server.rt)).apiKey);
    const victimStart = await victim('POST', '/api/usage/settings/stripe/connect', { redirect_uri: REDIRECT_URI });
    const victimState = new URL(victimStart.json.authorize_url).searchParams.get('state')!;
    // The attacker's own approval, completed with a state the attacker did not start, connects nothing …
    await attacker('POST', '/api/usage/settings/stripe/connect', { redirect_uri: REDIRECT_URI });
    const crossed = await attacker('POST', '/api/usage/settings/stripe/connect/complete', { code: fake.authorizeConnect('acct_1AttackerOwn'), state: victimState });
    expect(crossed.status).toBe(422);
    expect(crossed.json.errors).toEqual([expect.objectContaining({ field: 'state', message: expect.stringContaining('not the one issued') })]);
    // … and a code Stripe never issued (or issued for nobody) is refused by Stripe: nothing connected.
    const unknown = await victim('POST', '/api/usage/settings/stripe/connect/complete', { code: 'ac_neverIssued', state: victimState });
    expect(unknown.status).toBe(422);
    expect(unknown.json.errors).toEqual([expect.objectContaining({ field: 'code', message: expect.stringContaining('Authorization code does not exist') })]);
    for (const who of [victim, attacker]) expect((await who('GET', '/api/usage/settings/stripe')).json).toMatchObject({ configured: null, connect_account_id: null });
    // Completion without a start, and bad input.
    const fresh = api(server.url, (await createCreatorWithKey(server.rt)).apiKey);
    const unstarted = await fresh('POST', '/api/usage/settings/stripe/connect/complete', { code: fake.authorizeConnect('acct_1Unstarted'), state: 'x'.repeat(43) });
    expect(unstarted.json.errors).toEqual([expect.objectContaining({ field: 'state', message: expect.stringContaining('no Connect authorization was started') })]);
    for (const [path, body, field] of [
      ['/api/usage/settings/stripe/connect', { redirect_uri: 'javascript:alert(1)' }, 'redirect_uri'],
      ['/api/usage/settings/stripe/connect', {}, 'redirect_uri'],
      ['/api/usage/settings/stripe/connect/complete', { state: victimState }, 'code'],
      ['/api/usage/settings/stripe/connect/complete', { code: 'ac_x y', state: victimState }, 'code'],
      ['/api/usage/settings/stripe/connect/complete', { code: 'ac_1', state: '' }, 'state'],
    ] as const) {
      const refused = await fresh('POST', path, body);
      expect(refused.status, `${path} ${JSON.stringify(body)}`).toBe(422);
      expect(refused.json.errors, JSON.stringify(body)).toEqual([expect.objectContaining({ field })]);
    }
    expect((await fresh('GET', '/api/usage/settings/stripe')).json.connect_account_id).toBeNull();
  });

  it('a state older than 15 minutes is refused; a server without the platform key or Connect client id says so (409)', async () => {
    let clock = new Date('2026-11-27T10:00:00Z');
    const clocked = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, STRIPE_SECRET_KEY: PLATFORM_KEY, STRIPE_CONNECT_CLIENT_ID: CONNECT_CLIENT_ID }, now: () => clock });
    const bare = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, STRIPE_SECRET_KEY: PLATFORM_KEY } });
    try {
      const call = api(clocked.url, (await createCreatorWithKey(clocked.rt)).apiKey);
      const started = await call('POST', '/api/usage/settings/stripe/connect', { redirect_uri: REDIRECT_URI });
      expect(started.json.expires_at).toBe('2026-11-27T10:15:00.000Z');
      clock = new Date('2026-11-27T10:15:01Z');
      const late = await call('POST', '/api/usage/settings/stripe/connect/complete', { code: fake.authorizeConnect('acct_1TooLate'), state: new URL(started.json.authorize_url).searchParams.get('state')! });
      expect(late.status).toBe(422);
      expect(late.json.errors).toEqual([expect.objectContaining({ field: 'state', message: expect.stringContaining('expired') })]);
      expect((await call('GET', '/api/usage/settings/stripe')).json.connect_account_id).toBeNull();

      const noClient = api(bare.url, (await createCreatorWithKey(bare.rt)).apiKey);
      const unavailable = await noClient('POST', '/api/usage/settings/stripe/connect', { redirect_uri: REDIRECT_URI });
      expect(unavailable.status).toBe(409);
      expect(unavailable.json).toMatchObject({ type: expect.stringContaining('stripe-connect-unavailable'), detail: expect.stringContaining('STRIPE_CONNECT_CLIENT_ID') });
    } finally {
      await clocked.close();
      await bare.close();
    }
  });
});

describe('Stripe reporting through the ledger', () => {
  it('creates the Stripe Billing Meter for a meter on request, reuses it when asked again, and reports to it', async () => {
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    const secretKey = `sk_test_link${creator.id.replace(/-/g, '')}`;
    const meter = await call('POST', '/api/usage/meters', { event_name: `storage_${creator.id.slice(0, 8)}`, display_name: 'Storage', unit_name: 'bytes', aggregation_type: 'sum' });
    expect((await call('POST', `/api/usage/meters/${meter.json.id}/stripe-meter`)).json.type).toContain('stripe-not-configured');
    await call('PUT', '/api/usage/settings/stripe', { secret_key: secretKey });
    const linked = await call('POST', `/api/usage/meters/${meter.json.id}/stripe-meter`);
    expect(linked.status, linked.text).toBe(200);
    expect(linked.json.stripe_meter_event_name).toBe(meter.json.event_name);
    const stripe = new Stripe(secretKey, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    const meters = (await stripe.billing.meters.list({ status: 'active' })).data.filter((m) => m.event_name === meter.json.event_name);
    expect(meters).toHaveLength(1);
    expect(meters[0]!.default_aggregation.formula).toBe('sum');
    expect((await call('POST', `/api/usage/meters/${meter.json.id}/stripe-meter`)).status).toBe(200);
    expect((await stripe.billing.meters.list({ status: 'active' })).data.filter((m) => m.event_name === meter.json.event_name)).toHaveLength(1);
    const customer = await stripe.customers.create({ email: 'linked@example.com' });
    await call('PUT', '/api/usage/customers/linked-user', { stripe_customer_id: customer.id });
    await call('POST', '/api/usage/track', { event_name: meter.json.event_name, user_id: 'linked-user', value: '1048576' });
    expect((await call('POST', '/api/usage/billing/sync')).status).toBe(200);
    const summaries = await stripe.billing.meters.listEventSummaries(meters[0]!.id, { customer: customer.id, start_time: 0, end_time: Math.ceil(Date.now() / 60_000 + 60) * 60 });
    expect(summaries.data.reduce((sum, x) => sum + x.aggregated_value, 0)).toBe(1048576);
  });

  it('normal operation: Stripe = ledger = counters, deltas only, one identifier each', async () => {
    const c = await linkedCreator();
    for (let round = 0; round < 3; round++) {
      await trackSome(c, round);
      const result = await sync(c);
      expect(result, JSON.stringify(result)).toMatchObject({ pairs: 3, reported: 3, pending: 0, failed: 0 });
    }
    // Nothing new → nothing sent.
    const before = fake.events.length;
    expect(await sync(c)).toMatchObject({ up_to_date: 3, reported: 0 });
    expect(fake.events.length).toBe(before);
    const rows = await expectExact(c);
    expect(rows).toHaveLength(3);
    // Stripe's event summaries say the same.
    const stripe = new Stripe(c.secretKey, { host: fake.host, port: fake.port, protocol: 'http' });
    const summary = await stripe.billing.meters.listEventSummaries(c.stripeMeter.id, {
      customer: c.users[0]!.stripeCustomerId,
      start_time: Math.floor(new Date(rows[0].period_start).getTime() / 1000),
      end_time: Math.floor(new Date(rows[0].period_end).getTime() / 1000),
    });
    expect(String(summary.data[0]?.aggregated_value)).toBe(rows.find((r: { user_id: string }) => r.user_id === 'user-0').quantity);
  });

  it('30 % of calls fail with 500, some after applying: still exact, no identifier counted twice', async () => {
    const c = await linkedCreator({ customers: 4 });
    fake.inject({ kind: '500-before', probability: 0.15, pathPrefix: '/v1/billing/meter_events' });
    fake.inject({ kind: '500-after', probability: 0.18, pathPrefix: '/v1/billing/meter_events' });
    for (let round = 0; round < 4; round++) {
      await trackSome(c, round);
      await sync(c);
    }
    fake.clearFaults();
    await sync(c);
    const meterCalls = fake.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.authorization.includes(c.secretKey));
    expect(meterCalls.filter((r) => r.fault === '500-after').length).toBeGreaterThan(0);
    expect(meterCalls.filter((r) => r.fault === '500-before').length).toBeGreaterThan(0);
    await expectExact(c);
  }, 60_000);

  it('429 storms: waits Retry-After, then the same identifier again; exact', async () => {
    const c = await linkedCreator({ customers: 2 });
    await trackSome(c, 0);
    fake.inject({ kind: '429', probability: 0.5, retryAfterSeconds: 1, pathPrefix: '/v1/billing/meter_events' });
    await sync(c);
    fake.clearFaults();
    await sync(c);
    const calls = fake.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.authorization.includes(c.secretKey));
    const limited = calls.filter((r) => r.fault === '429');
    expect(limited.length).toBeGreaterThan(0);
    for (const hit of limited) {
      const next = calls.find((r) => r.at > hit.at && r.identifier === hit.identifier);
      if (next) expect(next.at - hit.at).toBeGreaterThanOrEqual(950);
    }
    await expectExact(c);
  }, 60_000);

  it('answers slower than the client timeout: resent with the same identifier, counted once', async () => {
    const c = await linkedCreator({ customers: 2 });
    await trackSome(c, 0);
    fake.inject({ kind: 'slow', times: 3, delayMs: 1_000, pathPrefix: '/v1/billing/meter_events' });
    await sync(c);
    const calls = fake.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.authorization.includes(c.secretKey));
    const slow = calls.filter((r) => r.fault === 'slow');
    expect(slow.length).toBeGreaterThan(0);
    for (const s of slow) expect(calls.filter((r) => r.identifier === s.identifier).length).toBeGreaterThan(1);
    await expectExact(c);
  }, 60_000);

  it('holds no transaction or row lock while Stripe is slow and retried; a sync meanwhile waits for that run’s answer, sending nothing', async () => {
    const c = await linkedCreator({ customers: 1 });
    await trackSome(c, 0);
    // Four answers past the client's 300 ms timeout: ≈ 4 s of calls and backoff for one report.
    fake.inject({ kind: 'slow', times: 4, delayMs: 1_000, pathPrefix: '/v1/billing/meter_events' });
    const first = sync(c);
    const ledger = () =>
      server.rt.ownerDb.execute<{ sync_id: string; status: string; sending_until: string | null }>(
        sql`select sync_id, status, sending_until from usage_billing_sync where creator_id = ${c.creatorId}`,
      );
    await expect.poll(async () => (await ledger())[0]?.status, { timeout: 5_000, interval: 50 }).toBe('in_flight');
    await new Promise((r) => setTimeout(r, 1_200));
    const longTransactions = await server.rt.ownerDb.execute(sql`
      select application_name, state from pg_stat_activity
      where datname = current_database() and application_name like 'staryer-usage%' and xact_start < now() - interval '1 second'`);
    expect(longTransactions).toEqual([]);
    const [row] = await ledger();
    expect(row).toMatchObject({ status: 'in_flight' });
    expect(new Date(row!.sending_until!).getTime()).toBeGreaterThan(Date.now() + REPORT_CLAIM_MARGIN_MS);
    await server.rt.ownerDb.transaction(async (tx) => {
      expect(await tx.execute(sql`select 1 from usage_billing_sync where sync_id = ${row!.sync_id} for update nowait`)).toHaveLength(1);
    });
    // Another sync meanwhile sends nothing for the claimed report: it waits for the first
    // run's answer (as it waited on the row lock before), then finds the pair up to date.
    expect(await sync(c)).toMatchObject({ pairs: 1, up_to_date: 1, pending: 0 });
    expect(await first).toMatchObject({ pairs: 1, reported: 1 });
    const calls = fake.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.authorization.includes(c.secretKey));
    expect(calls.length).toBe(5); // the four slow ones and the answered resend, all from the first run
    expect(new Set(calls.map((r) => r.identifier)).size).toBe(1);
    expect(await ledger()).toEqual([{ sync_id: row!.sync_id, status: 'succeeded', sending_until: null }]);
    await expectExact(c);
  }, 60_000);

  it('concurrent syncs of one creator never have two calls in flight for one customer × meter', async () => {
    const c = await linkedCreator({ customers: 2 });
    fake.setProcessingDelay(50);
    await trackSome(c, 0);
    await Promise.all([sync(c), sync(c), sync(c)]);
    await trackSome(c, 1);
    await Promise.all([sync(c), sync(c)]);
    expect(fake.maxConcurrentPerKey).toBe(1);
    await expectExact(c);
  }, 60_000);

  it('Connect: the platform key with the Stripe-Account header', async () => {
    const c = await linkedCreator({ customers: 2, connect: 'acct_1ConnectedAbc' });
    await trackSome(c, 0);
    await sync(c);
    const calls = fake.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.stripeAccount === 'acct_1ConnectedAbc');
    expect(calls.length).toBeGreaterThanOrEqual(2);
    for (const call of calls) expect(call.authorization).toBe(`Bearer ${PLATFORM_KEY}`);
    await expectExact(c);
  });

  it("Connect: another creator cannot connect an account already connected, nor report into it", async () => {
    const owner = await linkedCreator({ customers: 1, connect: 'acct_1OwnedByOne' });
    await trackSome(owner, 0);
    await sync(owner);
    const before = fake.requests.filter((r) => r.stripeAccount === 'acct_1OwnedByOne').length;
    const { apiKey } = await createCreatorWithKey(server.rt);
    const intruder = api(server.url, apiKey);
    // Naming the account is no longer a way in at all …
    const named = await intruder('PUT', '/api/usage/settings/stripe', { connect_account_id: 'acct_1OwnedByOne' });
    expect(named.status).toBe(422);
    expect(named.json).toMatchObject({ errors: [{ field: 'connect_account_id', message: expect.stringContaining('/api/usage/settings/stripe/connect') }] });
    // … and even with the owner's approval (a code Stripe issued for it), an account connected here stays its creator's.
    const claim = await connectAccount(intruder, 'acct_1OwnedByOne');
    expect(claim.status).toBe(409);
    expect(claim.json).toMatchObject({ type: expect.stringContaining('stripe-account-taken') });
    expect((await intruder('GET', '/api/usage/settings/stripe')).json).toMatchObject({ configured: null, connect_account_id: null });
    const synced = await intruder('POST', '/api/usage/billing/sync');
    expect(synced.status).toBe(409);
    expect(synced.json).toMatchObject({ type: expect.stringContaining('stripe-not-configured') });
    expect(fake.requests.filter((r) => r.stripeAccount === 'acct_1OwnedByOne')).toHaveLength(before);
    expect((await owner.call('GET', '/api/usage/settings/stripe')).json).toMatchObject({ configured: 'connect', connect_account_id: 'acct_1OwnedByOne' });
    // Once its creator moves to a key of its own, the account is free to connect.
    expect((await owner.call('PUT', '/api/usage/settings/stripe', { secret_key: owner.secretKey })).status).toBe(200);
    expect((await connectAccount(intruder, 'acct_1OwnedByOne')).status).toBe(200);
    // …and the creator who left it no longer reads it or writes into it, even to reconcile
    // what it reported there (here: an event Stripe lost, which it would have compensated)
    const reported = fake.events.find((e) => e.stripeAccountHeader === 'acct_1OwnedByOne')!;
    fake.loseEvent({ account: reported.account, identifier: reported.identifier });
    const touching = () => fake.requests.filter((r) => r.stripeAccount === 'acct_1OwnedByOne').length;
    const untouched = touching();
    const reconciled = await owner.call('POST', '/api/usage/billing/reconcile');
    expect(reconciled.status, reconciled.text).toBe(200);
    expect(reconciled.json).toMatchObject({ errors: 1, compensated: 0 });
    expect(touching()).toBe(untouched);
    const status = (await owner.call('GET', '/api/usage/billing/status')).json.rows;
    expect(status[0].last_error ?? '').toMatch(/no longer connected/);
  });

  it('Connect: a report still to be sent to an account the creator has left is not sent there; its quantity goes with the next report, where it reports now', async () => {
    const c = await linkedCreator({ customers: 1, connect: 'acct_1LeavingSoon' });
    await trackSome(c, 0);
    // Given a report left pending for the connected account (Stripe asked to wait a minute)
    fake.inject({ kind: '429', retryAfterSeconds: 60, pathPrefix: '/v1/billing/meter_events' });
    expect(await sync(c)).toMatchObject({ pending: 1 });
    fake.clearFaults();
    // When the creator moves to a key of its own and the next report runs
    expect((await c.call('PUT', '/api/usage/settings/stripe', { secret_key: c.secretKey })).status).toBe(200);
    const touching = () => fake.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.stripeAccount === 'acct_1LeavingSoon').length;
    const before = touching();
    await sync(c);
    // Then nothing more goes to the account it left, and the pending row says why it was not sent
    expect(touching()).toBe(before);
    const rows = await server.rt.ownerDb.execute<{ status: string; last_error: string | null; stripe_account_id: string | null }>(
      sql`select status, last_error, stripe_account_id from usage_billing_sync where creator_id = ${c.creatorId} order by sequence`,
    );
    expect(rows[0]).toMatchObject({ status: 'failed', stripe_account_id: 'acct_1LeavingSoon', last_error: expect.stringMatching(/no longer the one reported to/) });
    expect(rows[1]).toMatchObject({ stripe_account_id: null });
  });

  it('reports made with the creator’s own key are not reconciled through a Connect account that replaced the key', async () => {
    const c = await linkedCreator({ customers: 1 });
    await trackSome(c, 0);
    await sync(c);
    expect((await connectAccount(c.call, 'acct_1ReplacesKey')).status).toBe(200);
    const asked = () => fake.requests.filter((r) => r.stripeAccount === 'acct_1ReplacesKey').length;
    const before = asked();
    expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ errors: 1, compensated: 0 });
    expect(asked()).toBe(before);
  });

  it('Connect: a report whose sender died mid-call to an account the creator has since left is not sent anywhere again, and says it may be there', async () => {
    const c = await linkedCreator({ customers: 1, connect: 'acct_1LeftMidCall' });
    await trackSome(c, 0);
    // Given a run that claimed the report for the connected account and died mid-call (its claim lapsed)
    const { identifier, quantity } = await leftByDeadRun(c, c.users[0]!, { status: 'in_flight', attempts: 1, stripeAccountId: 'acct_1LeftMidCall', sendingUntil: new Date(Date.now() - 1000) });
    // When the creator moves to a key of its own and the next report runs
    expect((await c.call('PUT', '/api/usage/settings/stripe', { secret_key: c.secretKey })).status).toBe(200);
    const sent = fake.requests.length;
    await sync(c);
    // Then neither the account it left nor the new one gets that row's event; its quantity goes with the next row, for the new one
    const calls = fake.requests.slice(sent).filter((r) => r.path === '/v1/billing/meter_events');
    expect(calls.filter((r) => r.stripeAccount === 'acct_1LeftMidCall')).toHaveLength(0);
    expect(fake.events.filter((e) => e.identifier === identifier)).toHaveLength(0);
    const rows = await server.rt.ownerDb.execute<{ status: string; last_error: string | null; stripe_account_id: string | null; quantity_delta: string }>(
      sql`select status, last_error, stripe_account_id, quantity_delta::text from usage_billing_sync where creator_id = ${c.creatorId} order by sequence`,
    );
    expect(rows[0]).toMatchObject({ status: 'failed', stripe_account_id: 'acct_1LeftMidCall', last_error: expect.stringMatching(/may have reached it — check that account for identifier/) });
    // (Stripe refuses it there until the customer is linked to one of that account's customers: another story)
    expect(rows[1]).toMatchObject({ stripe_account_id: null, quantity_delta: quantity });
  });

  it('Connect: the service reports only to the account the creator connected, whatever account its caller names', async () => {
    const c = await linkedCreator({ customers: 1, connect: 'acct_1MineOnly' });
    await trackSome(c, 0);
    const usage = (await c.call('GET', `/api/usage/customers/${c.users[0]!.userId}/usage`)).json;
    const period = { start: new Date(usage.period_start), end: new Date(usage.period_end) };
    const sent = fake.requests.length;
    const service = new BillingService(server.rt, c.creatorId);
    const refused = await service.syncUsageToBilling(c.meterId, c.users[0]!.userId, period, usage.meters[0].used, 'acct_1SomeoneElses', null).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 422, errors: [expect.objectContaining({ field: 'stripeAccountId' })] });
    expect(fake.requests.slice(sent).filter((r) => r.stripeAccount === 'acct_1SomeoneElses')).toHaveLength(0);
    expect(await service.syncUsageToBilling(c.meterId, c.users[0]!.userId, period, usage.meters[0].used, 'acct_1MineOnly', null)).toMatchObject({ status: 'reported' });
  });

  it('the job reports on schedule (billing.schedule → billing.report)', async () => {
    const c = await linkedCreator({ customers: 1 });
    await trackSome(c, 0);
    const { queueDueBillingReports, reportUsageToStripe } = await import('../server/services/billing.js');
    const waitingJobs = async () =>
      (
        await server.rt.ownerDb.execute<{ n: number }>(
          sql`select count(*)::int as n from pgboss.job where name = 'billing.report' and singleton_key = ${c.creatorId} and state in ('created', 'retry')`,
        )
      )[0]!.n;
    expect(await queueDueBillingReports(server.rt)).toBeGreaterThanOrEqual(1);
    // The schedule runs every minute; with no worker taking the job (workers down, Stripe
    // failing), the creator still has one report waiting, not one more per minute.
    await queueDueBillingReports(server.rt);
    await queueDueBillingReports(server.rt);
    expect(await waitingJobs()).toBe(1);
    const job = await server.rt.boss.fetch('billing.report', { batchSize: 50 });
    expect(job?.some((j) => (j.data as { creatorId: string }).creatorId === c.creatorId)).toBe(true);
    // A running report may have read the ledger before newer usage: one more may wait behind it.
    await queueDueBillingReports(server.rt);
    expect(await waitingJobs()).toBe(1);
    await reportUsageToStripe(server.rt, c.creatorId);
    await expectExact(c);
  });

  it('the nightly reconciliation queues one job per creator, not one more each night while one waits', async () => {
    const c = await linkedCreator({ customers: 1 });
    const { queueBillingReconciliations } = await import('../server/services/billing.js');
    const waiting = async () =>
      (
        await server.rt.ownerDb.execute<{ n: number }>(
          sql`select count(*)::int as n from pgboss.job where name = 'billing.reconcile' and singleton_key = ${c.creatorId} and state in ('created', 'retry')`,
        )
      )[0]!.n;
    await queueBillingReconciliations(server.rt);
    await queueBillingReconciliations(server.rt);
    expect(await waiting()).toBe(1);
  });

  it('in production, a server without STRIPE_KEYS_ENCRYPTION_KEY stores no Stripe secret (409 naming the setting) and keeps nothing', async () => {
    const production = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, NODE_ENV: 'production', STRIPE_KEYS_ENCRYPTION_KEY: '' } });
    try {
      const { apiKey, creator } = await createCreatorWithKey(production.rt);
      const call = api(production.url, apiKey);
      for (const body of [{ secret_key: 'sk_test_productionNoKey0001' }, { webhook_secret: 'whsec_productionNoKey0001' }]) {
        const refused = await call('PUT', '/api/usage/settings/stripe', body);
        expect(refused.status, refused.text).toBe(409);
        expect(refused.json.detail).toContain('STRIPE_KEYS_ENCRYPTION_KEY');
      }
      expect((await call('GET', '/api/usage/settings/stripe')).json).toMatchObject({ configured: null, webhook_configured: false });
      const [row] = await server.rt.ownerDb.execute<{ k: string | null; w: string | null }>(
        sql`select stripe_secret_key_encrypted as k, stripe_webhook_secret_encrypted as w from creator_settings where creator_id = ${creator.id}`,
      );
      expect(row ?? { k: null, w: null }).toEqual({ k: null, w: null });
    } finally {
      await production.close();
    }
  });

  it('secrets never appear in logs, API responses or the database in clear', async () => {
    const c = await linkedCreator({ customers: 1 });
    await trackSome(c, 0);
    await sync(c);
    const settings = await c.call('GET', '/api/usage/settings/stripe');
    expect(settings.json).toMatchObject({ configured: 'secret_key', report_interval_minutes: 5 });
    expect(logLines.length).toBeGreaterThan(0);
    const everything = [...logLines, ...responses].join('\n');
    expect(everything).not.toContain(c.secretKey);
    expect(everything).not.toContain(PLATFORM_KEY);
    const [row] = await server.rt.ownerDb.execute<{ k: string }>(sql`select stripe_secret_key_encrypted as k from creator_settings where creator_id = ${c.creatorId}`);
    expect(row!.k).not.toContain('sk_test');
  });

  it('reconciliation: Stripe’s event summaries agree after normal operation; extra usage in Stripe shows as drift', async () => {
    const c = await linkedCreator({ customers: 2 });
    await trackSome(c, 0);
    await sync(c);
    const first = await c.call('POST', '/api/usage/billing/reconcile');
    expect(first.status, first.text).toBe(200);
    expect(first.json).toMatchObject({ pairs: 2, in_sync: 2, drifting: 0, errors: 0 });
    const rows = await expectExact(c);
    for (const row of rows) expect(row).toMatchObject({ stripe_quantity: row.quantity, drift: '0' });

    // Someone else reports 7 more for user-0 straight to Stripe: drift, not silently absorbed.
    const stripe = new Stripe(c.secretKey, { host: fake.host, port: fake.port, protocol: 'http' });
    await stripe.billing.meterEvents.create({ event_name: c.eventName, payload: { stripe_customer_id: c.users[0]!.stripeCustomerId, value: '7' } });
    const sent = fake.requests.filter((r) => r.path === '/v1/billing/meter_events').length;
    expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ in_sync: 1, drifting: 1, over_reported: 1, compensated: 0 });
    // Over-reported: recorded with its reason, nothing sent (meter events cannot be negative).
    expect(fake.requests.filter((r) => r.path === '/v1/billing/meter_events').length).toBe(sent);
    const status = await c.call('GET', '/api/usage/billing/status');
    const row0 = status.json.rows.find((r: { user_id: string }) => r.user_id === 'user-0');
    expect(row0).toMatchObject({ status: 'drifting', drift: '7' });
    expect(row0.last_error).toMatch(/^over_reported: .*cannot be negative/);
  });

  it('a report left unanswered past Stripe’s 24 h identifier window is not resent; reconciliation settles it, then usage is exact', async () => {
    const c = await linkedCreator({ customers: 2 });
    await trackSome(c, 0);
    // Given: a worker wrote each customer's report and died mid-call 25 h ago. For user-0 the
    // call reached Stripe; for user-1 it did not.
    const past = new Date(Date.now() - 25 * 3600_000);
    const stripe = new Stripe(c.secretKey, { host: fake.host, port: fake.port, protocol: 'http' });
    const identifiers: string[] = [];
    for (const [i, u] of c.users.entries()) {
      const { identifier, quantity } = await leftByDeadRun(c, u, { status: 'pending', attempts: 1, createdAt: past });
      identifiers.push(identifier);
      if (i === 0) {
        await stripe.billing.meterEvents.create({ event_name: c.eventName, identifier, payload: { stripe_customer_id: u.stripeCustomerId, value: quantity } });
      }
    }
    // When: a report runs → both rows become unknown and nothing is resent.
    const sent = fake.requests.length;
    expect(await sync(c)).toMatchObject({ unknown: 2, reported: 0 });
    expect(fake.requests.slice(sent).filter((r) => r.path === '/v1/billing/meter_events')).toHaveLength(0);
    let status = await c.call('GET', '/api/usage/billing/status');
    expect(status.json.rows.map((r: { status: string }) => r.status)).toEqual(['unknown', 'unknown']);
    // Then: reconciliation finds user-0's report in Stripe's total and not user-1's…
    expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ resolved: 2 });
    const [row0, row1] = await Promise.all(
      identifiers.map(async (identifier) => (await server.rt.ownerDb.execute<{ status: string }>(sql`select status from usage_billing_sync where creator_id = ${c.creatorId} and identifier = ${identifier}`))[0]!.status),
    );
    expect([row0, row1]).toEqual(['succeeded', 'failed']);
    // Stripe took user-0's at its send, 25 h ago (the earliest it can have been), not at this reconciliation
    const [took] = await server.rt.ownerDb.execute<{ stripe_took_at: Date | string }>(sql`select stripe_took_at from usage_billing_sync where creator_id = ${c.creatorId} and identifier = ${identifiers[0]!}`);
    expect(new Date(took!.stripe_took_at).getTime()).toBe(past.getTime());
    // …and the next report sends user-1's usage under a new identifier: exact.
    expect(await sync(c)).toMatchObject({ reported: 1, up_to_date: 1 });
    await c.call('POST', '/api/usage/billing/reconcile');
    status = await c.call('GET', '/api/usage/billing/status');
    expect(status.json.rows.every((r: { stripe_quantity: string; quantity: string }) => r.stripe_quantity === r.quantity)).toBe(true);
    await expectExact(c);
  });

  it('a report still being sent as its row ages past the identifier window is left to its sender, whose answer is recorded', async () => {
    const c = await linkedCreator({ customers: 1 });
    await trackSome(c, 0);
    // Given: a run claimed the row just inside the window and is still calling Stripe (claimed 3 s more).
    const claimedUntil = new Date(Date.now() + 3_000);
    const { syncId, identifier } = await leftByDeadRun(c, c.users[0]!, {
      status: 'in_flight',
      attempts: 1,
      createdAt: new Date(Date.now() - 23 * 3600_000 - 60_000),
      sendingUntil: claimedUntil,
    });
    const sent = fake.requests.length;
    // When: another report runs meanwhile, and the sender then records Stripe's answer (as
    // sendRow does: only while it still holds its claim).
    const report = sync(c);
    await new Promise((r) => setTimeout(r, 800));
    const recorded = await server.rt.ownerDb.execute(sql`
      update usage_billing_sync set status = 'succeeded', sending_until = null, reported_at = now()
      where sync_id = ${syncId} and sending_until = ${claimedUntil.toISOString()}::timestamptz
      returning sync_id`);
    await report;
    // Then: the sender still held its claim, its answer stands, and nothing was sent again.
    expect(recorded).toHaveLength(1);
    const [row] = await server.rt.ownerDb.execute<{ status: string }>(sql`select status from usage_billing_sync where sync_id = ${syncId}`);
    expect(row!.status).toBe('succeeded');
    expect(fake.requests.slice(sent).filter((r) => r.identifier === identifier)).toHaveLength(0);
  });

  it('a worker killed mid-report: its committed row is resent with the same identifier, applied or not', async () => {
    const c = await linkedCreator({ customers: 2 });
    await trackSome(c, 0);
    const stripe = new Stripe(c.secretKey, { host: fake.host, port: fake.port, protocol: 'http' });
    // Given: each customer's row was committed and the worker died during the call; user-0's
    // call had reached Stripe, user-1's had not.
    for (const [i, u] of c.users.entries()) {
      const { identifier, quantity } = await leftByDeadRun(c, u, { status: 'pending', attempts: 1 });
      if (i === 0) await stripe.billing.meterEvents.create({ event_name: c.eventName, identifier, payload: { stripe_customer_id: u.stripeCustomerId, value: quantity } });
    }
    // When: the next report runs. Then: both rows end succeeded, Stripe has each quantity once.
    await sync(c);
    await trackSome(c, 1);
    await sync(c);
    await expectExact(c);
  });

  it('a report whose run died mid-call is left while its claim holds, then resent under its identifier once it lapses', async () => {
    const c = await linkedCreator({ customers: 1 });
    await trackSome(c, 0);
    // As a run leaves it that died during its call: in flight, claimed for 2 s more.
    const claimedUntil = Date.now() + 2_000;
    const { syncId, identifier } = await leftByDeadRun(c, c.users[0]!, { status: 'in_flight', attempts: 1, sendingUntil: new Date(claimedUntil) });
    // (The open row goes out first, then the pair is found up to date.)
    expect(await sync(c)).toMatchObject({ pairs: 1, up_to_date: 1, pending: 0, failed: 0, unknown: 0 });
    const calls = fake.requests.filter((r) => r.identifier === identifier);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.at).toBeGreaterThanOrEqual(claimedUntil);
    const [row] = await server.rt.ownerDb.execute<{ status: string; sending_until: string | null }>(sql`select status, sending_until from usage_billing_sync where sync_id = ${syncId}`);
    expect(row).toEqual({ status: 'succeeded', sending_until: null });
    await expectExact(c);
  });

  it('at period end: a late event inside the grace goes to the closed period, stamped inside it', async () => {
    // Given: a clock 10 minutes into December, for us and for Stripe.
    const clock = new Date('2026-12-01T00:10:00Z');
    fake.setNow(() => clock);
    const late = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, STRIPE_TIMEOUT_MS: '300' }, now: () => clock });
    try {
      const c = await linkedCreator({ customers: 1, target: late });
      // When: one event of November arrives late (inside the 24 h grace), one of December.
      const track = await c.call('POST', '/api/usage/track', [
        { event_name: 'calls', user_id: 'user-0', value: 4, timestamp: '2026-11-30T23:58:00Z' },
        { event_name: 'calls', user_id: 'user-0', value: 6 },
      ]);
      expect(track.json.results.map((r: { status: number }) => r.status)).toEqual([201, 201]);
      const result = (await c.call('POST', '/api/usage/billing/sync')).json;
      expect(result).toMatchObject({ pairs: 2, reported: 2 });
      // Then: Stripe bills 4 in November (stamped in its last second) and 6 in December.
      const customer = c.users[0]!.stripeCustomerId;
      expect(fake.total({ account: c.account, eventName: c.eventName, customer, start: new Date('2026-11-01T00:00:00Z'), end: new Date('2026-12-01T00:00:00Z') })).toBe('4');
      expect(fake.total({ account: c.account, eventName: c.eventName, customer, start: new Date('2026-12-01T00:00:00Z'), end: new Date('2027-01-01T00:00:00Z') })).toBe('6');
      const november = fake.events.find((e) => e.account === c.account && e.value === '4');
      expect(november?.timestamp).toBe(Date.parse('2026-11-30T23:59:59Z') / 1000);
    } finally {
      fake.setNow(() => new Date());
      await late.close();
    }
  });
  it('reports a late event accepted at the end of the grace, even when reports run only once a day', async () => {
    // Given: reports every 24 h, and a November event that arrives 23 h 59 min into December (the grace is 24 h).
    let clock = new Date('2026-12-01T23:59:00Z');
    fake.setNow(() => clock);
    const daily = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, STRIPE_TIMEOUT_MS: '300' }, now: () => clock });
    try {
      const c = await linkedCreator({ customers: 1, target: daily });
      expect((await c.call('PUT', '/api/usage/settings/stripe', { report_interval_minutes: 1440 })).status).toBe(200);
      const track = await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'user-0', value: 7, timestamp: '2026-11-30T23:00:00Z' });
      expect(track.status).toBe(201);
      // When: the next daily report runs, 22 hours later.
      clock = new Date('2026-12-02T21:59:00Z');
      const { reportUsageToStripe } = await import('../server/services/billing.js');
      await reportUsageToStripe(daily.rt, c.creatorId);
      // Then: Stripe bills the 7 in November.
      const customer = c.users[0]!.stripeCustomerId;
      expect(fake.total({ account: c.account, eventName: c.eventName, customer, start: new Date('2026-11-01T00:00:00Z'), end: new Date('2026-12-01T00:00:00Z') })).toBe('7');
    } finally {
      fake.setNow(() => new Date());
      await daily.close();
    }
  });

  it('reconciliation corrects nothing a recent report could explain: Stripe’s summaries lag, so the drift is left until the report is older than the lag', async () => {
    let clock = new Date();
    fake.setNow(() => clock);
    const lagging = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, STRIPE_TIMEOUT_MS: '300', STRIPE_SUMMARY_LAG_MS: '3600000' }, now: () => clock });
    try {
      const c = await linkedCreator({ customers: 1, target: lagging });
      await trackSome(c, 0);
      expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ reported: 1 });
      // Given: Stripe's summary does not include the report yet (here: the fake lost it).
      const first = fake.events.find((e) => e.account === c.account)!;
      fake.loseEvent({ account: c.account, identifier: first.identifier });
      const meterCalls = () => fake.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.authorization.includes(c.secretKey)).length;
      const before = meterCalls();
      // When: reconciliation runs within the hour. Then: the drift is shown, nothing is sent.
      expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ drifting: 1, compensated: 0 });
      expect(meterCalls()).toBe(before);
      // An hour and more later the report is settled on Stripe's side: what is still missing is compensated.
      clock = new Date(clock.getTime() + 61 * 60_000);
      expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ drifting: 1, compensated: 1 });
      expect(meterCalls()).toBe(before + 1);
    } finally {
      fake.setNow(() => new Date());
      await lagging.close();
    }
  });

  it('drift correction: an event lost on Stripe’s side is compensated once, under a new identifier of its own', async () => {
    const c = await linkedCreator({ customers: 2 });
    await trackSome(c, 0);
    await sync(c);
    // Given: Stripe loses user-0's applied event (its identifier stays taken for 24 h).
    const first = fake.events.find((e) => e.account === c.account && e.customer === c.users[0]!.stripeCustomerId)!;
    const lost = fake.loseEvent({ account: c.account, identifier: first.identifier });
    const ourTotal = async (u: { userId: string }) =>
      (await c.call('GET', `/api/usage/customers/${u.userId}/usage`)).json.meters.find((m: { event_name: string }) => m.event_name === 'calls').used as string;
    const stripeTotal = (u: { stripeCustomerId: string }) => fake.total({ account: c.account, eventName: c.eventName, customer: u.stripeCustomerId });
    expect(stripeTotal(c.users[0]!)).toBe('0');
    const meterCalls = () => fake.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.authorization.includes(c.secretKey));
    const before = meterCalls().length;
    // When: reconciliation runs. Then: one compensating event for the missing quantity, with the next sequence's identifier.
    const run = await c.call('POST', '/api/usage/billing/reconcile');
    expect(run.status, run.text).toBe(200);
    expect(run.json).toMatchObject({ pairs: 2, in_sync: 1, drifting: 1, compensated: 1, over_reported: 0, errors: 0 });
    const sent = meterCalls().slice(before);
    expect(sent).toHaveLength(1);
    const [customer] = await server.rt.ownerDb.execute<{ customer_id: string }>(sql`select customer_id from customers where creator_id = ${c.creatorId} and user_id = 'user-0'`);
    const ledger = await server.rt.ownerDb.execute<{ sequence: number; identifier: string; status: string; quantity_delta: string; cumulative_total: string }>(sql`
      select sequence, identifier, status, quantity_delta::text, cumulative_total::text from usage_billing_sync
      where creator_id = ${c.creatorId} and customer_id = ${customer!.customer_id} order by sequence`);
    expect(ledger).toHaveLength(2);
    expect(ledger[1]).toMatchObject({ sequence: 2, status: 'succeeded', identifier: sent[0]!.identifier });
    expect(ledger[1]!.identifier).not.toBe(lost.identifier);
    expect(Number(ledger[1]!.quantity_delta)).toBe(Number(lost.value));
    expect(ledger[1]!.cumulative_total).toBe(ledger[0]!.cumulative_total);
    for (const u of c.users) expect(Number(stripeTotal(u))).toBe(Number(await ourTotal(u)));
    let status = await c.call('GET', '/api/usage/billing/status');
    for (const row of status.json.rows) expect(row, JSON.stringify(row)).toMatchObject({ status: 'in_sync', drift: '0' });
    // Running it again compensates nothing; a report sends nothing either.
    expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ in_sync: 2, drifting: 0, compensated: 0 });
    expect(await sync(c)).toMatchObject({ up_to_date: 2, reported: 0 });
    expect(meterCalls().length).toBe(before + 1);
    // Later usage is reported on top, exactly.
    await trackSome(c, 1);
    expect(await sync(c)).toMatchObject({ reported: 2 });
    expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ in_sync: 2, compensated: 0 });
    for (const u of c.users) expect(Number(stripeTotal(u))).toBe(Number(await ourTotal(u)));
    status = await c.call('GET', '/api/usage/billing/status');
    for (const row of status.json.rows) expect(row, JSON.stringify(row)).toMatchObject({ status: 'in_sync' });
    expect(fake.duplicateIdentifiers()).toEqual([]);
  });

  it('10 minutes of outage (fake clock) while usage keeps arriving: reports fail and are retried, then exact', async () => {
    let clock = new Date('2026-12-10T12:00:00Z');
    fake.setNow(() => clock);
    const outage = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, STRIPE_TIMEOUT_MS: '300' }, now: () => clock });
    try {
      const c = await linkedCreator({ customers: 2, target: outage });
      await trackSome(c, 0);
      expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ reported: 2 });
      // Stripe goes down for 10 minutes; usage keeps arriving every minute, a report runs at minute 5.
      fake.inject({ kind: 'down', pathPrefix: '/v1/billing/meter_events' });
      for (let minute = 1; minute <= 10; minute++) {
        clock = new Date(clock.getTime() + 60_000);
        await trackSome(c, minute);
        if (minute === 5) {
          const during = await c.call('POST', '/api/usage/billing/sync');
          expect(during.json, during.text).toMatchObject({ pending: 2, reported: 0 });
          const status = await c.call('GET', '/api/usage/billing/status');
          for (const row of status.json.rows) expect(row).toMatchObject({ status: 'pending' });
        }
      }
      const down = fake.requests.filter((r) => r.fault === 'down' && r.authorization.includes(c.secretKey));
      expect(down.length).toBeGreaterThanOrEqual(2 * 8);
      // Stripe is back: the pending rows go out with their identifiers, then the rest.
      fake.clearFaults();
      clock = new Date(clock.getTime() + 60_000);
      const after = await c.call('POST', '/api/usage/billing/sync');
      expect(after.json, after.text).toMatchObject({ reported: 2, pending: 0, failed: 0 });
      for (const hit of down) expect(fake.events.filter((e) => e.identifier === hit.identifier)).toHaveLength(1);
      for (const u of c.users) {
        const used = (await c.call('GET', `/api/usage/customers/${u.userId}/usage`)).json.meters[0].used as string;
        expect(Number(fake.total({ account: c.account, eventName: c.eventName, customer: u.stripeCustomerId }))).toBe(Number(used));
      }
      expect(fake.duplicateIdentifiers()).toEqual([]);
      expect(fake.concurrencyViolations).toBe(0);
      expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ in_sync: 2, drifting: 0, compensated: 0 });
    } finally {
      fake.setNow(() => new Date());
      await outage.close();
    }
  }, 90_000);

  it('a > 24 h gap (runtime clock): a report Stripe applied but never answered is reconciled, not resent; no double count', async () => {
    let clock = new Date('2026-12-10T12:00:00Z');
    fake.setNow(() => clock);
    const gap = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, STRIPE_TIMEOUT_MS: '300' }, now: () => clock });
    try {
      const c = await linkedCreator({ customers: 1, target: gap });
      await trackSome(c, 0);
      // Given: Stripe applies the report but the answer is lost, then every retry is refused.
      fake.inject({ kind: '500-after', times: 1, pathPrefix: '/v1/billing/meter_events' });
      fake.inject({ kind: '429', retryAfterSeconds: 0, pathPrefix: '/v1/billing/meter_events' });
      expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ pending: 1 });
      const applied = fake.events.filter((e) => e.account === c.account);
      expect(applied).toHaveLength(1);
      fake.clearFaults();
      // When: 25 h pass (past Stripe's identifier window, where a resend would count again) and usage keeps coming.
      clock = new Date(clock.getTime() + 25 * 3600_000);
      await trackSome(c, 1);
      const sent = fake.requests.length;
      expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ unknown: 1, reported: 0 });
      expect(fake.requests.slice(sent).filter((r) => r.path === '/v1/billing/meter_events')).toHaveLength(0);
      // Then: reconciliation finds it in Stripe's total, and the next report sends only the new usage.
      expect((await c.call('POST', '/api/usage/billing/reconcile')).json).toMatchObject({ resolved: 1, in_sync: 1, compensated: 0 });
      expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ reported: 1 });
      expect(fake.events.filter((e) => e.identifier === applied[0]!.identifier)).toHaveLength(1);
      const used = (await c.call('GET', '/api/usage/customers/user-0/usage')).json.meters[0].used as string;
      expect(Number(fake.total({ account: c.account, eventName: c.eventName, customer: c.users[0]!.stripeCustomerId }))).toBe(Number(used));
      expect(fake.duplicateIdentifiers()).toEqual([]);
      const status = await c.call('GET', '/api/usage/billing/status');
      expect(status.json.rows).toHaveLength(1);
      expect(status.json.rows[0]).toMatchObject({ status: 'in_sync' });
    } finally {
      fake.setNow(() => new Date());
      await gap.close();
    }
  }, 60_000);
});
