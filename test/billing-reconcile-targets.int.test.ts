import { sql } from 'drizzle-orm';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeStripe, type FakeStripe } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import { createLinkedMeter, syncToStripe } from './harness/stripe-linked.js';
import { startTestServer, type TestServer } from './harness/server.js';

/**
 * Reconciliation asks Stripe what one of its summaries can answer — one Stripe customer's
 * total on one Stripe meter over whole minutes — and compares it with what every report
 * sent there adds up to: periods that do not start on a minute, two of our meters feeding
 * one Stripe meter, a customer re-linked to another Stripe customer mid-period, and totals
 * a double cannot hold all reconcile in sync, and a loss among them is compensated once.
 */
const { url } = await useTestDatabase();
let fake: FakeStripe;
let server: TestServer;
/** The clock of the server and of the fake Stripe. */
let clock = new Date('2026-12-03T09:15:40Z');

beforeAll(async () => {
  fake = await startFakeStripe();
  fake.setNow(() => clock);
  server = await startTestServer(url, { env: { STRIPE_API_BASE: fake.url, STRIPE_SUMMARY_LAG_MS: '0' }, now: () => clock });
});
afterAll(async () => {
  await server?.close();
  await fake?.close();
});
afterEach(() => fake.clearFaults());

type Linked = Awaited<ReturnType<typeof createLinkedMeter>>;

const meterEventsSent = () => fake.requests.filter((r) => r.path === '/v1/billing/meter_events').length;

async function reconcile(c: Linked) {
  const run = await c.call('POST', '/api/usage/billing/reconcile');
  expect(run.status, run.text).toBe(200);
  return run.json;
}

async function statusRows(c: Linked) {
  const status = await c.call('GET', '/api/usage/billing/status');
  expect(status.status, status.text).toBe(200);
  return status.json.rows as Array<Record<string, unknown>>;
}

/** The ledger of the creator of `c`, oldest first, with each row's user. */
async function ledger(c: Linked) {
  const [meter] = await server.rt.ownerDb.execute<{ creator_id: string }>(sql`select creator_id from usage_meters where meter_id = ${c.meterId}`);
  const creator_id = meter!.creator_id;
  return server.rt.ownerDb.execute<{ sync_id: string; user_id: string; status: string; identifier: string; quantity_delta: string; event_timestamp: string; stripe_event_name: string; compensates: boolean }>(sql`
    select s.sync_id, c.user_id, s.status, s.identifier, s.quantity_delta::text, s.event_timestamp::text, s.stripe_event_name, s.compensates
    from usage_billing_sync s join customers c on c.customer_id = s.customer_id
    where s.creator_id = ${creator_id} order by s.created_at, s.sequence`);
}

/** Meter events get 429 with a Retry-After longer than a run waits: reports stay pending. */
const stripeUnreachable = () => fake.inject({ kind: '429', retryAfterSeconds: 60, pathPrefix: '/v1/billing/meter_events' });

const sumMeter = (event_name: string) => ({ event_name, display_name: event_name, aggregation_type: 'sum', unit_name: 'units', plan_limits: [{ plan_name: 'ov', limit_value: null }] });

