import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sendStripeWebhook, startFakeStripe, stripeEvent, type FakeStripe } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { createLinkedMeter, LINKED_CALLS_METER, subscriptionWithPeriod, syncToStripe } from './harness/stripe-linked.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Stripe reporting after the creator or Stripe changed something mid-way (ADR 0013, amendment
 * "reports that an account switch, a link change or an anchor move left behind"): each test says
 * what money went wrong before.
 */
const PLATFORM_KEY = 'sk_test_reviewPlatform0123456789';
const CONNECT_CLIENT_ID = 'ca_reviewClient0123456789';
const { url } = await useTestDatabase();
let fake: FakeStripe;
let server: TestServer;
/** The clock of the server and of the fake Stripe. */
let clock = new Date('2026-12-10T10:00:00Z');

beforeAll(async () => {
  fake = await startFakeStripe();
  fake.setNow(() => clock);
  server = await startTestServer(url, {
    env: { STRIPE_API_BASE: fake.url, STRIPE_SECRET_KEY: PLATFORM_KEY, STRIPE_CONNECT_CLIENT_ID: CONNECT_CLIENT_ID, STRIPE_TIMEOUT_MS: '300', STRIPE_SUMMARY_LAG_MS: '0' },
    now: () => clock,
  });
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});
afterEach(() => fake.clearFaults());

type Linked = Awaited<ReturnType<typeof createLinkedMeter>>;

async function connectAccount(c: Linked, accountId: string) {
  const started = await c.call('POST', '/api/usage/settings/stripe/connect', { redirect_uri: 'https://usage.example.com/creator/dashboard/usage/billing/connect' });
  expect(started.status, started.text).toBe(201);
  const state = new URL(started.json.authorize_url as string).searchParams.get('state')!;
  const done = await c.call('POST', '/api/usage/settings/stripe/connect/complete', { code: fake.authorizeConnect(accountId), state });
  expect(done.status, done.text).toBe(200);
}

const track = async (c: Linked, value: number, timestamp?: string) => {
  const r = await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 's1', value, ...(timestamp ? { timestamp } : {}) });
  expect(r.status, r.text).toBe(201);
};

