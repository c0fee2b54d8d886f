import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createCreatorWithKey } from './harness/fixtures.js';
import type { FakeStripe } from './fakes/stripe-server.js';
import { useTestDatabase } from './harness/db.js';
import type { TestServer } from './harness/server.js';
import { createLinkedMeter, LINKED_CALLS_METER, startServerWithFakeStripe } from './harness/stripe-linked.js';

/** Stripe reporting (ADR 0013): usage owed for a period whose report window passed, and a Connect creator on a server without its platform key. */
const { url } = await useTestDatabase();
let fake: FakeStripe;
let server: TestServer;
let clock = new Date('2026-11-30T22:00:00Z');

beforeAll(async () => ({ server, fake } = await startServerWithFakeStripe(url, { now: () => clock })));
afterAll(async () => {
  await server?.close();
  await fake?.close();
});

const NOVEMBER = { start: new Date('2026-11-01T00:00:00Z'), end: new Date('2026-12-01T00:00:00Z') };

describe('Stripe reporting: owed periods and a missing platform key', () => {
  it('usage of a closed period not yet reported when the final-report window passed is still reported by POST /billing/sync (Stripe takes it for 35 days)', async () => {
    clock = new Date('2026-11-30T22:00:00Z');
    const c = await createLinkedMeter(server, fake, LINKED_CALLS_METER);
    // Given: 5 calls reported on Nov 30, 3 more in the period's last hour
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 's1', value: 5 })).status).toBe(201);
    expect((await c.call('POST', '/api/usage/billing/sync')).json).toMatchObject({ reported: 1, failed: 0 });
    clock = new Date('2026-11-30T23:30:00Z');
    expect((await c.call('POST', '/api/usage/track', { event_name: 'calls', user_id: 's1', value: 3 })).status).toBe(201);

    // When: no report runs for 26 h (workers down, or every report refused — a revoked key, a
    // Stripe customer deleted by mistake — until the creator fixes it), then the creator syncs
    clock = new Date('2026-12-02T02:00:00Z');
    const synced = await c.call('POST', '/api/usage/billing/sync');
    expect(synced.status, synced.text).toBe(200);

    // Then: November's invoice usage in Stripe is what the customer used in November
    const previous = await c.call('GET', '/api/usage/customers/s1/usage?period=previous');
    expect(previous.json.meters[0].used).toBe('8');
    const eventName = fake.events.find((e) => e.account === c.account)!.eventName;
    const stripeCustomer = fake.events.find((e) => e.account === c.account)!.customer;
    expect(fake.total({ account: c.account, eventName, customer: stripeCustomer, start: NOVEMBER.start, end: NOVEMBER.end })).toBe('8');
  });

  it('a Connect creator on a server whose platform key is not set gets problem JSON from sync and stripe-meter, not a 500', async () => {
    clock = new Date();
    const { apiKey, creator } = await createCreatorWithKey(server.rt);
    const call = api(server.url, apiKey);
    // Given: a creator connected to a Stripe account (as Connect OAuth leaves it), a linked meter and customer, usage
    expect((await call('GET', '/api/usage/settings/stripe')).status).toBe(200);
    await server.rt.ownerDb.execute(sql`update creator_settings set stripe_connect_account_id = 'acct_1NoPlatformKey' where creator_id = ${creator.id}`);
    const meter = await call('POST', '/api/usage/meters', { event_name: 'calls', display_name: 'Calls', unit_name: 'calls', aggregation_type: 'sum' });
    expect(meter.status, meter.text).toBe(201);
    expect((await call('PATCH', `/api/usage/meters/${meter.json.id}`, { stripe_meter_event_name: 'calls_np' })).status).toBe(200);
    expect((await call('PUT', '/api/usage/customers/u1', { stripe_customer_id: 'cus_NoPlatformKey' })).status).toBe(201);
    expect((await call('POST', '/api/usage/track', { event_name: 'calls', user_id: 'u1', value: 2 })).status).toBe(201);
    // (this server has no STRIPE_SECRET_KEY: the operator has not set it, or removed it)
    const synced = await call('POST', '/api/usage/billing/sync');
    const linked = await call('POST', `/api/usage/meters/${meter.json.id}/stripe-meter`);
    const reconciled = await call('POST', '/api/usage/billing/reconcile');
    // Then: problem JSON saying what is missing, as reconciliation records it — never a 500
    expect({ sync: synced.status, link: linked.status }).toEqual({ sync: expect.toBeOneOf([409, 503]), link: expect.toBeOneOf([409, 503]) });
    for (const response of [synced, linked]) expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(reconciled.status, reconciled.text).toBe(200);
  });
});

/**
 * A report run over many Stripe-linked customers, all up to date (the usual case every
 * interval): BILLING_BENCH=1 prints its time. Rows are written directly: 5,000 customers
 * with a counter this period and last, each already reported in full.
 */
describe.runIf(process.env.BILLING_BENCH === '1')('benchmark', () => {
  it('a report over 5,000 up-to-date customers', { timeout: 600_000 }, async () => {
    clock = new Date('2026-11-20T12:00:00Z');
    const c = await createLinkedMeter(server, fake, { event_name: 'bench_calls', display_name: 'Calls', aggregation_type: 'count', unit_name: 'calls' });
    const [{ creator_id: creatorId }] = (await server.rt.ownerDb.execute<{ creator_id: string }>(sql`select creator_id from usage_meters where meter_id = ${c.meterId}`)) as unknown as [{ creator_id: string }];
    const n = 5000;
    await server.rt.ownerDb.execute(sql`
      insert into customers (creator_id, customer_id, user_id, plan_name, stripe_customer_id, created_at, updated_at)
      select ${creatorId}::uuid, gen_random_uuid(), 'bench_' || i, 'ov', 'cus_bench_' || i, now(), now() from generate_series(1, ${n}) i`);
    for (const [start, end] of [['2026-11-01', '2026-12-01'], ['2026-10-01', '2026-11-01']] as const) {
      await server.rt.ownerDb.execute(sql`
        insert into usage_aggregates (creator_id, meter_id, customer_id, "window", window_start, window_end, value, event_count, updated_at)
        select ${creatorId}::uuid, ${c.meterId}::uuid, customer_id, 'period', ${start}::timestamptz, ${end}::timestamptz, 7, 7, now()
        from customers where creator_id = ${creatorId}::uuid and user_id like 'bench_%'`);
      await server.rt.ownerDb.execute(sql`
        insert into usage_billing_sync (creator_id, sync_id, meter_id, customer_id, period_start, period_end, sequence, quantity_delta, cumulative_total,
          identifier, event_timestamp, stripe_event_name, stripe_customer_id, status, created_at)
        select ${creatorId}::uuid, gen_random_uuid(), ${c.meterId}::uuid, customer_id, ${start}::timestamptz, ${end}::timestamptz, 1, 7, 7,
          'bench_' || ${start} || '_' || user_id, ${start}::timestamptz, 'bench_calls', stripe_customer_id, 'succeeded', now()
        from customers where creator_id = ${creatorId}::uuid and user_id like 'bench_%'`);
    }
    await server.rt.ownerDb.execute(sql`analyze`);
    const times: number[] = [];
    for (let run = 0; run < 5; run++) {
      const started = performance.now();
      const synced = await c.call('POST', '/api/usage/billing/sync');
      times.push(performance.now() - started);
      expect(synced.status, synced.text).toBe(200);
      expect(synced.json).toMatchObject({ up_to_date: n, reported: 0, failed: 0 });
    }
    console.log(`report over ${n} up-to-date customers: ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
  });
});