describe('reconciliation against what each Stripe summary covers', () => {
  it('a period anchored at 09:15:30: reports are stamped inside its whole minutes, reconciliation asks Stripe for those minutes and is in sync; a lost report is compensated', async () => {
    clock = new Date('2026-12-03T09:15:40Z');
    // Given a customer whose periods start on the 3rd at 09:15:30, ten seconds into the current one
    const c = await createLinkedMeter(server, fake, sumMeter('frames'));
    const anchored = await c.call('PUT', '/api/usage/customers/s1', { billing_anchor: '2026-10-03T09:15:30Z' });
    expect(anchored.status, anchored.text).toBe(200);
    // When it uses 5 now and 3 late for the period that ended ten seconds ago, and we report
    const track = await c.call('POST', '/api/usage/track', [
      { event_name: 'frames', user_id: 's1', value: 5 },
      { event_name: 'frames', user_id: 's1', value: 3, timestamp: '2026-12-03T09:15:10Z' },
    ]);
    expect(track.json.results.map((r: { status: number }) => r.status)).toEqual([201, 201]);
    expect(await syncToStripe(c.call)).toMatchObject({ pairs: 2, reported: 2 });

    // Then each event is inside its period's whole minutes: the current one at its first
    // whole minute (20 s ahead, which Stripe takes), the closed one at its last whole minute's last second
    // (the two periods are reported side by side: in either order)
    const events = fake.events.filter((e) => e.account === c.account).sort((a, b) => b.timestamp - a.timestamp);
    expect(events.map((e) => [e.value, new Date(e.timestamp * 1000).toISOString()])).toEqual([
      ['5', '2026-12-03T09:16:00.000Z'],
      ['3', '2026-12-03T09:14:59.000Z'],
    ]);
    // And reconciliation asks Stripe for minute-aligned windows (it refuses others) and finds both in sync
    expect(await reconcile(c)).toMatchObject({ pairs: 2, in_sync: 2, drifting: 0, errors: 0, compensated: 0 });
    const summaries = fake.requests.filter((r) => r.path.endsWith('/event_summaries') && r.authorization.includes(c.account.slice(4)));
    expect(summaries.length).toBeGreaterThan(0);
    for (const rows of await statusRows(c)) expect(rows).toMatchObject({ status: 'in_sync', drift: '0' });

    // When Stripe loses the current period's report, the next reconciliation sends it again, once
    fake.loseEvent({ account: c.account, identifier: events[0]!.identifier });
    expect(await reconcile(c)).toMatchObject({ in_sync: 1, drifting: 1, compensated: 1, errors: 0 });
    expect(await reconcile(c)).toMatchObject({ in_sync: 2, compensated: 0 });
    const window = { start: new Date('2026-12-03T09:16:00Z'), end: new Date('2027-01-03T09:15:00Z') };
    expect(fake.total({ account: c.account, eventName: events[0]!.eventName, customer: events[0]!.customer, ...window })).toBe('5');
    expect(fake.duplicateIdentifiers()).toEqual([]);
  });

  it('an archived meter and its successor feeding one Stripe meter reconcile against their sum; a loss is compensated on the one that reported last', async () => {
    clock = new Date('2026-12-10T12:00:00Z');
    // Given a linked meter whose 5 are reported, then archived, and a successor sending to the same Stripe meter 3 more
    const c = await createLinkedMeter(server, fake, sumMeter('gpu'));
    expect((await c.call('POST', '/api/usage/track', { event_name: 'gpu', user_id: 's1', value: 5 })).status).toBe(201);
    await syncToStripe(c.call);
    const stripeEventName = (await c.call('GET', `/api/usage/meters/${c.meterId}`)).json.stripe_meter_event_name as string;
    expect((await c.call('DELETE', `/api/usage/meters/${c.meterId}`)).status).toBe(200);
    const successor = await c.call('POST', '/api/usage/meters', sumMeter('gpu_v2'));
    expect(successor.status, successor.text).toBe(201);
    expect((await c.call('PATCH', `/api/usage/meters/${successor.json.id}`, { stripe_meter_event_name: stripeEventName })).status).toBe(200);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'gpu_v2', user_id: 's1', value: 3 })).status).toBe(201);
    clock = new Date('2026-12-10T12:05:00Z');
    expect(await syncToStripe(c.call)).toMatchObject({ pairs: 2, reported: 1, up_to_date: 1 });
    expect(c.stripeTotal()).toBe('8');

    // When reconciliation runs, then Stripe's 8 is what the two reported together: in sync, nothing over-reported
    expect(await reconcile(c)).toMatchObject({ pairs: 1, in_sync: 1, drifting: 0, over_reported: 0, compensated: 0 });
    const rows = await statusRows(c);
    expect(rows.map((r) => [r.meter_id, r.stripe_quantity, r.drift, r.status]).sort()).toEqual(
      [
        [c.meterId, '5', '0', 'in_sync'],
        [successor.json.id, '3', '0', 'in_sync'],
      ].sort(),
    );

    // When Stripe loses the archived meter's report, then the missing 5 is sent once, on the successor's ledger
    const lost = fake.events.find((e) => e.account === c.account && e.value === '5')!;
    fake.loseEvent({ account: c.account, identifier: lost.identifier });
    const before = meterEventsSent();
    expect(await reconcile(c)).toMatchObject({ pairs: 1, drifting: 1, compensated: 1 });
    expect(meterEventsSent()).toBe(before + 1);
    expect(c.stripeTotal()).toBe('8');
    expect(await reconcile(c)).toMatchObject({ in_sync: 1, compensated: 0 });
    // And later usage is reported on top as before: the compensation moved no total
    expect((await c.call('POST', '/api/usage/track', { event_name: 'gpu_v2', user_id: 's1', value: 2 })).status).toBe(201);
    expect(await syncToStripe(c.call)).toMatchObject({ reported: 1 });
    expect(c.stripeTotal()).toBe('10');
    expect(await reconcile(c)).toMatchObject({ in_sync: 1, compensated: 0, over_reported: 0 });
  });

  it('a customer re-linked to another Stripe customer mid-period: each Stripe customer holds what was sent to it, and nothing is sent twice', async () => {
    clock = new Date('2026-12-11T08:00:00Z');
    const c = await createLinkedMeter(server, fake, sumMeter('seats'));
    expect((await c.call('POST', '/api/usage/track', { event_name: 'seats', user_id: 's1', value: 5 })).status).toBe(201);
    await syncToStripe(c.call);
    // Given s1 now linked to another Stripe customer, and 3 more used
    const stripe = new Stripe(c.account.slice('key:'.length), { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    const other = await stripe.customers.create({ email: 's1-new@example.com' });
    expect((await c.call('PUT', '/api/usage/customers/s1', { stripe_customer_id: other.id })).status).toBe(200);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'seats', user_id: 's1', value: 3 })).status).toBe(201);
    clock = new Date('2026-12-11T08:05:00Z');
    await syncToStripe(c.call);
    const eventName = (await c.call('GET', `/api/usage/meters/${c.meterId}`)).json.stripe_meter_event_name as string;
    expect(fake.total({ account: c.account, eventName, customer: other.id })).toBe('3');

    // When reconciliation runs: both Stripe customers are in sync, the new one is not "missing" the 5 the old one holds
    const before = meterEventsSent();
    expect(await reconcile(c)).toMatchObject({ pairs: 2, in_sync: 2, drifting: 0, compensated: 0, over_reported: 0 });
    expect(meterEventsSent()).toBe(before);
    expect(c.stripeTotal()).toBe('5');
    expect(fake.total({ account: c.account, eventName, customer: other.id })).toBe('3');
    expect(await statusRows(c)).toEqual([expect.objectContaining({ quantity: '8', reported_quantity: '8', stripe_quantity: '8', drift: '0', status: 'in_sync' })]);
  });

  it('a total a double cannot hold (1,000,000,000.000000001) is in sync, not compensated night after night', async () => {
    clock = new Date('2026-12-12T08:00:00Z');
    const c = await createLinkedMeter(server, fake, sumMeter('bytes'));
    expect((await c.call('POST', '/api/usage/track', { event_name: 'bytes', user_id: 's1', value: '1000000000.000000001' })).status).toBe(201);
    await syncToStripe(c.call);
    expect(c.sent()).toEqual(['1000000000', '0.000000001']);
    const before = meterEventsSent();
    // Stripe sums in doubles: its summary says 1000000000
    expect(await reconcile(c)).toMatchObject({ in_sync: 1, drifting: 0, compensated: 0 });
    expect(await reconcile(c)).toMatchObject({ in_sync: 1, drifting: 0, compensated: 0 });
    expect(meterEventsSent()).toBe(before);
    expect(await statusRows(c)).toEqual([expect.objectContaining({ quantity: '1000000000.000000001', drift: '0', status: 'in_sync' })]);
  });
});