describe('Stripe reporting after a change', () => {
  it('a report of unknown outcome made with the creator’s own key does not stop the rest of the period from reaching the Connect account that replaced the key', async () => {
    // Money: after the switch, every further unit of the period is never billed. The old row is
    // `unknown`; reconciliation refuses to read the old (key) target once a Connect account is
    // connected (stripe_account_disconnected), so nothing ever settles it, and every report of
    // the pair's period answers "An earlier report has no known outcome; reconcile first".
    // ADR 0013 promises that a report still open for an account the creator left does not hold
    // the next reports back ("its quantity goes with the next report, where the creator reports now").
    clock = new Date('2026-12-10T10:00:00Z');
    const c = await createLinkedMeter(server, fake, LINKED_CALLS_METER);
    await track(c, 5);
    // Stripe rate-limits the report longer than a run waits: pending… (429 is how the project's own
    // tests model an unanswered report; a timeout storm leaves the same `unknown` row after 23 h.)
    fake.inject({ kind: '429', retryAfterSeconds: 60, pathPrefix: '/v1/billing/meter_events' });
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ pending: 1 });
    fake.clearFaults();
    // …and a day later (Stripe still unanswered from our side) it is past the identifier window: unknown.
    clock = new Date('2026-12-11T10:30:00Z');
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ unknown: 1 });

    // The creator connects its Stripe account through Connect (replacing the key), with the meter
    // and the customer there, and s1 keeps using the product.
    const account = 'acct_1ReviewUnknownSwitch';
    await connectAccount(c, account);
    const platform = new Stripe(PLATFORM_KEY, { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    await platform.billing.meters.create({ display_name: 'Calls', event_name: 'calls', default_aggregation: { formula: 'sum' } }, { stripeAccount: account });
    const customer = await platform.customers.create({ email: 's1@example.com' }, { stripeAccount: account });
    expect((await c.call('PUT', '/api/usage/customers/s1', { stripe_customer_id: customer.id })).status).toBe(200);
    await track(c, 3);

    // Reports and reconciliations run, as the schedule would, over the following hours.
    for (const at of ['2026-12-11T11:00:00Z', '2026-12-11T13:00:00Z', '2026-12-12T02:00:00Z']) {
      clock = new Date(at);
      expect((await c.call('POST', '/api/usage/billing/sync')).status).toBe(200);
      expect((await c.call('POST', '/api/usage/billing/reconcile')).status).toBe(200);
    }
    clock = new Date('2026-12-12T03:00:00Z');
    const last = await c.call('POST', '/api/usage/billing/sync');

    // The account reported to now holds at least what was used after the switch (3; 8 if the
    // unknown 5 is carried over as a pending one is).
    const held = fake.total({ account, eventName: 'calls', customer: customer.id });
    expect({ held, last: last.json }, JSON.stringify(last.json)).toEqual({ held: '8', last: expect.objectContaining({ unknown: 0 }) });
  });

  it('a late event reported after the grace ended but before the period’s final report goes to the Stripe meter the period was billed on, not one the meter was re-linked to in between', async () => {
    // Money: PATCH stripe_meter_event_name is refused (409 meter-stripe-link-fixed) only while a
    // reported period still takes events (period end + grace). The period's final report runs up
    // to one report interval (+1 h) later (ADR 0013 "Schedule": daily intervals are supported).
    // A re-link in between is accepted, and the final report sends December's late 3 calls to the
    // new Stripe meter: December is split 5 on `calls` (whose price is on December's invoice) and 3
    // on `calls_v2` — the README's own example of billing 3 of 8 — and reconciliation calls both in sync.
    clock = new Date('2026-12-15T12:00:00Z');
    const c = await createLinkedMeter(server, fake, LINKED_CALLS_METER);
    expect((await c.call('PUT', '/api/usage/settings/stripe', { report_interval_minutes: 1440 })).status).toBe(200);
    await track(c, 5);
    await syncToStripe(c.call);
    expect(c.stripeTotal()).toBe('5');

    // A late December event at the very end of the 24 h grace…
    clock = new Date('2027-01-01T23:50:00Z');
    await track(c, 3, '2026-12-31T23:00:00Z');
    // …and, once the grace is over but before the next daily report, the meter is re-linked.
    clock = new Date('2027-01-02T00:30:00Z');
    const relinked = await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: 'calls_v2' });
    expect(relinked.status, relinked.text).toBe(409);
    expect(relinked.json.type).toBe('https://staryer.dev/problems/meter-stripe-link-fixed');

    // The daily report runs (December's final report is still due: end + grace + interval + 1 h).
    clock = new Date('2027-01-02T12:00:00Z');
    await syncToStripe(c.call);
    const previous = await c.call('GET', '/api/usage/customers/s1/usage?period=previous');
    expect(previous.json.meters[0].used).toBe('8');
    const customer = fake.events.find((e) => e.account === c.account)!.customer;
    const december = { start: new Date('2026-12-01T00:00:00Z'), end: new Date('2027-01-01T00:00:00Z') };
    expect({
      calls: fake.total({ account: c.account, eventName: 'calls', customer, ...december }),
      calls_v2: fake.total({ account: c.account, eventName: 'calls_v2', customer, ...december }),
    }).toEqual({ calls: '8', calls_v2: '0' });
    // Once December's final report is past (Jan 1 + 24 h + 24 h + 1 h), the link may change.
    clock = new Date('2027-01-03T01:30:00Z');
    const later = await c.call('PATCH', `/api/usage/meters/${c.meterId}`, { stripe_meter_event_name: 'calls_v2' });
    expect(later.status, later.text).toBe(200);
  });

  it('a closed period’s unreported usage still reaches Stripe after the customer’s billing anchor moved (an accepted anchor change)', async () => {
    // Money: README promises "any older period Stripe still takes (35 days) whose total was never
    // fully reported … is made up by the next report". Reports pick older periods from the
    // customer's anchor *now*, so once the anchor moved (accepted: no usage open to events under
    // the new anchor overlaps November), November — still the customer's `previous` period on the
    // usage endpoint, billed 9 there — is never looked at again: its last 4 calls are never billed.
    clock = new Date('2026-11-20T12:00:00Z');
    const c = await createLinkedMeter(server, fake, LINKED_CALLS_METER);
    await track(c, 5);
    await syncToStripe(c.call);
    // 4 more on the last evening of November; then reports do not run for two days (workers down).
    clock = new Date('2026-11-30T22:00:00Z');
    await track(c, 4);

    // The customer is given an anchor on the 2nd (it subscribes), accepted: no usage since November.
    clock = new Date('2026-12-03T12:00:00Z');
    const moved = await c.call('PUT', '/api/usage/customers/s1', { billing_anchor: '2026-12-02T00:00:00Z' });
    expect(moved.status, moved.text).toBe(200);
    const previous = await c.call('GET', '/api/usage/customers/s1/usage?period=previous');
    expect(previous.json).toMatchObject({ period_start: '2026-11-01T00:00:00.000Z', meters: [expect.objectContaining({ used: '9' })] });

    // Workers are back: the next report runs.
    await syncToStripe(c.call);
    expect(c.stripeTotal()).toBe('9');
  });
});