describe('usage reported after Stripe finalized the period’s invoice', () => {
  it('is counted apart on the status (in Stripe’s meter, not on the invoice), by the invoice grace the creator set in Stripe', async () => {
    // Given a clock 10 minutes into December and Stripe's default invoice grace (1 h)
    clock = new Date('2026-12-01T00:10:00Z');
    const c = await createLinkedMeter(server, fake, sumMeter('exports'));
    expect((await c.call('GET', '/api/usage/settings/stripe')).json).toMatchObject({ invoice_grace_hours: 1 });
    // When a late November event is reported within the hour, and another three hours into December (inside our 24 h late-event grace)
    expect((await c.call('POST', '/api/usage/track', { event_name: 'exports', user_id: 's1', value: 4, timestamp: '2026-11-30T23:58:00Z' })).status).toBe(201);
    await syncToStripe(c.call);
    clock = new Date('2026-12-01T03:00:00Z');
    expect((await c.call('POST', '/api/usage/track', { event_name: 'exports', user_id: 's1', value: 2, timestamp: '2026-11-30T23:59:00Z' })).status).toBe(201);
    await syncToStripe(c.call);

    // Then Stripe's meter holds 6 for November, and the status says 2 of them came after its invoice was finalized
    expect(c.stripeTotal()).toBe('6');
    const november = async () => (await statusRows(c)).find((r) => r.period_start === '2026-11-01T00:00:00.000Z');
    expect(await november()).toMatchObject({ quantity: '6', reported_quantity: '6', after_invoice_quantity: '2' });

    // When the creator says their Stripe invoices wait 24 h before finalizing, nothing was late
    const set = await c.call('PUT', '/api/usage/settings/stripe', { invoice_grace_hours: 24 });
    expect(set.status, set.text).toBe(200);
    expect(set.json).toMatchObject({ invoice_grace_hours: 24 });
    expect(await november()).toMatchObject({ after_invoice_quantity: '0' });

    // Bad values are refused with the field named, and change nothing
    for (const bad of [73, -1, 1.5, '24']) {
      const refused = await c.call('PUT', '/api/usage/settings/stripe', { invoice_grace_hours: bad });
      expect(refused.status, refused.text).toBe(422);
      expect(refused.json.errors).toEqual([expect.objectContaining({ field: 'invoice_grace_hours' })]);
    }
    expect((await c.call('GET', '/api/usage/settings/stripe')).json).toMatchObject({ invoice_grace_hours: 24 });
  });

  it('counts by when Stripe took the report, not when it was written; and counts a compensation sent after the invoice for a report that was on it', async () => {
    clock = new Date('2026-12-01T00:10:00Z');
    const c = await createLinkedMeter(server, fake, sumMeter('prints'));
    const november = async () => (await statusRows(c)).find((r) => r.period_start === '2026-11-01T00:00:00.000Z');
    // A late November event whose report is written at 00:10 while Stripe is unreachable, and taken at 03:10
    expect((await c.call('POST', '/api/usage/track', { event_name: 'prints', user_id: 's1', value: 4, timestamp: '2026-11-30T23:58:00Z' })).status).toBe(201);
    stripeUnreachable();
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ pending: 1 });
    fake.clearFaults();
    clock = new Date('2026-12-01T03:10:00Z');
    await syncToStripe(c.call);
    expect(await november()).toMatchObject({ reported_quantity: '4', after_invoice_quantity: '4' });
    // Stripe then loses it and reconciliation sends it again (also after the invoice): still 4 missing from the invoice, not 8
    fake.loseEvent({ account: c.account, identifier: fake.events.find((e) => e.account === c.account)!.identifier });
    expect(await reconcile(c)).toMatchObject({ compensated: 1 });
    expect(await november()).toMatchObject({ after_invoice_quantity: '4' });

    // A report taken in time, lost, and compensated after the invoice: missing from the invoice
    clock = new Date('2026-12-01T00:10:00Z');
    const d = await createLinkedMeter(server, fake, sumMeter('scans2'));
    const novemberOf = async () => (await statusRows(d)).find((r) => r.period_start === '2026-11-01T00:00:00.000Z');
    expect((await d.call('POST', '/api/usage/track', { event_name: 'scans2', user_id: 's1', value: 6, timestamp: '2026-11-30T23:58:00Z' })).status).toBe(201);
    await syncToStripe(d.call);
    expect(await novemberOf()).toMatchObject({ after_invoice_quantity: '0' });
    clock = new Date('2026-12-01T05:00:00Z');
    fake.loseEvent({ account: d.account, identifier: fake.events.find((e) => e.account === d.account)!.identifier });
    expect(await reconcile(d)).toMatchObject({ compensated: 1 });
    expect(await novemberOf()).toMatchObject({ after_invoice_quantity: '6' });
  });

  it('a report Stripe took in time, whose answer was lost, is not counted after the invoice when a later resend is told it already exists', async () => {
    clock = new Date('2026-12-01T00:10:00Z');
    const c = await createLinkedMeter(server, fake, sumMeter('copies'));
    const november = async () => (await statusRows(c)).find((r) => r.period_start === '2026-11-01T00:00:00.000Z');
    expect((await c.call('POST', '/api/usage/track', { event_name: 'copies', user_id: 's1', value: 4, timestamp: '2026-11-30T23:58:00Z' })).status).toBe(201);
    // At 00:10 Stripe takes the report but its answer is a 500, and the retries are rate limited: the report stays pending
    fake.inject({ kind: '500-after', times: 1, pathPrefix: '/v1/billing/meter_events' });
    stripeUnreachable();
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ pending: 1 });
    expect(c.stripeTotal()).toBe('4');
    fake.clearFaults();
    // At 03:10 (after the invoice) the resend is told the identifier already exists: it was on the invoice
    clock = new Date('2026-12-01T03:10:00Z');
    await syncToStripe(c.call);
    expect(c.stripeTotal()).toBe('4');
    expect(await november()).toMatchObject({ reported_quantity: '4', after_invoice_quantity: '0' });
  });
});