describe('reconciliation after Stripe moved a customer’s billing anchor mid-period', () => {
  it('the old and the new period overlap: each window is compared with every report Stripe counts in it, not flagged over-reported', async () => {
    // Money: the old period's window (June) also holds the new period's reports made since it
    // began (June 15 on): Stripe's June total is 5 + 3 against 5 reported "for June", and the
    // creator was told to cancel events or credit the invoice — a refund of usage rightly billed.
    clock = new Date('2026-06-10T10:00:00Z');
    const c = await createLinkedMeter(server, fake, LINKED_CALLS_METER);
    await track(c, 5);
    await syncToStripe(c.call);
    const secret = 'whsec_reconcileOverlap0123456789';
    expect((await c.call('PUT', '/api/usage/settings/stripe', { webhook_secret: secret })).status).toBe(200);
    const creatorId = (await c.call('GET', '/api/usage/me')).json.creator_id as string;

    // June 16: s1 subscribes; Stripe's period (and so s1's) is June 15 → July 15. 3 more calls, reported.
    clock = new Date('2026-06-16T10:00:00Z');
    const subscription = (await c.stripe.subscriptions.create({ customer: c.stripeCustomerId, items: [{ price: 'price_metered' }] })) as unknown as Record<string, any>;
    const moved = subscriptionWithPeriod(subscription, new Date('2026-06-15T00:00:00Z'), new Date('2026-07-15T00:00:00Z'));
    const hook = await sendStripeWebhook(`${server.url}/api/stripe/webhooks/${creatorId}`, secret, stripeEvent('customer.subscription.updated', moved, Math.floor(clock.getTime() / 1000)));
    expect(hook.json?.outcome, JSON.stringify(hook)).toBe('applied');
    await track(c, 3);
    await syncToStripe(c.call);
    expect(c.stripeTotal()).toBe('8');

    clock = new Date('2026-06-16T11:00:00Z');
    const reconciled = await c.call('POST', '/api/usage/billing/reconcile');
    expect(reconciled.status, reconciled.text).toBe(200);
    expect(reconciled.json).toMatchObject({ pairs: 2, in_sync: 2, drifting: 0, over_reported: 0, compensated: 0 });

    // Stripe then loses the new period's report (stamped June 16, inside both windows): each window
    // is short of 3, but only one loss happened — compensated by both, s1 would be billed 3 twice.
    const lost = fake.events.filter((e) => e.account === c.account).at(-1)!;
    expect(lost.value).toBe('3');
    fake.loseEvent({ account: c.account, identifier: lost.identifier });
    clock = new Date('2026-06-16T12:00:00Z');
    const again = await c.call('POST', '/api/usage/billing/reconcile');
    expect(again.status, again.text).toBe(200);
    // The new period's window, which no other period's report reaches, compensates its loss; the
    // old one's, which cannot tell whose the missing 3 are, leaves it (and says why): once.
    expect(again.json).toMatchObject({ pairs: 2, compensated: 1, over_reported: 0 });
    await c.call('POST', '/api/usage/billing/sync');
    expect(c.stripeTotal()).toBe('8');
  });
});