describe('reports with no known outcome (unanswered past Stripe’s 24 h identifier window)', () => {
  it('two of them in one Stripe target are told apart by the quantities in Stripe’s total: the applied one stands, the other is sent again — nothing twice, nothing lost', async () => {
    clock = new Date('2026-12-10T12:00:00Z');
    // Given s1 and s2 billed to the same Stripe customer, and Stripe unreachable
    const c = await createLinkedMeter(server, fake, sumMeter('calls'));
    const stripeCustomer = (await c.call('PUT', '/api/usage/customers/s1', {})).json.stripe_customer_id as string;
    expect(stripeCustomer).toMatch(/^cus_/);
    expect((await c.call('PUT', '/api/usage/customers/s2', { plan_name: 'ov', stripe_customer_id: stripeCustomer })).status).toBe(201);
    stripeUnreachable();
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 's1', value: 30 })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ pending: 1 });
    clock = new Date(clock.getTime() + 60_000);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 's2', value: 100 })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ pending: 2 });
    fake.clearFaults();
    // …s2's report reached Stripe but its answer did not (applied here by hand, under its identifier)
    const s2row = (await ledger(c)).find((r) => r.user_id === 's2')!;
    const stripe = new Stripe(c.account.slice('key:'.length), { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    await stripe.billing.meterEvents.create({
      event_name: s2row.stripe_event_name,
      identifier: s2row.identifier,
      timestamp: Math.floor(Date.parse(s2row.event_timestamp) / 1000),
      payload: { stripe_customer_id: stripeCustomer, value: '100' },
    });
    // …and a day later both rows are past the identifier window
    clock = new Date(clock.getTime() + 24 * 3600_000);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ unknown: 2 });

    // When reconciliation runs, then s2's is found applied and s1's not
    expect(await reconcile(c)).toMatchObject({ resolved: 2 });
    expect(Object.fromEntries((await ledger(c)).map((r) => [r.user_id, r.status]))).toEqual({ s1: 'failed', s2: 'succeeded' });
    // And the next report sends s1's 30 again: Stripe holds 130, what was used
    expect(await syncToStripe(c.call)).toMatchObject({ reported: 1, up_to_date: 1 });
    expect(c.stripeTotal()).toBe('130');
    expect(await reconcile(c)).toMatchObject({ in_sync: 1, over_reported: 0, compensated: 0 });
  });

  it('one stamped in the partial first minute of a period (as reports were before) is settled by Stripe’s total for that minute, and the period’s reports go on', async () => {
    clock = new Date('2026-12-03T09:15:40Z');
    const c = await createLinkedMeter(server, fake, sumMeter('scans'));
    expect((await c.call('PUT', '/api/usage/customers/s1', { billing_anchor: '2026-10-03T09:15:30Z' })).status).toBe(200);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'scans', user_id: 's1', value: 5 })).status).toBe(201);
    await syncToStripe(c.call);
    // Given the row as the code before stamped it (now, 09:15:40, outside the whole minutes), never applied, left unknown
    const [row] = await ledger(c);
    fake.loseEvent({ account: c.account, identifier: row!.identifier });
    await server.rt.ownerDb.execute(sql`update usage_billing_sync set event_timestamp = '2026-12-03T09:15:40Z', status = 'unknown' where sync_id = ${row!.sync_id}`);
    clock = new Date(clock.getTime() + 24 * 3600_000);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'scans', user_id: 's1', value: 7 })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ unknown: 1, reported: 0 });

    // When reconciliation runs, then Stripe's 09:15 minute says it was not applied
    expect(await reconcile(c)).toMatchObject({ resolved: 1 });
    expect((await ledger(c)).map((r) => r.status)).toEqual(['failed']);
    // And the next report sends all 12, inside the period's whole minutes
    expect(await syncToStripe(c.call)).toMatchObject({ reported: 1 });
    expect(c.stripeTotal()).toBe('12');
    expect(await reconcile(c)).toMatchObject({ in_sync: 1, compensated: 0 });
  });
});

describe('one target’s read failing', () => {
  it('does not stop the others: a re-linked customer with an event lost under each Stripe customer gets one compensated now, the other next run', async () => {
    clock = new Date('2026-12-11T08:00:00Z');
    const c = await createLinkedMeter(server, fake, sumMeter('slots'));
    expect((await c.call('POST', '/api/usage/track', { event_name: 'slots', user_id: 's1', value: 5 })).status).toBe(201);
    await syncToStripe(c.call);
    const stripe = new Stripe(c.account.slice('key:'.length), { host: fake.host, port: fake.port, protocol: 'http', maxNetworkRetries: 0 });
    const other = await stripe.customers.create({ email: 's1-other@example.com' });
    expect((await c.call('PUT', '/api/usage/customers/s1', { stripe_customer_id: other.id })).status).toBe(200);
    expect((await c.call('POST', '/api/usage/track', { event_name: 'slots', user_id: 's1', value: 3 })).status).toBe(201);
    clock = new Date(clock.getTime() + 5 * 60_000);
    await syncToStripe(c.call);
    // Given Stripe lost both reports, and the first summary asked for fails
    for (const e of fake.events.filter((x) => x.account === c.account)) fake.loseEvent({ account: c.account, identifier: e.identifier });
    fake.inject({ kind: '500-before', times: 1, pathPrefix: '/v1/billing/meters/' });
    // When reconciliation runs: one target errors, the other is compensated, and the run answers
    expect(await reconcile(c)).toMatchObject({ pairs: 2, errors: 1, compensated: 1 });
    let status = await statusRows(c);
    expect(status).toEqual([expect.objectContaining({ stripe_quantity: null, drift: null })]);
    expect(status[0]!.last_error).toBeTruthy();
    // Then the next run compensates the other: each Stripe customer holds what was sent to it
    expect(await reconcile(c)).toMatchObject({ pairs: 2, errors: 0, compensated: 1 });
    const eventName = (await c.call('GET', `/api/usage/meters/${c.meterId}`)).json.stripe_meter_event_name as string;
    expect(c.stripeTotal()).toBe('5');
    expect(fake.total({ account: c.account, eventName, customer: other.id })).toBe('3');
    expect(await reconcile(c)).toMatchObject({ in_sync: 2, compensated: 0 });
    status = await statusRows(c);
    expect(status).toEqual([expect.objectContaining({ reported_quantity: '8', stripe_quantity: '8', drift: '0', status: 'in_sync' })]);
  });
});
